"""Forms of the trust app's pages: they parse what a trustee typed (amounts through django-money's
``MoneyField``) and nothing else; the services check every rule and their refusals come back on
the field they name."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from djmoney.forms.fields import MoneyField

from trust.models import Receipt, VictimKind
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


class TrustForm(forms.Form):
    caption = forms.CharField(max_length=300, help_text="As on the judgment: United States v. …")
    court = forms.CharField(max_length=200)
    case_number = forms.CharField(max_length=100)
    base_currency = forms.CharField(max_length=3, initial="USD")


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
