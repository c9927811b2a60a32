"""What the ledger's API resources show and accept: defendants, orders, receipts, accounts and
journal entries. Serializers parse and render only; the services check every rule (their
refusals become problem details with the service's code).

Amounts come in as a decimal string with ``<name>_currency`` beside it (``Amount``) and go out
as a decimal string with the currency's own digits (``MinorAmount``), next to the object's
``currency``. Ids are bounded so that no filter reaches the database with a number it cannot
hold."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trust.api.base import Amount, MinorAmount, money_text
from trust.models import (
    Account,
    Allocation,
    AllocationShare,
    Defendant,
    EntryKind,
    JournalEntry,
    OrderLine,
    Posting,
    Receipt,
    RestitutionOrder,
)
from trust.money import from_minor

MAX_ID = 2**63 - 1  # the largest id a database column holds


def object_id(**kwargs: Any) -> serializers.IntegerField:
    """An object's id as input: a positive integer a database can hold."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def currency_code(**kwargs: Any) -> serializers.ChoiceField:
    """The ``<name>_currency`` beside an ``Amount``: one of the installation's currencies."""
    kwargs.setdefault("help_text", "ISO 4217 code of the amount beside it.")
    return serializers.ChoiceField(choices=list(settings.CURRENCIES), **kwargs)


class AmountIn(Amount):
    """``Amount`` as input, as a decimal string only: a JSON number is a binary float on the way
    (``0.1``), so it is refused rather than converted."""

    default_error_messages = {
        "not_a_string": 'Send the amount as a decimal string ("1250.00"), never a number.'
    }

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(getattr(data, "amount", data), str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


SIDES = ("debit", "credit")


@extend_schema_field(serializers.ChoiceField(choices=SIDES))
class SideField(serializers.Field):
    """``debit`` for a positive posting, ``credit`` for a negative one."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(source="amount_minor", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value: int) -> str:
        return "debit" if value > 0 else "credit"


# --- query parameters ---------------------------------------------------------------------------


class TrustFilter(serializers.Serializer):
    trust = object_id(required=False, help_text="Only this trust's.")


class SearchFilter(TrustFilter):
    q = serializers.CharField(required=False, default="", max_length=200)


class OrderFilter(TrustFilter):
    status = serializers.ChoiceField(
        choices=RestitutionOrder.Status.choices,
        required=False,
        help_text="current, or superseded by an amended judgment.",
    )


class ReceiptFilter(TrustFilter):
    q = serializers.CharField(
        required=False, default="", max_length=200, help_text="Bank reference, memo or payer."
    )
    to_resolve = serializers.BooleanField(
        required=False, default=False, help_text="Only receipts with money still unallocated."
    )


class AccountFilter(TrustFilter):
    role = serializers.ChoiceField(choices=Account.Role.choices, required=False)
    q = serializers.CharField(
        required=False, default="", max_length=200, help_text="Part of the code or the name."
    )


class AsOfFilter(serializers.Serializer):
    as_of = serializers.DateField(
        required=False, help_text="Also the balance at the end of this day (YYYY-MM-DD)."
    )


class EntryFilter(TrustFilter):
    kind = serializers.ChoiceField(choices=EntryKind.choices, required=False)
    since = serializers.DateField(required=False, help_text="Effective on or after (YYYY-MM-DD).")
    until = serializers.DateField(required=False, help_text="Effective on or before (YYYY-MM-DD).")
    q = serializers.CharField(
        required=False, default="", max_length=200, help_text="Part of the memo."
    )


# --- defendants ---------------------------------------------------------------------------------


class DefendantSerializer(serializers.ModelSerializer):
    """A person ordered to pay restitution (names of defendants are public court record)."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Defendant
        fields = ["id", "trust", "name", "reference", "created_at"]
        read_only_fields = fields


class DefendantCreateSerializer(serializers.Serializer):
    trust = object_id(help_text="The trust's id.")
    name = serializers.CharField(max_length=200, help_text="As the judgment names them.")
    reference = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Docket or defendant number in the case.",
    )


# --- orders -------------------------------------------------------------------------------------


class OrderLineSerializer(serializers.ModelSerializer):
    """One amount ordered to one beneficiary (by pseudonym), with what was collected on it."""

    beneficiary = serializers.PrimaryKeyRelatedField(read_only=True)
    pseudonym = serializers.CharField(source="beneficiary.pseudonym", read_only=True)
    amount = MinorAmount(minor="amount_minor", currency="currency")
    collected = MinorAmount(
        minor="collected_minor",
        currency="currency",
        help_text="Allocated to this line so far (with what the line it replaces collected).",
    )
    outstanding = MinorAmount(minor="outstanding_minor", currency="currency")
    defendants = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    carried_from = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "position",
            "beneficiary",
            "pseudonym",
            "amount",
            "currency",
            "defendants",
            "liability",
            "collected",
            "outstanding",
            "carried_from",
        ]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    """One version of a restitution order (an amended judgment is the next version)."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    supersedes = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    superseded_by = serializers.IntegerField(
        source="superseded_by_id",
        read_only=True,
        allow_null=True,
        help_text="The version that amends this one, if any.",
    )
    total = MinorAmount(minor="total_minor", currency="currency")
    defendants = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = RestitutionOrder
        fields = [
            "id",
            "trust",
            "court",
            "case_number",
            "judgment_date",
            "document_reference",
            "version",
            "status",
            "supersedes",
            "superseded_by",
            "total",
            "currency",
            "payment_terms",
            "schedule_note",
            "first_payment_due",
            "reason",
            "defendants",
            "created_at",
        ]
        read_only_fields = fields


class OrderDetailSerializer(OrderSerializer):
    lines = OrderLineSerializer(many=True, read_only=True, source="listed_lines")

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class OrderLineInputSerializer(serializers.Serializer):
    beneficiary = object_id(help_text="A beneficiary of the trust, by id.")
    amount = AmountIn(help_text="What the judgment orders paid to them, e.g. 10000.00.")
    amount_currency = currency_code()
    defendants = serializers.ListField(
        child=object_id(),
        max_length=100,
        help_text="The defendant(s) who owe it, by id: one (several liability) or more (joint "
        "and several).",
    )
    liability = serializers.ChoiceField(
        choices=OrderLine.Liability.choices,
        required=False,
        allow_null=True,
        help_text="By default several for one defendant, joint and several for more.",
    )


class OrderJudgmentSerializer(serializers.Serializer):
    """What an order and an amended judgment both state."""

    judgment_date = serializers.DateField(help_text="Not in the future.")
    total = AmountIn(help_text="The total the judgment states: the lines must add up to it.")
    total_currency = currency_code()
    lines = OrderLineInputSerializer(many=True, max_length=1000)
    document_reference = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Docket entry of the judgment, e.g. ECF No. 87.",
    )
    first_payment_due = serializers.DateField(required=False, allow_null=True, default=None)


class OrderCreateSerializer(OrderJudgmentSerializer):
    trust = object_id(help_text="The trust's id.")
    court = serializers.CharField(max_length=200)
    case_number = serializers.CharField(max_length=100)
    payment_terms = serializers.ChoiceField(
        choices=RestitutionOrder.PaymentTerms.choices,
        default=RestitutionOrder.PaymentTerms.LUMP_SUM,
    )
    schedule_note = serializers.CharField(required=False, allow_blank=True, default="")


class OrderAmendSerializer(OrderJudgmentSerializer):
    reason = serializers.CharField(help_text="Why the order is amended (recorded).")
    payment_terms = serializers.ChoiceField(
        choices=RestitutionOrder.PaymentTerms.choices,
        required=False,
        help_text="By default those of the version amended.",
    )
    schedule_note = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text="By default that of the version amended.",
    )


# --- receipts -----------------------------------------------------------------------------------


class ReceiptSerializer(serializers.ModelSerializer):
    """Money that reached the trust, and how much of it still waits unallocated."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    amount = MinorAmount(minor="amount_minor", currency="currency")
    unallocated = MinorAmount(minor="unallocated_minor", currency="currency")
    payer = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    payer_name = serializers.CharField(source="payer.name", read_only=True, allow_null=True)
    bank_account = serializers.PrimaryKeyRelatedField(read_only=True)
    entry = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Receipt
        fields = [
            "id",
            "trust",
            "received_on",
            "source",
            "amount",
            "unallocated",
            "currency",
            "payer",
            "payer_name",
            "bank_account",
            "bank_reference",
            "memo",
            "status",
            "reversal_reason",
            "entry",
            "created_at",
        ]
        read_only_fields = fields


class AllocationShareSerializer(serializers.ModelSerializer):
    """What one allocation moved to one beneficiary (negative: back from them)."""

    beneficiary = serializers.PrimaryKeyRelatedField(read_only=True)
    pseudonym = serializers.CharField(source="beneficiary.pseudonym", read_only=True)
    line = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    amount = MinorAmount(minor="amount_minor", currency="currency")

    class Meta:
        model = AllocationShare
        fields = ["beneficiary", "pseudonym", "line", "amount", "currency"]
        read_only_fields = fields


class AllocationSerializer(serializers.ModelSerializer):
    """One move of the receipt's money among sub-ledgers, with its journal entry."""

    entry = serializers.PrimaryKeyRelatedField(read_only=True)
    unallocated_change = MinorAmount(
        minor="unallocated_change_minor",
        currency="receipt.currency",
        help_text="How this allocation changed the receipt's unallocated part.",
    )
    shares = AllocationShareSerializer(many=True, read_only=True, source="listed_shares")

    class Meta:
        model = Allocation
        fields = [
            "id",
            "method",
            "from_unallocated",
            "unallocated_change",
            "reason",
            "entry",
            "created_at",
            "shares",
        ]
        read_only_fields = fields


class ReceiptDetailSerializer(ReceiptSerializer):
    allocations = AllocationSerializer(many=True, read_only=True, source="listed_allocations")

    class Meta(ReceiptSerializer.Meta):
        fields = [*ReceiptSerializer.Meta.fields, "allocations"]
        read_only_fields = fields


class ReceiptCreateSerializer(serializers.Serializer):
    trust = object_id(help_text="The trust's id.")
    amount = AmountIn(help_text="What reached the bank, e.g. 1500.00.")
    amount_currency = currency_code()
    received_on = serializers.DateField(help_text="The day it arrived: not in the future.")
    source = serializers.ChoiceField(choices=Receipt.Source.choices)
    payer = object_id(
        required=False,
        allow_null=True,
        default=None,
        help_text="The defendant who paid: the receipt is shared pro rata among what they owe. "
        "Without one it all stays unallocated.",
    )
    bank_account = object_id(
        required=False,
        allow_null=True,
        default=None,
        help_text="By default the trust's bank account in the amount's currency.",
    )
    bank_reference = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    memo = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ReverseSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=1000, help_text="Why (a cheque returned unpaid, a receipt recorded twice)."
    )


class ManualShareInputSerializer(serializers.Serializer):
    line = object_id(
        required=False,
        allow_null=True,
        default=None,
        help_text="An order line of a current order (counts against it).",
    )
    beneficiary = object_id(
        required=False,
        allow_null=True,
        default=None,
        help_text="A beneficiary directly, when the court directs so (no line).",
    )
    amount = AmountIn()
    amount_currency = currency_code()


ALLOCATE_METHODS = (
    (Allocation.Method.PRO_RATA.value, Allocation.Method.PRO_RATA.label),
    (Allocation.Method.MANUAL.value, Allocation.Method.MANUAL.label),
)


class AllocateSerializer(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=ALLOCATE_METHODS,
        help_text="pro_rata: to what the payer owes; manual: the shares given, with the court "
        "document as reason.",
    )
    payer = object_id(
        required=False,
        allow_null=True,
        default=None,
        help_text="Pro rata: the defendant who paid, when the receipt was recorded without one.",
    )
    manual = ManualShareInputSerializer(many=True, required=False, max_length=1000)
    reason = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Manual: the court document that directs the allocation.",
    )


# --- accounts and entries -----------------------------------------------------------------------


class AccountSerializer(serializers.ModelSerializer):
    """An account of the trust's books with its current balance on its normal side (a
    sub-ledger's balance is what the trust owes that beneficiary)."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    beneficiary = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    balance = MinorAmount(minor="balance_minor", currency="currency")

    class Meta:
        model = Account
        fields = [
            "id",
            "trust",
            "code",
            "name",
            "type",
            "role",
            "currency",
            "beneficiary",
            "no_negative",
            "balance",
        ]
        read_only_fields = fields


class AccountDetailSerializer(AccountSerializer):
    as_of = serializers.DateField(read_only=True, allow_null=True)
    balance_as_of = Amount(
        read_only=True,
        allow_null=True,
        help_text="With ?as_of: the balance at the end of that day (every entry effective on "
        "or before it).",
    )

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "as_of", "balance_as_of"]
        read_only_fields = fields


class AccountPostingSerializer(serializers.ModelSerializer):
    """One line of an account's history, with the account's balance just after it."""

    entry = serializers.PrimaryKeyRelatedField(read_only=True)
    kind = serializers.ChoiceField(source="entry.kind", choices=EntryKind.choices, read_only=True)
    memo = serializers.CharField(source="entry.memo", read_only=True)
    amount = MinorAmount(
        minor="amount_minor", currency="currency", help_text="Signed: a debit positive."
    )
    side = SideField()
    balance = Amount(
        source="balance_after",
        read_only=True,
        help_text="The account's balance just after this posting, on its normal side.",
    )

    class Meta:
        model = Posting
        fields = [
            "id",
            "entry",
            "effective_date",
            "kind",
            "memo",
            "amount",
            "side",
            "currency",
            "balance",
        ]
        read_only_fields = fields

    def to_representation(self, posting: Posting) -> dict[str, Any]:
        # The fields above document the shape (and the schema); a history page renders 50 rows
        # of them on every call, so they are written out here (a third of the API's cost per
        # call, measured by `make bench`). tests/api/test_api_ledger.py checks the two agree.
        return {
            "id": posting.pk,
            "entry": posting.entry_id,
            "effective_date": posting.effective_date.isoformat(),
            "kind": posting.entry.kind,
            "memo": posting.entry.memo,
            "amount": money_text(from_minor(posting.amount_minor, posting.currency)),
            "side": "debit" if posting.amount_minor > 0 else "credit",
            "currency": posting.currency,
            "balance": money_text(posting.balance_after),
        }


class EntryPostingSerializer(serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(read_only=True)
    account_code = serializers.CharField(source="account.code", read_only=True)
    account_name = serializers.CharField(source="account.name", read_only=True)
    amount = MinorAmount(
        minor="amount_minor", currency="currency", help_text="Signed: a debit positive."
    )
    side = SideField()

    class Meta:
        model = Posting
        fields = ["id", "account", "account_code", "account_name", "amount", "side", "currency"]
        read_only_fields = fields


class EntrySerializer(serializers.ModelSerializer):
    """A journal entry: immutable; a mistake is corrected by a reversing entry."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    reverses = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    reversed_by = serializers.IntegerField(
        source="reversed_by_id",
        read_only=True,
        allow_null=True,
        help_text="The entry that reverses this one, if any.",
    )

    class Meta:
        model = JournalEntry
        fields = [
            "id",
            "trust",
            "effective_date",
            "recorded_at",
            "kind",
            "memo",
            "reason",
            "reverses",
            "reversed_by",
        ]
        read_only_fields = fields


class EntryDetailSerializer(EntrySerializer):
    postings = EntryPostingSerializer(many=True, read_only=True, source="listed_postings")

    class Meta(EntrySerializer.Meta):
        fields = [*EntrySerializer.Meta.fields, "postings"]
        read_only_fields = fields
