"""What the bank's API resources show and accept: bank accounts, statements, statement lines with
their matches, a file's import (or its preview), and three-way reconciliations.

Amounts go out as a decimal string with the currency's own digits (``MinorAmount``), beside the
object's ``currency``; ids in a body are bounded so that no filter reaches the database with a
number it cannot hold. Serializers parse and render only: the services check every rule."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trust.api.base import MinorAmount, money_text
from trust.api.ledger_serializers import object_id
from trust.bank.models import (
    BankAccount,
    BankMatch,
    BankStatement,
    Reconciliation,
    ReconciliationChange,
    StatementLine,
)
from trust.bank.selectors.overview import figures_signed, match_entries
from trust.bank.selectors.reconciliation import KIND_LABELS
from trust.bank.services.statements import FORMATS
from trust.money import from_minor

DECIMAL = {"type": "string", "format": "decimal", "example": "1250.00"}


def _text(minor: int | None, currency: str) -> str | None:
    if minor is None or not currency:
        return None
    return money_text(from_minor(int(minor), currency))


@extend_schema_field({**DECIMAL, "nullable": True})
class ContextAmount(serializers.Field):
    """An amount in minor units on the object, in the currency the serializer's context names
    (``context["currency"]``): for what carries no currency of its own (an item, a preview)."""

    def __init__(self, *, minor: str, **kwargs: Any) -> None:
        self.minor_attr = minor
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, obj: Any) -> str | None:
        value = obj.get(self.minor_attr) if isinstance(obj, dict) else getattr(obj, self.minor_attr)
        return _text(value, self.context.get("currency", ""))


# --- query parameters ---------------------------------------------------------------------------


class LineFilter(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=StatementLine.State.choices, required=False, help_text="Only lines in this state."
    )
    q = serializers.CharField(
        required=False,
        default="",
        max_length=200,
        help_text="Part of the reference, description, payer or payee, or bank reference.",
    )


# --- bank accounts and statements ----------------------------------------------------------------


class BankAccountSerializer(serializers.ModelSerializer):
    """One of the trust's bank accounts as the bank knows it, and where it stands."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    account = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The ledger account (role bank)."
    )
    account_code = serializers.CharField(source="account.code", read_only=True)
    currency = serializers.CharField(source="account.currency", read_only=True)
    last_statement = serializers.IntegerField(
        source="last_statement_id",
        read_only=True,
        allow_null=True,
        help_text="The statement with the latest closing balance.",
    )
    last_statement_date = serializers.DateField(read_only=True, allow_null=True)
    last_closing = MinorAmount(minor="last_closing_minor", currency="account.currency")
    unmatched_lines = serializers.IntegerField(read_only=True)
    latest_signed_off = serializers.IntegerField(
        source="latest_signed_off_id",
        read_only=True,
        allow_null=True,
        help_text="The latest reconciliation signed off (and not superseded).",
    )

    class Meta:
        model = BankAccount
        fields = [
            "id",
            "trust",
            "account",
            "account_code",
            "currency",
            "bank_name",
            "number",
            "match_window_days",
            "last_statement",
            "last_statement_date",
            "last_closing",
            "unmatched_lines",
            "latest_signed_off",
        ]
        read_only_fields = fields


class StatementSerializer(serializers.ModelSerializer):
    bank_account = serializers.PrimaryKeyRelatedField(read_only=True)
    statement_id = serializers.CharField(read_only=True, help_text="The bank's id of it.")
    source = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The import.")
    opening = MinorAmount(minor="opening_minor", currency="currency")
    closing = MinorAmount(minor="closing_minor", currency="currency")
    gap = MinorAmount(
        minor="gap_minor",
        currency="currency",
        help_text="When continuity is gap: the opening balance less the last closing balance.",
    )
    lines = serializers.IntegerField(source="line_count", read_only=True)

    class Meta:
        model = BankStatement
        fields = [
            "id",
            "bank_account",
            "statement_id",
            "source",
            "currency",
            "from_date",
            "to_date",
            "opening",
            "closing",
            "notification",
            "continuity",
            "gap",
            "lines",
        ]
        read_only_fields = fields


class LinePartSerializer(serializers.Serializer):
    amount = ContextAmount(minor="amount_minor")
    reference = serializers.CharField(read_only=True, default="")
    counterparty = serializers.CharField(read_only=True, default="")
    description = serializers.CharField(read_only=True, default="")


class StatementLineSerializer(serializers.ModelSerializer):
    """A line as the bank gave it (+ money in), with its state."""

    statement = serializers.PrimaryKeyRelatedField(read_only=True)
    amount = MinorAmount(minor="amount_minor", currency="currency")
    original_amount = MinorAmount(
        minor="original_amount_minor",
        currency="original_currency",
        help_text="Before the bank converted it, in original_currency (null if not converted).",
    )
    parts = serializers.SerializerMethodField(help_text="A batch booking's transactions.")
    match = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = StatementLine
        fields = [
            "id",
            "statement",
            "position",
            "booking_date",
            "value_date",
            "amount",
            "currency",
            "bank_reference",
            "reference",
            "counterparty",
            "description",
            "kind",
            "reversal",
            "original_amount",
            "original_currency",
            "exchange_rate",
            "parts",
            "state",
            "match",
            "explanation",
        ]
        read_only_fields = fields

    @extend_schema_field(LinePartSerializer(many=True))
    def get_parts(self, line: StatementLine) -> list[dict[str, Any]]:
        return [
            {
                "amount": _text(int(p.get("amount_minor", 0)), line.currency),
                "reference": p.get("reference", ""),
                "counterparty": p.get("counterparty", ""),
                "description": p.get("description", ""),
            }
            for p in line.parts or []
        ]


class MatchedEntrySerializer(serializers.Serializer):
    entry = serializers.IntegerField(source="entry_id")
    effective_date = serializers.DateField(source="day", allow_null=True)
    memo = serializers.CharField()
    amount = ContextAmount(
        minor="amount_minor", help_text="Its net posting to the bank account (+ money in)."
    )


class MatchSerializer(serializers.ModelSerializer):
    lines = serializers.SerializerMethodField()
    entries = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username")

    class Meta:
        model = BankMatch
        fields = [
            "id",
            "bank_account",
            "method",
            "note",
            "created_at",
            "created_by",
            "lines",
            "entries",
        ]
        read_only_fields = fields

    def get_lines(self, match: BankMatch) -> list[int]:
        return list(match.lines.order_by("pk").values_list("pk", flat=True))

    @extend_schema_field(MatchedEntrySerializer(many=True))
    def get_entries(self, match: BankMatch) -> list[dict[str, Any]]:
        rows = match_entries(match=match)
        return MatchedEntrySerializer(
            rows, many=True, context={"currency": match.bank_account.account.currency}
        ).data


class StatementLineDetailSerializer(StatementLineSerializer):
    match = MatchSerializer(read_only=True, allow_null=True)

    class Meta(StatementLineSerializer.Meta):
        fields = StatementLineSerializer.Meta.fields


# --- input --------------------------------------------------------------------------------------


class StatementImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="camt.053, camt.054, OFX/QFX, MT940 or CSV.")
    format = serializers.ChoiceField(
        choices=[("", "recognise it"), *((f, f) for f in FORMATS)],
        required=False,
        default="",
        help_text="Leave empty to recognise it from the file.",
    )
    preview = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: answer with what would be imported, writing nothing.",
    )
    date_column = serializers.CharField(
        max_length=100,
        required=False,
        default="",
        allow_blank=True,
        help_text="CSV: the booking date's column. With it, the CSV columns below are read "
        "this way; without it, the account's saved mapping is used.",
    )
    amount_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    debit_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    credit_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    description_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    reference_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    counterparty_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    bank_reference_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    value_date_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    balance_column = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )
    date_format = serializers.CharField(
        max_length=40, required=False, default="%Y-%m-%d", help_text="strptime format."
    )
    decimal_comma = serializers.BooleanField(required=False, default=False)
    delimiter = serializers.CharField(
        max_length=2, required=False, default=",", trim_whitespace=False
    )
    encoding = serializers.CharField(max_length=20, required=False, default="utf-8")
    skip_rows = serializers.IntegerField(min_value=0, max_value=100, required=False, default=0)
    negate = serializers.BooleanField(required=False, default=False)
    save_mapping = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Keep these CSV columns for the account's next import (once recorded).",
    )


class MatchCreateSerializer(serializers.Serializer):
    lines = serializers.ListField(
        child=object_id(), min_length=1, max_length=500, help_text="Statement lines' ids."
    )
    entries = serializers.ListField(
        child=object_id(), min_length=1, max_length=500, help_text="Journal entries' ids."
    )
    note = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        default="",
        allow_blank=True,
        help_text="Recorded against a reconciliation already signed off for the lines' dates.",
    )


class UndoSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the match is undone.")


class ExplainSerializer(serializers.Serializer):
    explanation = serializers.CharField(max_length=500, help_text="What the line is.")


class SignOffSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


# --- import outcome and preview -----------------------------------------------------------------


class PreviewStatementSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Its place in the file, from 1.")
    statement_id = serializers.CharField(source="parsed.statement_id")
    account = serializers.CharField(source="parsed.account")
    from_date = serializers.DateField(allow_null=True)
    to_date = serializers.DateField(allow_null=True)
    opening = serializers.SerializerMethodField()
    closing = serializers.SerializerMethodField()
    notification = serializers.BooleanField(source="parsed.notification")
    continuity = serializers.ChoiceField(choices=BankStatement.Continuity.choices)
    gap = ContextAmount(minor="gap_minor")
    known = serializers.BooleanField(help_text="Imported before (by its id): skipped whole.")
    lines = serializers.IntegerField()
    lines_known = serializers.IntegerField(help_text="Lines imported before: not counted again.")

    @extend_schema_field({**DECIMAL, "nullable": True})
    def get_opening(self, row: Any) -> str | None:
        return _text(row.parsed.opening_minor, self.context.get("currency", ""))

    @extend_schema_field({**DECIMAL, "nullable": True})
    def get_closing(self, row: Any) -> str | None:
        return _text(row.parsed.closing_minor, self.context.get("currency", ""))


class PreviewLineSerializer(serializers.Serializer):
    statement = serializers.IntegerField(help_text="The statement's place in the file.")
    position = serializers.IntegerField()
    booking_date = serializers.DateField(source="line.booking_date")
    value_date = serializers.DateField(source="line.value_date", allow_null=True)
    amount = serializers.SerializerMethodField()
    bank_reference = serializers.CharField(source="line.bank_reference")
    reference = serializers.CharField(source="line.reference")
    counterparty = serializers.CharField(source="line.counterparty")
    description = serializers.CharField(source="line.description")
    reversal = serializers.BooleanField(source="line.reversal")
    where = serializers.CharField(source="line.where", help_text="Where in the file.")
    known = serializers.BooleanField(help_text="Imported before: would not be recorded again.")

    @extend_schema_field(DECIMAL)
    def get_amount(self, row: Any) -> str | None:
        return _text(row.line.amount_minor, self.context.get("currency", ""))


class ImportPreviewSerializer(serializers.Serializer):
    preview = serializers.BooleanField(help_text="True: nothing was written.")
    format = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    already_imported = serializers.BooleanField(
        help_text="This very file was imported before: nothing would be recorded."
    )
    statements = PreviewStatementSerializer(many=True)
    lines_total = serializers.IntegerField()
    lines_known = serializers.IntegerField()
    lines_new = serializers.IntegerField()
    lines = PreviewLineSerializer(many=True, help_text="The file's first 50 lines.")
    summary = serializers.CharField()


class ImportOutcomeSerializer(serializers.Serializer):
    preview = serializers.BooleanField(help_text="False: the file was recorded (or was before).")
    statement_import = serializers.IntegerField(
        allow_null=True, help_text="The import's id (null when the file was imported before)."
    )
    sha256 = serializers.CharField()
    already_imported = serializers.BooleanField()
    statements = serializers.IntegerField(help_text="Statements recorded now.")
    statements_known = serializers.IntegerField(help_text="Imported before: skipped.")
    lines = serializers.IntegerField(help_text="Lines recorded now.")
    lines_known = serializers.IntegerField(help_text="Imported before: not counted again.")
    matched = serializers.IntegerField(help_text="Lines matched with the ledger on import.")
    gaps = serializers.ListField(
        child=serializers.CharField(), help_text="Statements that do not continue the last one."
    )
    summary = serializers.CharField()


# --- reconciliation -----------------------------------------------------------------------------


class ItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(KIND_LABELS.items()))
    kind_label = serializers.SerializerMethodField()
    day = serializers.CharField(help_text="ISO date.")
    description = serializers.CharField()
    amount = ContextAmount(minor="amount_minor")
    line = serializers.IntegerField(source="line_id", allow_null=True)
    entry = serializers.IntegerField(source="entry_id", allow_null=True)
    explanation = serializers.CharField()

    def get_kind_label(self, item: Any) -> str:
        return KIND_LABELS.get(item.kind, item.kind)


class HeldSerializer(serializers.Serializer):
    role = serializers.CharField()
    label = serializers.CharField()
    amount = serializers.CharField(help_text="A decimal string in the figures' currency.")


FIGURES = (
    ("bank_opening", "bank_opening_minor", "The first statement's opening balance."),
    ("bank_closing", "bank_closing_minor", "The bank's closing balance on the date."),
    ("deposits_in_transit", "deposits_in_transit_minor", "In the ledger, not yet at the bank."),
    (
        "outstanding_payments",
        "outstanding_payments_minor",
        "Out in the ledger, not yet at the bank.",
    ),
    ("adjusted_bank", "adjusted_bank_minor", "Closing balance + deposits + outstanding payments."),
    ("ledger_opening", "ledger_opening_minor", "The ledger's bank account the day before start."),
    ("ledger_bank", "ledger_bank_minor", "The ledger's bank account on the date."),
    ("bank_items", "bank_items_minor", "On the statement, not in the ledger by the date."),
    ("gaps", "gaps_minor", "Statements that do not continue the last closing balance."),
    ("opening_difference", "opening_difference_minor", "First opening balance less the ledger."),
    ("unexplained", "unexplained_minor", "What no listed item explains: 0 to sign off."),
    ("other_bank", "other_bank_minor", "The trust's other cash accounts in the currency."),
    ("cash", "cash_minor", "Cash in all the trust's bank accounts in the currency."),
    ("held", "held_minor", "Sub-ledgers, unallocated, payables, in transit, administration."),
    ("identity_difference", "identity_difference_minor", "Cash less what is held."),
)


class FiguresSerializer(serializers.Serializer):
    """The three-way reconciliation of one bank account on a statement's date."""

    bank_account = serializers.IntegerField(source="bank_account_id")
    account_code = serializers.CharField()
    currency = serializers.CharField()
    statement = serializers.IntegerField(source="statement_id")
    statement_ref = serializers.CharField(help_text="The bank's id of the statement.")
    start = serializers.CharField(help_text="ISO date: the first statement's start.")
    as_of = serializers.CharField(help_text="ISO date: the statement's closing date.")
    held_by_role = serializers.SerializerMethodField()
    outside = serializers.DictField(
        child=serializers.IntegerField(), help_text="Other currencies' cash, in minor units."
    )
    balanced = serializers.BooleanField(help_text="Nothing unexplained and the identity holds.")
    lines_matched = serializers.IntegerField()
    lines_total = serializers.IntegerField()
    items = ItemSerializer(many=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, minor, help_text in FIGURES:
            self.fields[name] = ContextAmount(minor=minor, help_text=help_text)

    @extend_schema_field(HeldSerializer(many=True))
    def get_held_by_role(self, figures: Any) -> list[dict[str, Any]]:
        return [
            {"role": role, "label": label, "amount": _text(amount, figures.currency)}
            for role, label, amount in figures.held
        ]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        self.context["currency"] = instance.currency
        return super().to_representation(instance)


class ChangeSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    by = serializers.SlugRelatedField(read_only=True, slug_field="username", allow_null=True)

    class Meta:
        model = ReconciliationChange
        fields = ["id", "what", "amount", "at", "by", "reason"]
        read_only_fields = fields

    @extend_schema_field(DECIMAL)
    def get_amount(self, change: ReconciliationChange) -> str | None:
        return _text(change.amount_minor, change.reconciliation.bank_account.account.currency)


class DriftSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The figure, as in `figures` (with _minor).")
    signed = serializers.SerializerMethodField()
    now = serializers.SerializerMethodField()

    @extend_schema_field(DECIMAL)
    def get_signed(self, drift: Any) -> str | None:
        return _text(drift.signed_minor, self.context.get("currency", ""))

    @extend_schema_field(DECIMAL)
    def get_now(self, drift: Any) -> str | None:
        return _text(drift.now_minor, self.context.get("currency", ""))


class ReconciliationSerializer(serializers.ModelSerializer):
    """A signed-off reconciliation: its figures as signed, who and when, their SHA-256."""

    bank_account = serializers.PrimaryKeyRelatedField(read_only=True)
    statement = serializers.PrimaryKeyRelatedField(read_only=True)
    currency = serializers.CharField(source="bank_account.account.currency", read_only=True)
    bank_closing = MinorAmount(minor="bank_closing_minor", currency="bank_account.account.currency")
    adjusted_bank = MinorAmount(
        minor="adjusted_bank_minor", currency="bank_account.account.currency"
    )
    ledger_bank = MinorAmount(minor="ledger_bank_minor", currency="bank_account.account.currency")
    held = MinorAmount(minor="held_minor", currency="bank_account.account.currency")
    unexplained = MinorAmount(minor="unexplained_minor", currency="bank_account.account.currency")
    signed_off_by = serializers.SlugRelatedField(
        read_only=True, slug_field="username", allow_null=True
    )
    superseded_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    figures = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField(help_text="Changes to its period since.")

    class Meta:
        model = Reconciliation
        fields = [
            "id",
            "bank_account",
            "statement",
            "as_of",
            "status",
            "currency",
            "bank_closing",
            "adjusted_bank",
            "ledger_bank",
            "held",
            "unexplained",
            "figures_sha256",
            "signed_off_at",
            "signed_off_by",
            "note",
            "superseded_by",
            "figures",
            "changes",
        ]
        read_only_fields = fields

    @extend_schema_field(FiguresSerializer(allow_null=True))
    def get_figures(self, rec: Reconciliation) -> dict[str, Any] | None:
        figures = figures_signed(reconciliation=rec)
        return FiguresSerializer(figures).data if figures else None

    @extend_schema_field(ChangeSerializer(many=True))
    def get_changes(self, rec: Reconciliation) -> list[dict[str, Any]]:
        return ChangeSerializer(
            rec.changes.select_related("by").order_by("at", "id"), many=True
        ).data


class ReconciliationDetailSerializer(ReconciliationSerializer):
    drift = serializers.SerializerMethodField(
        help_text="Figures that differ today from those signed (empty: the books agree)."
    )

    class Meta(ReconciliationSerializer.Meta):
        fields = [*ReconciliationSerializer.Meta.fields, "drift"]
        read_only_fields = fields

    @extend_schema_field(DriftSerializer(many=True))
    def get_drift(self, rec: Reconciliation) -> list[dict[str, Any]]:
        drift = self.context.get("drift", [])
        return DriftSerializer(
            drift, many=True, context={"currency": rec.bank_account.account.currency}
        ).data
