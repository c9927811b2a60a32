"""Forms of the trust app's pages: they parse what a trustee typed (amounts through django-money's
``MoneyField``) and nothing else; the services check every rule and their refusals come back on
the field they name."""

from __future__ import annotations

import re
import uuid
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from djmoney.forms.fields import MoneyField

from trust.models import OrderLine, Receipt, RestitutionOrder, VictimKind
from trust.roles import APPOINTED, LABELS

AMOUNT = {"max_digits": 18, "decimal_places": 3, "min_value": 0}


def money_field(currencies: list[str], *, required: bool = True, label: str = "") -> MoneyField:
    """An amount and its currency, each input with its own accessible name."""
    field = MoneyField(
        currency_choices=[(c, c) for c in currencies],
        default_currency=currencies[0] if currencies else None,
        required=required,
        label=label or None,
        **AMOUNT,
    )
    name = label or "Amount"
    amount, currency = field.widget.widgets
    amount.attrs.update({"aria-label": name, "inputmode": "decimal"})
    currency.attrs.update({"aria-label": f"{name}: currency"})
    return field


class ReceiptForm(forms.Form):
    """Money that reached the trust's bank, as the bank's statement shows it."""

    received_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.ChoiceField(choices=Receipt.Source.choices)
    payer = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        help_text="The defendant who paid: the receipt is shared among what they owe.",
    )
    bank_reference = forms.CharField(max_length=100, required=False)
    memo = forms.CharField(max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, currencies: list[str], payers: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = money_field(currencies)
        self.fields["payer"].choices = [("", "No payer: leave it unallocated")] + [
            (d.pk, d.name) for d in payers
        ]
        self.order_fields(["received_on", "amount", "source", "payer", "bank_reference", "memo"])
        if not self.is_bound:
            self.initial.setdefault("received_on", timezone.localdate())
            self.initial.setdefault("idempotency_key", f"page-{uuid.uuid4().hex}")


class AllocateForm(forms.Form):
    payer = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        help_text="Who paid, if the receipt came without a payer.",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, payers: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["payer"].choices = [("", "The receipt's payer")] + [
            (d.pk, d.name) for d in payers
        ]
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", f"page-{uuid.uuid4().hex}")


class ReverseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: a bounced cheque, a receipt recorded twice.",
    )


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, UTF-8 (docs/imports.md has the columns).")


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's refusal on the form: on the field it names, else on the form; a file
    refused for several rows shows each of them."""
    if rows := getattr(error, "row_errors", None):
        for row_error in rows:
            form.add_error(None, str(row_error))
        return
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            target = field if field in form.fields else None
            for item in errors:
                form.add_error(target, item.messages[0] if hasattr(item, "messages") else item)
    else:
        for message in error.messages:
            form.add_error(None, message)


class BeneficiaryForm(forms.Form):
    """A beneficiary as court papers name them: the pseudonym, never a name."""

    pseudonym = forms.CharField(max_length=60, help_text='As in the court filings: "MV-3".')
    kind = forms.ChoiceField(choices=VictimKind.choices)
    date_of_birth = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Individuals only; used for the majority date and never shown again.",
    )
    country = forms.CharField(max_length=2, required=False, help_text="ISO code, e.g. PH.")
    care_partner = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, partners: list[Any], editing: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["care_partner"].choices = [("", "None yet")] + [
            (p.pk, p.name) for p in partners
        ]
        if editing:  # the pseudonym and the kind stay as recorded
            del self.fields["pseudonym"]
            del self.fields["kind"]
            self.fields["date_of_birth"].help_text = "Leave empty to keep the one recorded."


class IdentityForm(forms.Form):
    legal_name = forms.CharField(max_length=200, required=False)
    guardian_contact = forms.CharField(max_length=300, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("legal_name", "").strip() or data.get("guardian_contact", "").strip()):
            # An empty form would replace what is recorded with nothing.
            raise ValidationError("Give a legal name or a guardian's contact (or both).")
        return data


class RevealForm(forms.Form):
    purpose = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why you need to see it: recorded, with your name and the time.",
    )


class AppointmentForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Their sign-in name.")
    role = forms.ChoiceField(choices=[(r, LABELS[r]) for r in APPOINTED])
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty while it lasts.",
    )
    reference = forms.CharField(
        max_length=200, required=False, help_text="The order or resolution that appoints."
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("starts_on", timezone.localdate())


class EndAppointmentForm(forms.Form):
    ends_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Last day")
    reason = forms.CharField(max_length=300, required=False)


class OrderImportForm(forms.Form):
    """An order's judgment as the court gave it; its lines come from the CSV file."""

    file = forms.FileField(help_text="CSV, UTF-8: beneficiary, amount, currency, defendants.")
    court = forms.CharField(max_length=200)
    case_number = forms.CharField(max_length=100)
    judgment_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    document_reference = forms.CharField(max_length=200, required=False)
    reason = forms.CharField(
        max_length=300, required=False, help_text="For an amended judgment: what it changes."
    )

    def __init__(self, *args: Any, currencies: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["total"] = money_field(currencies, label="Total the judgment states")
        self.order_fields(
            ["file", "court", "case_number", "judgment_date", "total", "document_reference"]
        )


def _zones() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones()) if "/" in name or name == "UTC"]


class TrustForm(forms.Form):
    caption = forms.CharField(max_length=300, help_text="As on the judgment: United States v. …")
    court = forms.CharField(max_length=200)
    case_number = forms.CharField(max_length=100)
    base_currency = forms.CharField(max_length=3, initial="USD")
    time_zone = forms.ChoiceField(
        choices=_zones,
        initial=settings.TIME_ZONE,
        required=False,
        help_text="The trustees' zone: pages show the trust's times in it, and it decides "
        "which day an entry made late in the evening is booked on.",
    )


class TrustTermsForm(forms.Form):
    """A trust's terms a trustee may change (the base currency is fixed once accounts exist)."""

    caption = forms.CharField(max_length=300, help_text="As on the judgment: United States v. …")
    court = forms.CharField(max_length=200)
    case_number = forms.CharField(max_length=100)
    majority_age = forms.IntegerField(
        min_value=14,
        max_value=25,
        label="Age of majority",
        help_text="Under the trust's terms, the age at which a beneficiary receives funds directly.",
    )
    time_zone = forms.ChoiceField(
        choices=_zones, help_text=TrustForm.base_fields["time_zone"].help_text
    )
    retention_years = forms.IntegerField(
        min_value=1,
        max_value=100,
        required=False,
        label="Retention period (years)",
        help_text="How long after the trust closes the children's identifying data is kept; "
        "then two trustees may erase it. Left empty, it stays as it is.",
    )


class TrustCloseForm(forms.Form):
    """Closing the trust for good: the day, and a box that says the trustee knows it is final."""

    closed_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Closed on",
        help_text="The day of the final account; no entry can be booked on it or after it.",
    )
    final = forms.BooleanField(
        label="I understand that closing is final: the trust never reopens.",
        error_messages={"required": "Tick the box: closing a trust cannot be undone."},
    )


class ErasureProposeForm(forms.Form):
    """Proposing to erase one child's identifying data (another trustee confirms)."""

    beneficiary = forms.TypedChoiceField(coerce=int, label="Child")
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why now, without naming anyone: e.g. the retention period under the trust's "
        "terms has passed.",
    )

    def __init__(self, *args: Any, children: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["beneficiary"].choices = [("", "Choose a child")] + [
            (child.pk, child.pseudonym) for child in children
        ]


class LockDateForm(forms.Form):
    lock_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Closed up to",
        help_text="Entries dated on or before this day are refused from now on; it never moves back.",
    )


class DefendantForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="As in the judgment (public record).")
    reference = forms.CharField(max_length=100, required=False)


class ImplicatedForm(forms.Form):
    reference = forms.CharField(
        max_length=100, help_text='How court papers refer to them: "Facilitator 1".'
    )
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Kept encrypted; used only to refuse paying them. Never shown.",
    )
    note = forms.CharField(max_length=300, required=False)


class OrderForm(forms.Form):
    """An order's judgment as the court gave it; its lines are an ``OrderLineFormSet``. For an
    amended judgment the court and case stay those of the order it amends, and a reason is asked."""

    court = forms.CharField(max_length=200)
    case_number = forms.CharField(max_length=100)
    judgment_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    document_reference = forms.CharField(
        max_length=200, required=False, help_text="Docket entry of the judgment, e.g. ECF No. 87."
    )
    payment_terms = forms.ChoiceField(choices=RestitutionOrder.PaymentTerms.choices)
    schedule_note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The schedule as the judgment states it, e.g. $500 monthly.",
    )
    first_payment_due = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the amended judgment changes.",
    )

    def __init__(self, *args: Any, currencies: list[str], amending: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["total"] = money_field(currencies, label="Total the judgment states")
        if amending:  # court and case stay those of the order amended
            del self.fields["court"]
            del self.fields["case_number"]
        else:
            del self.fields["reason"]
        self.order_fields(
            ["reason", "court", "case_number", "judgment_date", "total", "document_reference"]
        )


class OrderLineForm(forms.Form):
    """One line of an order: a beneficiary (by pseudonym), an amount, the defendant(s) who owe it
    and, optionally, the liability (else it follows from the number of defendants). A row left
    empty is no line; a row half filled says what it lacks."""

    beneficiary = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={"invalid_choice": "Choose one of this trust's beneficiaries."},
    )
    defendants = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "choice-box"}),
        error_messages={"invalid_choice": "Choose the trust's defendants who owe this line."},
    )
    liability = forms.ChoiceField(
        required=False,
        choices=[("", "From the defendants"), *OrderLine.Liability.choices],
    )

    def __init__(
        self,
        *args: Any,
        currencies: list[str],
        beneficiaries: list[Any],
        defendants: list[Any],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        index = (self.prefix or "").rpartition("-")[2]
        self.line = int(index) + 1 if index.isdigit() else None
        where = f"Line {self.line}" if self.line else "Line"
        self.fields["amount"] = money_field(currencies, required=False, label=f"{where}: amount")
        self.fields["beneficiary"].choices = [("", "—")] + [
            (b.pk, b.pseudonym) for b in beneficiaries
        ]
        self.fields["defendants"].choices = [(d.pk, d.name) for d in defendants]
        self.order_fields(["beneficiary", "amount", "defendants", "liability"])
        for name, text in (("beneficiary", "beneficiary"), ("liability", "liability")):
            self.fields[name].label = f"{where}: {text}"
            self.fields[name].widget.attrs["aria-label"] = f"{where}: {text}"
        self.fields["defendants"].label = f"{where}: owed by"

    def is_empty(self) -> bool:
        """Nothing typed in the row (the currency alone does not count)."""
        data = getattr(self, "cleaned_data", {})
        return not (data.get("beneficiary") or data.get("amount") or data.get("defendants"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.is_empty():
            for name, message in (
                ("beneficiary", "Choose the beneficiary."),
                ("amount", "Give the amount."),
                ("defendants", "Tick the defendant(s) who owe it."),
            ):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, message)
        return data


class BaseOrderLineFormSet(forms.BaseFormSet):
    def filled(self) -> list[OrderLineForm]:
        """The rows typed in, in page order: the order's lines (after ``is_valid()``)."""
        return [form for form in self.forms if not form.is_empty()]


OrderLineFormSet = forms.formset_factory(
    OrderLineForm, formset=BaseOrderLineFormSet, extra=5, max_num=500, absolute_max=500
)


def more_lines(data: Any, prefix: str = "lines", more: int = 5) -> Any:
    """A copy of a posted order form with ``more`` empty rows added (what was typed is kept)."""
    data = data.copy()
    key = f"{prefix}-TOTAL_FORMS"
    rows = int(data[key]) if str(data.get(key, "")).isdigit() else 0
    data[key] = str(min(rows + more, OrderLineFormSet.max_num))
    return data


_LINE = re.compile(r"^line (\d+)\b:?\s*(.*)$", re.DOTALL)


def add_order_errors(form: forms.Form, lines: list[OrderLineForm], error: ValidationError) -> None:
    """Put the order service's refusal on the page: one about a line on that line's row (the
    service counts only the rows filled in, ``lines``), on the column its wording names; the
    rest as ``add_service_errors`` does."""
    if not hasattr(error, "error_dict") or "lines" not in error.error_dict:
        add_service_errors(form, error)
        return
    for item in error.error_dict["lines"]:
        for message in item.messages:
            match = _LINE.match(message)
            if match is None or not 0 < int(match.group(1)) <= len(lines):
                form.add_error(None, message)
                continue
            text = match.group(2)
            lines[int(match.group(1)) - 1].add_error(_line_column(text), text)
    rest = {k: v for k, v in error.error_dict.items() if k != "lines"}
    if rest:
        add_service_errors(form, ValidationError(rest))


def _line_column(text: str) -> str | None:
    """The column of a line refusal (the service's line errors name no field; the wording does,
    as in ``trust.services.orders._check_lines``)."""
    text = text.lower()
    for words, column in (
        (("liability",), "liability"),
        (("defendant", "repeats line"), "defendants"),
        (("beneficiary",), "beneficiary"),
        (("amount", "decimal", "currenc", "zero"), "amount"),
    ):
        if any(word in text for word in words):
            return column
    return None


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it: “NGO case system”.")
    scope = forms.ChoiceField(
        choices=[("read", "Read only"), ("write", "Read and write")],
        initial="read",
        help_text="A read-only token changes nothing, whatever you may do.",
    )
    days = forms.IntegerField(
        min_value=1, max_value=365, initial=90, label="Lasts (days)", help_text="1 to 365."
    )


_DAY_ERROR = "Write the date as year-month-day, for example 2026-01-31."


class ChildViewFilterForm(forms.Form):
    """The filters of the log of who saw a child: a person (their sign-in name) and a range of
    days (the trust's days, both ends included)."""

    person = forms.CharField(max_length=150, required=False, label="Person")
    since = forms.DateField(
        required=False,
        label="From",
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _DAY_ERROR},
    )
    until = forms.DateField(
        required=False,
        label="To",
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _DAY_ERROR},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError(
                f"The range ends ({until:%Y-%m-%d}) before it starts ({since:%Y-%m-%d}).",
                code="bad_range",
            )
        data["person"] = (data.get("person") or "").strip()
        return data
