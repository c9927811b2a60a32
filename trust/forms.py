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

from trust.models import Receipt

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
    """Put a service's refusal on the form: on the field it names, else on the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            target = field if field in form.fields else None
            for item in errors:
                form.add_error(target, item.messages[0] if hasattr(item, "messages") else item)
    else:
        for message in error.messages:
            form.add_error(None, message)
