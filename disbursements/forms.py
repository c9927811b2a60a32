"""Forms of the disbursement pages: they parse what a person typed (amounts through django-money's
``MoneyField``, a decimal and a currency) and nothing else. Every rule (currencies an account
holds, decimals per currency, funds available, budgets, who may act) is the services' to check,
so a refusal comes back as the service's own message on the field it names."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils import timezone

from disbursements.models import CarePartner, Category, DisbursementPolicy, RequestDocument
from trust.forms import add_service_errors, money_field

__all__ = [
    "AcknowledgeForm",
    "ApproveForm",
    "BudgetForm",
    "CaseworkerForm",
    "DocumentForm",
    "FeeBearerForm",
    "PartnerForm",
    "PaymentForm",
    "PayoutForm",
    "ReasonForm",
    "RequestForm",
    "ThresholdForm",
    "VetForm",
    "add_service_errors",
]


class RequestForm(forms.Form):
    """A caseworker's request for one of the children in their partner's care."""

    beneficiary = forms.TypedChoiceField(coerce=int, label="For")
    category = forms.ChoiceField(choices=Category.choices)
    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the money is for, as the invoice or quote says.",
    )
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Needed for "Other".',
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, beneficiaries: list[Any], currencies: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["beneficiary"].choices = [(b.pk, b.pseudonym) for b in beneficiaries]
        self.fields["amount"] = money_field(currencies)
        self.order_fields(["beneficiary", "category", "amount", "purpose", "justification"])
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class ApproveForm(forms.Form):
    override_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Budget override reason",
        help_text="Only if the request takes its category over the care plan's budget.",
    )

    def __init__(self, *args: Any, sub_ledger_currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["reserve"] = money_field(
            [sub_ledger_currency], required=False, label="Hold on the sub-ledger"
        )
        self.order_fields(["reserve", "override_reason"])


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(choices=RequestDocument.Kind.choices)
    file = forms.FileField(help_text="PDF, JPEG or PNG.")
    title = forms.CharField(required=False, max_length=120)


class PaymentForm(forms.Form):
    """What the bank's advice says about the transfer."""

    value_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(max_length=100, help_text="The bank's transfer reference.")

    def __init__(self, *args: Any, trust_currency: str, payout_currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["sent"] = money_field([trust_currency], label="Sent")
        self.fields["payout"] = money_field(
            [payout_currency], required=False, label="For (in the partner's currency)"
        )
        self.fields["fee"] = money_field([trust_currency], required=False, label="Bank fee")
        self.order_fields(["sent", "payout", "fee", "value_date", "reference"])
        if not self.is_bound:
            self.initial.setdefault("value_date", timezone.localdate())


class AcknowledgeForm(forms.Form):
    received_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed when less arrived: what the bank said.",
    )

    def __init__(self, *args: Any, payout_currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["arrived"] = money_field([payout_currency], label="What arrived")
        self.order_fields(["arrived", "received_on", "note"])
        if not self.is_bound:
            self.initial.setdefault("received_on", timezone.localdate())


class PartnerForm(forms.Form):
    name = forms.CharField(max_length=200)
    country = forms.CharField(max_length=2, help_text="ISO code, e.g. PH.")
    registration_number = forms.CharField(max_length=100, required=False)
    payout_currency = forms.CharField(
        max_length=3, required=False, help_text="What it is paid in, e.g. PHP."
    )


class VetForm(forms.Form):
    status = forms.ChoiceField(choices=CarePartner.Vetting.choices)
    vetted_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Payments to it are refused after this day.",
    )


class PayoutForm(forms.Form):
    currency = forms.CharField(max_length=3)
    bank = forms.CharField(max_length=200)
    account_number = forms.CharField(max_length=100, help_text="Kept encrypted; never shown.")


class CaseworkerForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Their sign-in name.")


class ThresholdForm(forms.Form):
    def __init__(self, *args: Any, currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["threshold"] = money_field([currency], label="Two trustees approve above")


class FeeBearerForm(forms.Form):
    bearer = forms.ChoiceField(
        choices=DisbursementPolicy.FeeBearer.choices, label="Bank fees are paid from"
    )


class BudgetForm(forms.Form):
    pseudonym = forms.CharField(max_length=60, label="Beneficiary", help_text="e.g. MV-3")
    category = forms.ChoiceField(choices=Category.choices)
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = money_field([currency])
