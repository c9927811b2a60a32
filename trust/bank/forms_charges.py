"""Forms of the interest and fees pages: they parse what a trustee typed (amounts through
django-money's ``MoneyField``, as ``trust.forms`` does); ``trust.bank.services.charges`` checks
every rule and its refusals come back on the field they name."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django import forms
from django.utils import timezone

from trust.bank.models import SharedCharge
from trust.forms import money_field
from trust.models import Account

_FEE_KINDS = [
    (SharedCharge.Kind.TRUSTEE_FEE, SharedCharge.Kind.TRUSTEE_FEE.label),
    (SharedCharge.Kind.EXPENSE, SharedCharge.Kind.EXPENSE.label),
    (SharedCharge.Kind.BANK_FEE, SharedCharge.Kind.BANK_FEE.label),
]


class _ChargeForm(forms.Form):
    """What both forms share: a bank account choice, a hidden key, and the digest of what was
    previewed (so what is recorded is what the trustee saw)."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput)
    previewed = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, banks: list[Account], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.banks = {b.pk: b for b in banks}
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", f"page-{uuid.uuid4().hex}")

    def bank(self, pk: Any) -> Account | None:
        return self.banks.get(pk)

    def digest(self) -> str:
        """A fingerprint of the cleaned details (not the key or the digest itself)."""
        data = {
            k: v for k, v in self.cleaned_data.items() if k not in ("idempotency_key", "previewed")
        }
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


class InterestForm(_ChargeForm):
    """Interest the bank credited, as its statement shows it, and the period it was earned in."""

    bank_account = forms.TypedChoiceField(coerce=int, label="Bank account")
    period_start = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), label="Period from"
    )
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Period to")
    effective_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Credited on",
        help_text="The day the bank credited the interest.",
    )
    description = forms.CharField(max_length=300, required=False)

    def __init__(self, *args: Any, banks: list[Account], **kwargs: Any):
        super().__init__(*args, banks=banks, **kwargs)
        self.fields["bank_account"].choices = [(b.pk, f"{b.code} ({b.currency})") for b in banks]
        self.fields["amount"] = money_field(sorted({b.currency for b in banks}) or ["USD"])
        self.order_fields(
            ["bank_account", "amount", "period_start", "period_end", "effective_date"]
        )
        if not self.is_bound:
            self.initial.setdefault("effective_date", timezone.localdate())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", "The period ends before it starts.")
        bank, amount = self.bank(data.get("bank_account")), data.get("amount")
        if bank is not None and amount is not None and amount.currency.code != bank.currency:
            self.add_error("amount", f"{bank.code} holds {bank.currency}.")
        return data


class FeeForm(_ChargeForm):
    """A fee or expense charged to the trust: the court's order, who bears it, paid now or later."""

    kind = forms.ChoiceField(choices=_FEE_KINDS)
    effective_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Date")
    order_reference = forms.CharField(
        max_length=200,
        required=False,
        help_text="The court order that approved it (required for a trustee's fee or an expense).",
    )
    description = forms.CharField(max_length=300, required=False)
    pay_from = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Paid")
    rule = forms.ChoiceField(required=False, label="Shared")

    def __init__(self, *args: Any, banks: list[Account], default_rule: str, **kwargs: Any):
        super().__init__(*args, banks=banks, **kwargs)
        self.fields["amount"] = money_field(sorted({b.currency for b in banks}) or ["USD"])
        self.fields["pay_from"].choices = [("", "Later: book it as payable")] + [
            (b.pk, f"Now, from {b.code} ({b.currency})") for b in banks
        ]
        labels = dict(SharedCharge.Rule.choices)
        self.fields["rule"].choices = [
            ("", f"The trust's rule: {labels.get(default_rule, default_rule).lower()}"),
            (SharedCharge.Rule.PRO_RATA, labels[SharedCharge.Rule.PRO_RATA]),
            (SharedCharge.Rule.EQUAL, labels[SharedCharge.Rule.EQUAL]),
            (SharedCharge.Rule.ADMINISTRATION, labels[SharedCharge.Rule.ADMINISTRATION]),
        ]
        self.order_fields(
            ["kind", "amount", "effective_date", "order_reference", "description", "pay_from"]
        )
        if not self.is_bound:
            self.initial.setdefault("effective_date", timezone.localdate())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        ordered = data.get("kind") in (SharedCharge.Kind.TRUSTEE_FEE, SharedCharge.Kind.EXPENSE)
        if ordered and not (data.get("order_reference") or "").strip():
            self.add_error(
                "order_reference", "Give the reference of the court order that approved it."
            )
        bank, amount = self.bank(data.get("pay_from")), data.get("amount")
        if bank is not None and amount is not None and amount.currency.code != bank.currency:
            self.add_error("pay_from", f"{bank.code} holds {bank.currency}.")
        return data
