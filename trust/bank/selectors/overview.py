"""What the bank pages and the API show beside the services' own figures: each ledger bank
account with its bank details and where it stands, a statement line's match with its entries,
the entries a trustee may match a line with by hand, and a signed-off reconciliation's figures as
they were signed (nothing written)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from trust.bank.models import (
    BankAccount,
    BankMatch,
    BankStatement,
    MatchedEntry,
    Reconciliation,
    StatementLine,
)
from trust.bank.selectors.ledger import candidates
from trust.bank.selectors.reconciliation import Figures, Item, latest_signed_off
from trust.models import Account, JournalEntry, Trust

PICKER_DAYS = 30


@dataclass(frozen=True)
class BankAccountRow:
    """One of the trust's ledger bank accounts, with what the bank says of it."""

    account: Account
    bank: BankAccount | None
    last_statement: BankStatement | None
    unmatched: int
    signed_off: Reconciliation | None


def bank_account_rows(*, trust: Trust) -> list[BankAccountRow]:
    """Every ledger account of role BANK of ``trust``, by code: its bank details (None until a
    trustee gives them), its last statement with a closing balance, how many of its lines wait
    for a match, and its latest signed-off reconciliation."""
    accounts = list(trust.accounts.filter(role=Account.Role.BANK).order_by("code"))
    banks = {
        b.account_id: b
        for b in BankAccount.objects.filter(trust=trust).annotate(
            unmatched=Count("lines", filter=Q(lines__state=StatementLine.State.UNMATCHED))
        )
    }
    rows = []
    for account in accounts:
        bank = banks.get(account.pk)
        if bank is not None:
            bank.account = account  # the same object: no query for it again
        rows.append(
            BankAccountRow(
                account=account,
                bank=bank,
                last_statement=last_statement(bank=bank) if bank else None,
                unmatched=getattr(bank, "unmatched", 0) if bank else 0,
                signed_off=latest_signed_off(bank=bank) if bank else None,
            )
        )
    return rows


def bank_accounts_standing(*, trust: Trust) -> QuerySet[BankAccount]:
    """The trust's bank accounts (by id) with where each stands, in one query: its last statement
    with a closing balance (id, date, balance), how many lines wait for a match, and its latest
    signed-off reconciliation."""
    last = BankStatement.objects.filter(
        bank_account=OuterRef("pk"), closing_minor__isnull=False, to_date__isnull=False
    ).order_by("-to_date", "-id")
    signed = Reconciliation.objects.filter(
        bank_account=OuterRef("pk"), status=Reconciliation.Status.SIGNED_OFF
    ).order_by("-as_of", "-id")
    waiting = (
        StatementLine.objects.filter(
            bank_account=OuterRef("pk"), state=StatementLine.State.UNMATCHED
        )
        .order_by()
        .values("bank_account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        BankAccount.objects.filter(trust=trust)
        .select_related("account")
        .annotate(
            last_statement_id=Subquery(last.values("pk")[:1]),
            last_statement_date=Subquery(last.values("to_date")[:1]),
            last_closing_minor=Subquery(last.values("closing_minor")[:1]),
            unmatched_lines=Coalesce(Subquery(waiting), 0),
            latest_signed_off_id=Subquery(signed.values("pk")[:1]),
        )
        .order_by("pk")
    )


def last_statement(*, bank: BankAccount) -> BankStatement | None:
    """The statement with the latest closing balance (notifications have none)."""
    return (
        BankStatement.objects.filter(bank_account=bank, closing_minor__isnull=False)
        .exclude(to_date__isnull=True)
        .order_by("-to_date", "-id")
        .first()
    )


def bank_statements(*, bank: BankAccount) -> QuerySet[BankStatement]:
    """The account's statements, newest first, with how many lines each holds."""
    return (
        BankStatement.objects.filter(bank_account=bank)
        .select_related("source")
        .annotate(line_count=Count("lines"))
        .order_by("-to_date", "-id")
    )


def bank_imports(*, bank: BankAccount) -> QuerySet[Any]:
    return bank.imports.select_related("imported_by").order_by("-imported_at", "-id")


@dataclass(frozen=True)
class EntryRow:
    """A journal entry as the bank sees it: its net posting to the bank account (+ money in)."""

    entry_id: int
    amount_minor: int
    day: Any
    memo: str
    same_amount: bool = False


def match_entries(*, match: BankMatch) -> list[EntryRow]:
    """The entries of ``match`` with their amounts, by date."""
    rows = list(MatchedEntry.objects.filter(match=match).values_list("entry_id", "amount_minor"))
    entries = JournalEntry.objects.filter(pk__in=[e for e, _ in rows]).in_bulk()
    out = [
        EntryRow(
            entry_id=entry_id,
            amount_minor=amount,
            day=getattr(entries.get(entry_id), "effective_date", None),
            memo=getattr(entries.get(entry_id), "memo", ""),
        )
        for entry_id, amount in rows
    ]
    return sorted(out, key=lambda r: (r.day or date.min, r.entry_id))


def line_candidates(*, line: StatementLine, days: int = PICKER_DAYS) -> list[EntryRow]:
    """Unmatched entries moving the line's bank account with the same sign, dated within
    ``days`` of the line: those of the line's own amount first, then by distance in days."""
    day = line.value_date or line.booking_date
    found = candidates(
        bank=line.bank_account,
        start=day - timedelta(days=days),
        end=day + timedelta(days=days),
        refs=False,
    )
    positive = line.amount_minor > 0
    found = [c for c in found if (c.amount_minor > 0) == positive]
    memos = dict(
        JournalEntry.objects.filter(pk__in=[c.entry_id for c in found]).values_list("pk", "memo")
    )
    rows = [
        EntryRow(
            entry_id=c.entry_id,
            amount_minor=c.amount_minor,
            day=c.day,
            memo=memos.get(c.entry_id, ""),
            same_amount=c.amount_minor == line.amount_minor,
        )
        for c in found
    ]
    return sorted(
        rows, key=lambda r: (not r.same_amount, abs((r.day - day).days), r.day, r.entry_id)
    )


def lines_alongside(*, line: StatementLine, days: int = PICKER_DAYS) -> QuerySet[StatementLine]:
    """Other lines of the account not yet matched, of the same sign and within ``days``: lines
    a trustee may match together with this one (several credits for one entry)."""
    day = line.booking_date
    sign = Q(amount_minor__gt=0) if line.amount_minor > 0 else Q(amount_minor__lt=0)
    return (
        StatementLine.objects.filter(
            sign,
            bank_account_id=line.bank_account_id,
            booking_date__gte=day - timedelta(days=days),
            booking_date__lte=day + timedelta(days=days),
        )
        .exclude(state=StatementLine.State.MATCHED)
        .exclude(pk=line.pk)
        .order_by("booking_date", "pk")
    )


def figures_signed(*, reconciliation: Reconciliation) -> Figures | None:
    """The figures a reconciliation was signed off on, as ``Figures`` (None for a draft)."""
    data = dict(reconciliation.figures or {})
    if not data:
        return None
    known = {f.name for f in dataclasses.fields(Figures)}
    item_fields = {f.name for f in dataclasses.fields(Item)}
    data["items"] = [
        Item(**{k: v for k, v in i.items() if k in item_fields}) for i in data.get("items", [])
    ]
    data["held"] = [tuple(h) for h in data.get("held", [])]
    return Figures(**{k: v for k, v in data.items() if k in known})


def statement_reconciliations(*, statement: BankStatement) -> QuerySet[Reconciliation]:
    """Every sign-off on ``statement``'s date for its account, newest first."""
    return (
        Reconciliation.objects.filter(
            bank_account_id=statement.bank_account_id, as_of=statement.to_date
        )
        .exclude(status=Reconciliation.Status.DRAFT)
        .select_related("signed_off_by")
        .order_by("-id")
    )


def line_reconciled(*, line: StatementLine) -> Reconciliation | None:
    """The earliest signed-off reconciliation whose period holds ``line``: a change to the line
    is recorded against it."""
    return (
        Reconciliation.objects.filter(
            bank_account_id=line.bank_account_id,
            status=Reconciliation.Status.SIGNED_OFF,
            as_of__gte=line.booking_date,
        )
        .order_by("as_of", "id")
        .first()
    )
