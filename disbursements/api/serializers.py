"""What the disbursements app's API shows and accepts. Serializers parse and render only; the
services check every rule (their refusals become problem details with the service's code).

Money goes in as a decimal string with its currency in the sibling ``<name>_currency`` field and
comes out the same way, with the currency's own digits; never a float. Payout bank details and a
payee's name are never shown (the partner's page says only that details are on file)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from moneyed import Money
from rest_framework import serializers

from disbursements.models import (
    Approval,
    CarePartner,
    Category,
    DisbursementRequest,
    Payment,
    RequestDocument,
    RequestEvent,
)
from disbursements.services import vetting_current
from trust.api.base import Amount, currency_field

CURRENCY_HELP = "ISO 4217 code of the amount beside it (e.g. USD, PHP)."


def currency_input(*, required: bool = True) -> serializers.CharField:
    return serializers.CharField(
        max_length=3,
        min_length=3,
        required=required,
        allow_null=not required,
        help_text=CURRENCY_HELP,
    )


class MoneyInput(serializers.Serializer):
    """An input with amounts: each ``<name>`` given needs its ``<name>_currency``, and comes out of
    validation as ``Money`` (the currencies themselves are dropped)."""

    money_fields: tuple[str, ...] = ()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in self.money_fields:
            attrs.pop(f"{name}_currency", None)
            value = attrs.get(name)
            if value is not None and not isinstance(value, Money):
                raise serializers.ValidationError(
                    {f"{name}_currency": ["Give the amount's currency."]}, code="required"
                )
        return attrs


# --- care partners ------------------------------------------------------------------------------


class PartnerSerializer(serializers.ModelSerializer):
    """A care partner of the shared registry. Its payout bank details are stored encrypted and
    never shown: ``payout_details_on_file`` says only whether there are some."""

    vetting_current = serializers.SerializerMethodField(
        help_text="Approved and not expired today: only then are its requests approved and paid."
    )
    payout_details_on_file = serializers.SerializerMethodField()

    class Meta:
        model = CarePartner
        fields = [
            "id",
            "uid",
            "name",
            "country",
            "registration_number",
            "vetting_status",
            "vetted_on",
            "vetting_expires_on",
            "vetting_current",
            "agreement_start",
            "agreement_end",
            "payout_currency",
            "payout_details_on_file",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_vetting_current(self, partner: CarePartner) -> bool:
        return vetting_current(partner)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_payout_details_on_file(self, partner: CarePartner) -> bool:
        return bool(partner.payout_token)


class PartnerCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="e.g. Example Care Partner.")
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code, e.g. PH.")
    registration_number = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    payout_currency = serializers.CharField(
        max_length=3, required=False, allow_blank=True, default="", help_text="e.g. PHP."
    )


class VetSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CarePartner.Vetting.choices)
    vetted_on = serializers.DateField(
        required=False, allow_null=True, help_text="Needed to approve."
    )
    expires_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Needed to approve, after vetted_on: payments are refused after this day.",
    )


class PayoutSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, help_text="What the partner is paid in.")
    bank = serializers.CharField(max_length=200)
    account_number = serializers.CharField(
        max_length=100, write_only=True, help_text="Kept encrypted; never shown back."
    )


# --- requests -----------------------------------------------------------------------------------


class RequestEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True)

    class Meta:
        model = RequestEvent
        fields = ["action", "actor", "at", "status_from", "status_to", "reason"]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer):
    trustee = serializers.CharField(source="trustee.username", read_only=True)

    class Meta:
        model = Approval
        fields = ["trustee", "approved_at"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    download = serializers.HyperlinkedIdentityField(
        view_name="api-document-detail", lookup_field="uid", read_only=True
    )
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)
    request = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = RequestDocument
        fields = [
            "uid",
            "request",
            "kind",
            "title",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "uploaded_at",
            "download",
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    """A payment as the bank's advice gave it, and what became of it. Every amount is a fact in
    its own currency; ``rate`` is derived from them, for reading only."""

    request = serializers.PrimaryKeyRelatedField(read_only=True)
    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    beneficiary_pseudonym = serializers.CharField(
        source="request.beneficiary.pseudonym", read_only=True
    )
    bank_account = serializers.PrimaryKeyRelatedField(read_only=True)
    sent = Amount(read_only=True, help_text="What left the trust's bank, fees apart.")
    sent_currency = currency_field("currency")
    fee = Amount(read_only=True, help_text="The bank's fee.")
    fee_currency = currency_field("currency")
    payout = Amount(read_only=True, help_text="What the transfer was for.")
    rate = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        read_only=True,
        help_text="Payout units per unit sent (derived; nothing is computed with it).",
    )
    arrived = Amount(read_only=True, allow_null=True, help_text="As the partner acknowledged.")
    arrived_currency = currency_field("payout_currency")
    shortfall = Amount(read_only=True, allow_null=True)
    shortfall_currency = currency_field("payout_currency")
    returned = Amount(read_only=True, allow_null=True, help_text="What the bank credited back.")
    returned_currency = currency_field("currency")
    in_transit = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "request",
            "trust",
            "beneficiary_pseudonym",
            "transfer_reference",
            "value_date",
            "bank_account",
            "sent",
            "sent_currency",
            "fee",
            "fee_currency",
            "fee_bearer",
            "payout",
            "payout_currency",
            "rate",
            "in_transit",
            "arrived",
            "arrived_currency",
            "shortfall",
            "shortfall_currency",
            "acknowledged_on",
            "returned",
            "returned_currency",
            "returned_on",
            "recorded_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_in_transit(self, payment: Payment) -> bool:
        """Left the bank; neither acknowledged by the partner nor returned."""
        return payment.settlement_entry_id is None


class RequestSerializer(serializers.ModelSerializer):
    """A disbursement request: for whom, what for, how much, and where it stands."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    beneficiary = serializers.PrimaryKeyRelatedField(read_only=True)
    beneficiary_pseudonym = serializers.CharField(source="beneficiary.pseudonym", read_only=True)
    partner = serializers.PrimaryKeyRelatedField(read_only=True)
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    amount = Amount(read_only=True)
    amount_currency = currency_field("currency")
    reserve = Amount(
        read_only=True, allow_null=True, help_text="What approval holds on the sub-ledger."
    )
    reserve_currency = currency_field("sub_ledger.currency")
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    waits_for = serializers.CharField(
        read_only=True, help_text="What the request waits for (empty once settled)."
    )

    class Meta:
        model = DisbursementRequest
        fields = [
            "id",
            "uid",
            "trust",
            "beneficiary",
            "beneficiary_pseudonym",
            "partner",
            "partner_name",
            "category",
            "purpose",
            "amount",
            "amount_currency",
            "reserve",
            "reserve_currency",
            "payee_kind",
            "status",
            "waits_for",
            "budget_override_reason",
            "requested_by",
            "created_at",
            "submitted_at",
            "decided_at",
        ]
        read_only_fields = fields


class FundsSerializer(serializers.Serializer):
    """The beneficiary's sub-ledger as the request's page shows it."""

    balance = Amount(read_only=True)
    balance_currency = currency_field("balance.currency.code")
    available = Amount(read_only=True, help_text="Balance less what other approvals hold.")
    available_currency = currency_field("available.currency.code")
    dual_approval_above = Amount(
        read_only=True, source="threshold", help_text="Two trustees approve above this."
    )
    dual_approval_above_currency = currency_field("threshold.currency.code")


class RequestDetailSerializer(RequestSerializer):
    """A request with its approvals, documents, payment, history and the funds it draws on."""

    approvals = ApprovalSerializer(many=True, read_only=True)
    documents = DocumentSerializer(many=True, read_only=True)
    payment = PaymentSerializer(read_only=True, allow_null=True)
    events = RequestEventSerializer(
        many=True, read_only=True, help_text="The history, oldest first."
    )
    funds = serializers.SerializerMethodField()

    class Meta(RequestSerializer.Meta):
        fields = [
            *RequestSerializer.Meta.fields,
            "funds",
            "approvals",
            "documents",
            "payment",
            "events",
        ]
        read_only_fields = fields

    @extend_schema_field(FundsSerializer)
    def get_funds(self, request: DisbursementRequest) -> Any:
        return FundsSerializer(self.context["funds"]).data


class RequestCreateSerializer(MoneyInput):
    money_fields = ("amount",)

    beneficiary = serializers.IntegerField(
        help_text="The id of a beneficiary in your partner's care (e.g. Victim-7's)."
    )
    category = serializers.ChoiceField(choices=Category.choices)
    amount = Amount(help_text="In the trust's currency or your partner's payout currency.")
    amount_currency = currency_input()
    purpose = serializers.CharField(
        help_text="What the money is for, as the invoice or quote says."
    )
    justification = serializers.CharField(
        required=False, allow_blank=True, default="", help_text='Needed for "other".'
    )
    payee_kind = serializers.ChoiceField(
        choices=DisbursementRequest.PayeeKind.choices,
        required=False,
        default=DisbursementRequest.PayeeKind.PARTNER,
        help_text="Who is paid: the care partner unless said otherwise.",
    )
    payee_name = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        help_text="A provider or family member: stored encrypted, checked against the people "
        "recorded as implicated; never shown back.",
    )
    court_authorisation = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="The court's authorisation (document reference): needed to pay a family member.",
    )


class ApproveSerializer(MoneyInput):
    money_fields = ("reserve",)

    reserve = Amount(
        required=False,
        allow_null=True,
        help_text="What to hold on the sub-ledger, in its currency: needed (from the first "
        "trustee) when the request is in the partner's currency, covering the rate and fees.",
    )
    reserve_currency = currency_input(required=False)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Only if the request takes its category over the care plan's budget.",
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Recorded with the decision; the requester sees it.")


class DocumentUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RequestDocument.Kind.choices)
    file = serializers.FileField(help_text="PDF, JPEG or PNG (recognised by content).")
    title = serializers.CharField(
        required=False, allow_blank=True, max_length=120, help_text="The file's name if blank."
    )


class PaymentRecordSerializer(MoneyInput):
    """What the bank's advice says about the transfer."""

    money_fields = ("sent", "payout", "fee")

    transfer_reference = serializers.CharField(
        max_length=100, help_text="The bank's transfer reference."
    )
    value_date = serializers.DateField()
    sent = Amount(help_text="What left the trust's bank account, fees apart, in its currency.")
    sent_currency = currency_input()
    payout = Amount(
        required=False,
        allow_null=True,
        help_text="What the transfer was for, in the partner's payout currency (needed when "
        "that is another currency).",
    )
    payout_currency = currency_input(required=False)
    fee = Amount(required=False, allow_null=True, help_text="The bank's fee, if any.")
    fee_currency = currency_input(required=False)
    bank_account = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the trust's bank account it left (the one in its currency if absent).",
    )


class AcknowledgeSerializer(MoneyInput):
    money_fields = ("arrived",)

    arrived = Amount(help_text="What arrived, in the payout currency.")
    arrived_currency = currency_input()
    received_on = serializers.DateField(
        required=False, allow_null=True, help_text="Today if absent."
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed when less arrived: what the bank said.",
    )


class ReturnSerializer(MoneyInput):
    money_fields = ("returned",)

    returned = Amount(help_text="What the bank credited back, in the trust's currency.")
    returned_currency = currency_input()
    returned_on = serializers.DateField(
        required=False, allow_null=True, help_text="Today if absent."
    )
    reason = serializers.CharField(help_text="Why the transfer came back.")
