"""Trusts and the double-entry ledger.

Amounts in the ledger are integers in the currency's minor unit (``*_minor``), never floats or SQLite
REALs; ``Money`` is built at the boundary (``amount``/``balance`` properties). Entries and postings are
written only by ``trust.services.ledger`` and are immutable: the database refuses updates and deletes
(see ``trust/db.py``). Balances are signed by the account's normal side, so a beneficiary's sub-ledger
(a liability) shows what the trust owes that child as a positive number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from moneyed import Money

from trust.money import from_minor


class Trust(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    caption = models.CharField(
        max_length=300, help_text="Case caption, e.g. 'United States v. ...'"
    )
    court = models.CharField(max_length=200)
    case_number = models.CharField(max_length=100)
    base_currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    majority_age = models.PositiveSmallIntegerField(
        default=18,
        help_text="Age at which, under the trust's terms, a beneficiary may receive funds directly.",
    )
    lock_date = models.DateField(
        null=True,
        blank=True,
        help_text="Entries dated on or before this date are refused (closed period).",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="The trustees' time zone (IANA name): the day an entry is booked on by default "
        "and how the trust's pages show times.",
    )
    caseworker_second_factor = models.BooleanField(
        default=False,
        help_text="Caseworkers of the partners serving this trust sign in with a second factor too.",
    )
    closed_on = models.DateField(
        null=True, blank=True, help_text="The day the books closed for good (a final account)."
    )
    retention_years = models.PositiveSmallIntegerField(
        default=7,
        help_text="Years the children's identifying data is kept after the trust closes; then it "
        "may be erased (two trustees).",
    )
    charge_sharing = models.CharField(
        max_length=10,
        choices=[("pro_rata", "Pro rata to balance"), ("equal", "Equally")],
        default="pro_rata",
        help_text="How fees and expenses the court approves are shared among the beneficiaries.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_trust"
        ordering = ["caption"]
        constraints = [
            models.UniqueConstraint(fields=["court", "case_number"], name="trust_unique_case"),
            models.CheckConstraint(
                condition=Q(majority_age__gte=14, majority_age__lte=25),
                name="trust_majority_age_range",
            ),
            models.CheckConstraint(
                condition=Q(retention_years__gte=1, retention_years__lte=100),
                name="trust_retention_years_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.caption} ({self.case_number})"


class Account(models.Model):
    class Type(models.TextChoices):
        ASSET = "asset", "Asset"
        LIABILITY = "liability", "Liability"
        INCOME = "income", "Income"
        EXPENSE = "expense", "Expense"
        EQUITY = "equity", "Equity"

    class Role(models.TextChoices):
        """What the account is for; the trust identity (DOMAIN rule 2) is computed by role."""

        BANK = "bank", "Bank account"
        SUB_LEDGER = "sub_ledger", "Beneficiary sub-ledger"
        UNALLOCATED = "unallocated", "Unallocated receipts"
        PAYABLE = "payable", "Amounts payable"
        IN_TRANSIT = "in_transit", "Payments in transit"
        ADMINISTRATION = "admin", "Trust administration fund"
        TRADING = "trading", "Currency trading"
        RECEIVABLE = "receivable", "Receivable"
        INCOME = "income", "Income"
        EXPENSE = "expense", "Expense"
        EQUITY = "equity", "Equity"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="accounts")
    code = models.CharField(max_length=60)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=Type.choices)
    role = models.CharField(max_length=12, choices=Role.choices)
    currency = models.CharField(max_length=3)
    beneficiary = models.ForeignKey(
        "trust.Beneficiary",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
    )
    no_negative = models.BooleanField(
        default=False, help_text="Refuse any posting that would take the balance below zero."
    )
    balance_minor = models.BigIntegerField(
        default=0, help_text="Current balance on the account's normal side, in minor units."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "trust_account"
        ordering = ["trust_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["trust", "code"], name="account_unique_code"),
            models.CheckConstraint(
                condition=Q(no_negative=False) | Q(balance_minor__gte=0),
                name="account_no_negative_balance",
                violation_error_message="This account may not go below zero.",
            ),
            models.CheckConstraint(
                condition=Q(type__in=["asset", "liability", "income", "expense", "equity"]),
                name="account_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(role="sub_ledger", beneficiary__isnull=False, type="liability")
                | (~Q(role="sub_ledger") & Q(beneficiary__isnull=True)),
                name="account_sub_ledger_has_beneficiary",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name} [{self.currency}]"

    @property
    def normal_sign(self) -> int:
        """+1 where debits increase the balance (assets, expenses), -1 otherwise."""
        return 1 if self.type in (self.Type.ASSET, self.Type.EXPENSE) else -1

    @property
    def balance(self) -> Money:
        return from_minor(self.balance_minor, self.currency)


class EntryKind(models.TextChoices):
    OPENING = "opening", "Opening balance"
    RECEIPT = "receipt", "Receipt"
    ALLOCATION = "allocation", "Allocation"
    DISBURSEMENT = "disbursement", "Disbursement"
    PAYMENT = "payment", "Payment"
    SETTLEMENT = "settlement", "Payment settled"
    SHORTFALL = "shortfall", "Payment shortfall"
    RETURN = "return", "Returned payment"
    FX = "fx", "Currency exchange"
    FEE = "fee", "Fee"
    INTEREST = "interest", "Interest"
    TRANSFER = "transfer", "Transfer"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal"


class ImmutableLedgerRow(models.Model):
    """Entries and postings are written only by the posting service and never changed."""

    class Meta:
        abstract = True

    def save(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            f"{type(self).__name__} rows are written only by trust.services.ledger and never changed"
        )

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise TypeError(f"{type(self).__name__} rows are immutable; post a reversing entry")


class JournalEntry(ImmutableLedgerRow):
    # No index of its own on trust: (trust, idempotency_key) and (trust, effective_date) lead with it.
    # No database foreign key here nor on the posting's entry and account (db_constraint=False):
    # each would add a row-locking check per row at commit, more than the posting itself costs in
    # bulk. The ledger's commit-time trigger checks that all three exist, and trusts and accounts
    # refuse DELETE (trust/db.py), so nothing a key would prevent can happen.
    trust = models.ForeignKey(
        Trust,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    effective_date = models.DateField()
    recorded_at = models.DateTimeField()
    memo = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    idempotency_key = models.CharField(max_length=200)
    payload_hash = models.CharField(max_length=64)
    # Unique where set (constraint below): an entry is reversed at most once, and the many
    # entries that reverse nothing add nothing to the index.
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        db_index=False,
    )
    reason = models.TextField(blank=True)
    # Users are deactivated, never deleted, so this key needs no index on the hot insert path.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )

    class Meta:
        db_table = "trust_entry"
        ordering = ["id"]
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(fields=["trust", "idempotency_key"], name="entry_unique_key"),
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="entry_reversed_once",
                violation_error_message="This entry was already reversed.",
            ),
            models.CheckConstraint(
                condition=Q(reverses__isnull=True) | ~Q(reason=""), name="entry_reversal_has_reason"
            ),
        ]
        indexes = [models.Index(fields=["trust", "effective_date"], name="entry_trust_date")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.effective_date} {self.kind} {self.memo[:40]}"

    @property
    def reversed_by(self) -> JournalEntry | None:
        """The entry that reverses this one, if any."""
        return self.reversals.first()


class Posting(ImmutableLedgerRow):
    """One leg of an entry: a signed amount, debit positive and credit negative."""

    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="postings",
        db_index=False,
        db_constraint=False,
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    effective_date = models.DateField(help_text="Copied from the entry, for per-account reads.")

    class Meta:
        db_table = "trust_posting"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="posting_nonzero"),
        ]
        indexes = [
            models.Index(fields=["account", "effective_date"], name="posting_account_date"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount_minor} {self.currency}"

    @property
    def amount(self) -> Money:
        return from_minor(self.amount_minor, self.currency)


class AccountDay(models.Model):
    """Net movement of one account on one effective date (normal side), kept by the posting
    service in the same statement as the balance: balance as of a date sums these, at most one row
    per day instead of one per posting."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="days", db_index=False
    )
    day = models.DateField()
    net_minor = models.BigIntegerField()

    class Meta:
        db_table = "trust_account_day"
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="account_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} {self.net_minor}"


class LedgerCheck(models.Model):
    """One run of the ledger invariant check (command or nightly task)."""

    operation_id = models.CharField(max_length=64, unique=True)
    trust = models.ForeignKey(Trust, null=True, blank=True, on_delete=models.PROTECT)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    summary = models.JSONField(default=dict)
    violations = models.JSONField(default=list)

    class Meta:
        db_table = "trust_ledger_check"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"ledger check {self.operation_id} ok={self.ok}"
