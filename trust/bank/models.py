"""The bank's side of the books: the trust's bank accounts as the bank knows them, the statements
imported from it, each statement line's match with the ledger, and signed-off reconciliations.

Statement lines are the bank's words and are never edited: a line imported twice is recognised by
its fingerprint and not stored again. Matches join lines to journal entries (one to one, one to
many, many to one); the sum of a match's lines equals the sum of its entries' postings to the bank
account. A signed-off reconciliation keeps the figures it was signed on; a later change to what it
covered is recorded as a ``ReconciliationChange`` and shown beside it. docs/bank.md explains it.

The models keep the trust app's label (``trust/models/__init__.py`` imports them).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from trust.models.ledger import Account, JournalEntry, Trust


class BankAccount(models.Model):
    """What the bank calls one of the trust's bank accounts (a ledger account of role BANK)."""

    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="bank")
    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="bank_accounts")
    bank_name = models.CharField(max_length=200, blank=True)
    # IBAN or the bank's account number, spaces removed, upper case: a statement for another number
    # is refused.
    number = models.CharField(max_length=64)
    match_window_days = models.PositiveSmallIntegerField(
        default=5,
        help_text="How many days apart a statement line and a ledger entry may be to match.",
    )
    csv_mapping = models.JSONField(
        default=dict, blank=True, help_text="How this bank's CSV exports are read (saved)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "trust_bank_account"
        constraints = [
            models.UniqueConstraint(fields=["trust", "number"], name="bank_account_unique_number"),
            models.CheckConstraint(
                condition=Q(match_window_days__lte=60), name="bank_account_window_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bank_name or 'Bank'} {self.number}"


class StatementImport(models.Model):
    """One file imported: all of it or nothing."""

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="statement_imports")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="imports")
    format = models.CharField(max_length=10)
    file_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    statements = models.PositiveIntegerField(default=0)
    lines = models.PositiveIntegerField(default=0)
    lines_skipped = models.PositiveIntegerField(
        default=0, help_text="Lines already imported from another file, not counted again."
    )
    matched = models.PositiveIntegerField(default=0, help_text="Lines matched on import.")
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_bank_import"
        ordering = ["-imported_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bank_account", "sha256"], name="bank_import_unique_file"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.format} {self.file_name or self.sha256[:12]}"


class BankStatement(models.Model):
    class Continuity(models.TextChoices):
        FIRST = "first", "First statement"
        CONTINUES = "continues", "Continues the last closing balance"
        GAP = "gap", "Does not continue the last closing balance"
        NONE = "none", "No balances (notification or export)"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="+")
    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, related_name="statements"
    )
    source = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="+")
    statement_id = models.CharField(max_length=120, blank=True)
    currency = models.CharField(max_length=3)
    from_date = models.DateField(null=True, blank=True)
    to_date = models.DateField(null=True, blank=True)
    opening_minor = models.BigIntegerField(null=True, blank=True)
    closing_minor = models.BigIntegerField(null=True, blank=True)
    notification = models.BooleanField(default=False)
    continuity = models.CharField(max_length=10, choices=Continuity.choices)
    # When continuity is GAP: this statement's opening less the last closing balance before it.
    gap_minor = models.BigIntegerField(default=0)

    class Meta:
        db_table = "trust_bank_statement"
        ordering = ["bank_account_id", "to_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bank_account", "statement_id"],
                condition=~Q(statement_id=""),
                name="bank_statement_unique_id",
            ),
        ]
        indexes = [models.Index(fields=["bank_account", "to_date"], name="bank_statement_date")]

    def __str__(self) -> str:
        return f"statement {self.statement_id or self.pk} to {self.to_date}"


class BankMatch(models.Model):
    """Lines and entries that are the same money: the lines' amounts sum to the entries' postings
    to the bank account."""

    class Method(models.TextChoices):
        AUTO = "auto", "Matched automatically"
        MANUAL = "manual", "Matched by hand"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="+")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="matches")
    method = models.CharField(max_length=6, choices=Method.choices)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_bank_match"

    def __str__(self) -> str:
        return f"match #{self.pk}"


class StatementLine(models.Model):
    class State(models.TextChoices):
        UNMATCHED = "unmatched", "Not matched"
        MATCHED = "matched", "Matched"
        EXPLAINED = "explained", "Explained"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="+")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="lines")
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField(help_text="Its place in the statement, from 1.")
    # What recognises the same line in another file: the bank's reference where it gives one,
    # else the line's content and its occurrence among identical lines of the statement.
    fingerprint = models.CharField(max_length=64)
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    amount_minor = models.BigIntegerField(help_text="Signed as the bank sees it: + money in.")
    currency = models.CharField(max_length=3)
    bank_reference = models.CharField(max_length=120, blank=True)
    reference = models.CharField(max_length=200, blank=True)
    counterparty = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=10, default="other")
    reversal = models.BooleanField(default=False)
    original_amount_minor = models.BigIntegerField(null=True, blank=True)
    original_currency = models.CharField(max_length=3, blank=True)
    exchange_rate = models.CharField(max_length=40, blank=True)
    parts = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNMATCHED)
    match = models.ForeignKey(
        BankMatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="lines"
    )
    explanation = models.CharField(max_length=500, blank=True)
    explained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_bank_line"
        ordering = ["booking_date", "statement_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["bank_account", "fingerprint"], name="bank_line_unique_fingerprint"
            ),
            models.CheckConstraint(
                condition=(Q(state="matched") & Q(match__isnull=False))
                | (~Q(state="matched") & Q(match__isnull=True)),
                name="bank_line_matched_has_match",
            ),
            models.CheckConstraint(
                condition=~Q(state="explained") | ~Q(explanation=""),
                name="bank_line_explained_has_text",
            ),
        ]
        indexes = [
            models.Index(fields=["bank_account", "state", "booking_date"], name="bank_line_state"),
        ]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount_minor} {self.currency} {self.reference}"


class MatchedEntry(models.Model):
    """One journal entry in a match, with its net posting to the bank account (+ money in)."""

    match = models.ForeignKey(BankMatch, on_delete=models.CASCADE, related_name="entries")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    amount_minor = models.BigIntegerField()

    class Meta:
        db_table = "trust_bank_matched_entry"
        constraints = [
            models.UniqueConstraint(
                fields=["bank_account", "entry"], name="bank_entry_matched_once"
            ),
        ]

    def __str__(self) -> str:
        return f"entry #{self.entry_id} in match #{self.match_id}"


class Reconciliation(models.Model):
    """Three-way reconciliation of one bank account on a statement date. A draft is recomputed
    when looked at; signing off keeps its figures and items (``figures``) and locks it."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SIGNED_OFF = "signed_off", "Signed off"
        SUPERSEDED = "superseded", "Signed off, then reconciled again"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="reconciliations")
    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, related_name="reconciliations"
    )
    as_of = models.DateField()
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    bank_closing_minor = models.BigIntegerField(default=0)
    adjusted_bank_minor = models.BigIntegerField(default=0)
    ledger_bank_minor = models.BigIntegerField(default=0)
    held_minor = models.BigIntegerField(
        default=0, help_text="Sub-ledgers, unallocated, payables, in transit, administration."
    )
    unexplained_minor = models.BigIntegerField(default=0)
    figures = models.JSONField(default=dict, help_text="Every figure and item, as signed off.")
    figures_sha256 = models.CharField(max_length=64, blank=True)
    signed_off_at = models.DateTimeField(null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_bank_reconciliation"
        ordering = ["-as_of", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bank_account", "as_of"],
                condition=Q(status="signed_off"),
                name="bank_reconciliation_one_signed_per_day",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(signed_off_at__isnull=False),
                name="bank_reconciliation_signed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation of {self.bank_account} on {self.as_of}"


class ReconciliationChange(models.Model):
    """A change to what a signed-off reconciliation covered, made after it was signed off: a line
    matched, unmatched or explained again, an entry dated in its period. Never silently accepted:
    listed beside the reconciliation until a trustee reconciles the period again."""

    reconciliation = models.ForeignKey(
        Reconciliation, on_delete=models.PROTECT, related_name="changes"
    )
    what = models.CharField(max_length=300)
    amount_minor = models.BigIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        db_table = "trust_bank_reconciliation_change"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return self.what


class SharedCharge(models.Model):
    """Interest credited by the bank, or a fee or expense charged to the trust, shared among the
    beneficiaries in one entry; its shares are the schedule shown with it."""

    class Kind(models.TextChoices):
        INTEREST = "interest", "Interest"
        BANK_FEE = "bank_fee", "Bank charges"
        TRUSTEE_FEE = "trustee_fee", "Trustee's fee"
        EXPENSE = "expense", "Administration expense"

    class Rule(models.TextChoices):
        AVERAGE_DAILY_BALANCE = "average_daily", "In proportion to average daily balance"
        PRO_RATA = "pro_rata", "Pro rata to balance"
        EQUAL = "equal", "Equally"
        ADMINISTRATION = "admin", "From the administration fund"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="shared_charges")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    rule = models.CharField(max_length=14, choices=Rule.choices)
    entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="shared_charge", db_constraint=False
    )
    amount_minor = models.BigIntegerField(help_text="Positive: credited (interest) or charged.")
    currency = models.CharField(max_length=3)
    effective_date = models.DateField()
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    order_reference = models.CharField(
        max_length=200, blank=True, help_text="The court order that approved the fee or expense."
    )
    description = models.CharField(max_length=300, blank=True)
    line = models.ForeignKey(
        StatementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_shared_charge"
        ordering = ["-effective_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="shared_charge_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_minor} {self.currency}"


class SharedChargeShare(models.Model):
    """One beneficiary's share and what it was computed from: for interest, the sum of the
    sub-ledger's end-of-day balances over the period (``basis_minor``; divided by ``days`` it is
    the average daily balance); for a fee shared pro rata, the balance."""

    charge = models.ForeignKey(SharedCharge, on_delete=models.PROTECT, related_name="shares")
    beneficiary = models.ForeignKey("trust.Beneficiary", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    basis_minor = models.BigIntegerField(default=0)
    days = models.PositiveIntegerField(default=0)
    share_minor = models.BigIntegerField()

    class Meta:
        db_table = "trust_shared_charge_share"
        ordering = ["charge_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge", "account"], name="shared_charge_share_unique"
            ),
            models.CheckConstraint(condition=Q(share_minor__gte=0), name="shared_share_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.share_minor} to account #{self.account_id}"
