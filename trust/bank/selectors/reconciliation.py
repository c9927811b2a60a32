"""Three-way reconciliation of one bank account on a statement's date, computed from the stored
statements, matches and ledger (nothing written).

From the first imported statement with balances (its start is the reconciliation's start):

    bank's closing balance
  + deposits in transit (entries that put money in the bank account, not yet on a statement)
  + outstanding payments (entries that took money out, not yet on a statement; negative)
  = adjusted bank balance

    ledger's bank account on the same date

and every difference between the two is a listed item: a statement line the ledger does not hold
(or holds only after the date), a statement that does not continue the last closing balance, the
difference between the first statement's opening balance and the ledger on the day before it.
What is left once the items are listed is ``unexplained_minor``: zero unless the books or the
matches were changed behind the services' backs. The third way is the trust identity on the same
date: cash in all the trust's bank accounts in the currency against what is held for the
beneficiaries, unallocated, payable, in transit and in the administration fund.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from trust.bank.models import (
    BankAccount,
    BankStatement,
    MatchedEntry,
    Reconciliation,
    StatementLine,
)
from trust.bank.selectors.ledger import bank_movements
from trust.models import Account, JournalEntry
from trust.money import to_minor
from trust.selectors import account_balance_as_of, trust_identity_as_of

ROLE_ORDER = (
    (Account.Role.SUB_LEDGER, "Held for the beneficiaries (sub-ledgers)"),
    (Account.Role.UNALLOCATED, "Unallocated receipts"),
    (Account.Role.PAYABLE, "Amounts payable"),
    (Account.Role.IN_TRANSIT, "Payments in transit"),
    (Account.Role.ADMINISTRATION, "Administration fund"),
    (Account.Role.TRADING, "Currency trading"),
)


@dataclass(frozen=True)
class Item:
    kind: str  # deposit_in_transit, outstanding_payment, bank_only, gap, opening
    day: str  # ISO date
    description: str
    amount_minor: int
    line_id: int | None = None
    entry_id: int | None = None
    explanation: str = ""


KIND_LABELS = {
    "deposit_in_transit": "Deposits in transit (in the ledger, not yet on the statement)",
    "outstanding_payment": "Outstanding payments (in the ledger, not yet on the statement)",
    "bank_only": "On the statement, not in the ledger by this date",
    "gap": "Statements that do not continue the last closing balance",
    "opening": "The first statement's opening balance against the ledger",
}


@dataclass
class Figures:
    bank_account_id: int
    account_code: str
    currency: str
    statement_id: int
    statement_ref: str
    start: str
    as_of: str
    bank_opening_minor: int
    bank_closing_minor: int
    deposits_in_transit_minor: int
    outstanding_payments_minor: int
    adjusted_bank_minor: int
    ledger_opening_minor: int
    ledger_bank_minor: int
    bank_items_minor: int
    gaps_minor: int
    opening_difference_minor: int
    unexplained_minor: int
    other_bank_minor: int  # the trust's other bank and receivable accounts in the currency
    cash_minor: int
    held: list[tuple[str, str, int]] = field(default_factory=list)  # role, label, amount
    held_minor: int = 0
    outside: dict[str, int] = field(default_factory=dict)
    identity_difference_minor: int = 0
    items: list[Item] = field(default_factory=list)
    lines_matched: int = 0
    lines_total: int = 0

    @property
    def balanced(self) -> bool:
        return self.unexplained_minor == 0 and self.identity_difference_minor == 0

    def items_of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]

    @property
    def groups(self) -> list[tuple[str, str, list[Item], int]]:
        out = []
        for kind, label in KIND_LABELS.items():
            found = self.items_of(kind)
            if found:
                out.append((kind, label, found, sum(i.amount_minor for i in found)))
        return out

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = [asdict(i) for i in self.items]
        return data

    def sha256(self) -> str:
        blob = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def statements_with_balances(*, bank: BankAccount) -> QuerySet[BankStatement]:
    return BankStatement.objects.filter(
        bank_account=bank, closing_minor__isnull=False, notification=False
    ).order_by("to_date", "id")


def _corrections(
    trust_id: int, waiting: set[int], movements: dict[int, tuple[int, date]]
) -> set[int]:
    """Entries among ``waiting`` (in the ledger, not cleared by a statement) that a reversal
    also waiting takes back to the cent: a correction in the books (a receipt keyed twice and
    reversed), which the bank never sees. It is no deposit in transit nor outstanding payment:
    listed, the pair would stay in every later reconciliation, never to clear."""
    if not waiting:
        return set()
    days = [movements[e][1] for e in waiting]
    pairs = JournalEntry.objects.filter(
        trust_id=trust_id,
        effective_date__gte=min(days),
        effective_date__lte=max(days),
        reverses__isnull=False,
    ).values_list("pk", "reverses_id")
    return {
        entry
        for reversal, original in pairs
        if reversal in waiting
        and original in waiting
        and movements[reversal][0] + movements[original][0] == 0
        for entry in (reversal, original)
    }


def reconciliation_figures(*, bank: BankAccount, statement: BankStatement) -> Figures:
    """The reconciliation of ``bank`` on ``statement``'s closing date."""
    if statement.bank_account_id != bank.pk or statement.closing_minor is None:
        raise ValidationError(
            "Reconcile on a statement of this account that gives a closing balance.",
            code="no_balance",
        )
    first = (
        BankStatement.objects.filter(
            bank_account=bank, opening_minor__isnull=False, notification=False
        )
        .order_by("from_date", "id")
        .first()
    )
    if first is None or first.from_date is None or statement.to_date is None:
        raise ValidationError("No statement with balances was imported.", code="no_balance")
    start: date = first.from_date
    as_of: date = statement.to_date
    account = bank.account
    currency = account.currency
    ledger_opening = to_minor(
        account_balance_as_of(account=account, as_of=start - timedelta(days=1))
    )
    lines = list(
        StatementLine.objects.filter(
            bank_account=bank, booking_date__gte=start, booking_date__lte=as_of
        )
        .order_by("booking_date", "statement_id", "position")
        .values_list(
            "pk",
            "booking_date",
            "amount_minor",
            "state",
            "match_id",
            "description",
            "reference",
            "counterparty",
            "explanation",
        )
    )
    line_ids_in = {row[0] for row in lines}
    match_ids = {row[4] for row in lines if row[4]}
    entries_of: dict[int, list[int]] = defaultdict(list)
    match_of_entry: dict[int, int] = {}
    for match_id, entry_id in MatchedEntry.objects.filter(bank_account=bank).values_list(
        "match_id", "entry_id"
    ):
        entries_of[match_id].append(entry_id)
        match_of_entry[entry_id] = match_id
    # An entry booked a few days before the first statement but matched with one of its lines
    # (the bank booked it later) belongs to the statements' period, not to the opening balance.
    early = start - timedelta(days=60)
    movements = {
        entry_id: (amount, day)
        for entry_id, (amount, day) in bank_movements(bank=bank, start=early, end=as_of).items()
        if day >= start or match_of_entry.get(entry_id) in match_ids
    }
    carried_in = sum(amount for amount, day in movements.values() if day < start)
    ledger_opening -= carried_in
    # Lines of the matches that touch the window, wherever they are dated.
    lines_of: dict[int, list[tuple[int, date]]] = defaultdict(list)
    for line_id, day, match_id in StatementLine.objects.filter(
        match_id__in=set(match_ids) | {match_of_entry[e] for e in movements if e in match_of_entry}
    ).values_list("pk", "booking_date", "match_id"):
        lines_of[match_id].append((line_id, day))

    def cleared(match_id: int) -> bool:
        entries = entries_of.get(match_id, [])
        return (
            bool(entries)
            and all(e in movements for e in entries)
            and all(start <= day <= as_of for _, day in lines_of.get(match_id, []))
        )

    items: list[Item] = []
    matched_in = 0
    for pk, day, amount, state, match_id, description, reference, counterparty, note in lines:
        if match_id and cleared(match_id):
            matched_in += 1
            continue
        text = " ".join(t for t in (counterparty, reference, description) if t)[:200]
        if match_id:
            absent = [e for e in entries_of.get(match_id, []) if e not in movements]
            why = (
                f"matched with entry #{absent[0]}, not in the ledger by this date"
                if absent
                else "matched with entries dated after this date"
            )
            text = f"{text} ({why})" if text else why
        items.append(
            Item(
                kind="bank_only",
                day=day.isoformat(),
                description=text or "(no description)",
                amount_minor=amount,
                line_id=pk,
                explanation=note if state == StatementLine.State.EXPLAINED else "",
            )
        )
    waiting = {e for e in movements if not (match_of_entry.get(e) and cleared(match_of_entry[e]))}
    cancelled = _corrections(bank.trust_id, waiting, movements)
    for entry_id, (amount, day) in sorted(movements.items(), key=lambda kv: (kv[1][1], kv[0])):
        match_id = match_of_entry.get(entry_id)
        if (match_id and cleared(match_id)) or entry_id in cancelled:
            continue
        items.append(
            Item(
                kind="deposit_in_transit" if amount > 0 else "outstanding_payment",
                day=day.isoformat(),
                description=f"entry #{entry_id}"
                + (" (matched with a later statement line)" if match_id else ""),
                amount_minor=amount,
                entry_id=entry_id,
            )
        )
    gaps = list(
        BankStatement.objects.filter(
            bank_account=bank,
            continuity=BankStatement.Continuity.GAP,
            from_date__gte=start,
            to_date__lte=as_of,
        ).values_list("statement_id", "from_date", "gap_minor")
    )
    for ref, day, gap in gaps:
        items.append(
            Item(
                kind="gap",
                day=day.isoformat() if day else "",
                description=f"statement {ref or '(no id)'} opens {gap:+d} (minor units) away from"
                " the last closing balance: a statement may be missing",
                amount_minor=gap,
            )
        )
    opening_difference = (first.opening_minor or 0) - ledger_opening
    if opening_difference:
        items.append(
            Item(
                kind="opening",
                day=start.isoformat(),
                description=f"the bank's opening balance on {start.isoformat()} less the ledger's"
                " bank account the day before",
                amount_minor=opening_difference,
            )
        )
    dit = sum(i.amount_minor for i in items if i.kind == "deposit_in_transit")
    op = sum(i.amount_minor for i in items if i.kind == "outstanding_payment")
    bank_items = sum(i.amount_minor for i in items if i.kind == "bank_only")
    gaps_total = sum(gap for _, _, gap in gaps)
    closing = int(statement.closing_minor)
    adjusted = closing + dit + op
    ledger_bank = to_minor(account_balance_as_of(account=account, as_of=as_of))
    unexplained = adjusted - ledger_bank - (bank_items + gaps_total + opening_difference)
    identity = trust_identity_as_of(trust=bank.trust, as_of=as_of).get(currency)
    held: list[tuple[str, str, int]] = []
    cash = ledger_bank
    outside: dict[str, int] = {}
    held_total = 0
    if identity is not None:
        cash = identity.cash_minor
        for role, label in ROLE_ORDER:
            total = identity.by_role.get(role, 0)
            if total or role != Account.Role.TRADING:
                held.append((str(role), label, total))
        held_total = identity.obligations_minor
        outside = dict(identity.outside)
    return Figures(
        bank_account_id=bank.pk,
        account_code=account.code,
        currency=currency,
        statement_id=statement.pk,
        statement_ref=statement.statement_id,
        start=start.isoformat(),
        as_of=as_of.isoformat(),
        bank_opening_minor=int(first.opening_minor or 0),
        bank_closing_minor=closing,
        deposits_in_transit_minor=dit,
        outstanding_payments_minor=op,
        adjusted_bank_minor=adjusted,
        ledger_opening_minor=ledger_opening,
        ledger_bank_minor=ledger_bank,
        bank_items_minor=bank_items,
        gaps_minor=gaps_total,
        opening_difference_minor=opening_difference,
        unexplained_minor=unexplained,
        other_bank_minor=cash - ledger_bank,
        cash_minor=cash,
        held=held,
        held_minor=held_total,
        outside=outside,
        identity_difference_minor=cash - held_total,
        items=items,
        lines_matched=matched_in,
        lines_total=len(line_ids_in),
    )


@dataclass(frozen=True)
class Drift:
    """How a signed-off reconciliation differs from the books today."""

    field: str
    signed_minor: int
    now_minor: int


COMPARED = (
    "bank_closing_minor",
    "adjusted_bank_minor",
    "ledger_bank_minor",
    "deposits_in_transit_minor",
    "outstanding_payments_minor",
    "bank_items_minor",
    "held_minor",
    "cash_minor",
    "unexplained_minor",
)


def reconciliation_drift(*, reconciliation: Reconciliation) -> list[Drift]:
    """What changed in the period since ``reconciliation`` was signed off (an entry dated in it,
    a match changed): nothing when the books still say what was signed."""
    if reconciliation.status == Reconciliation.Status.DRAFT:
        return []
    now = reconciliation_figures(
        bank=reconciliation.bank_account, statement=reconciliation.statement
    )
    signed = reconciliation.figures
    return [
        Drift(name, int(signed.get(name, 0)), getattr(now, name))
        for name in COMPARED
        if int(signed.get(name, 0)) != getattr(now, name)
    ]


# The reports app says where a reconciliation's PDF is (the trust app does not import it):
# fn(reconciliation, user) -> the document's URL, or "" when there is none the user may read.
DocumentLink = Callable[[Reconciliation, Any], str]
_DOCUMENT_LINKS: list[DocumentLink] = []


def reconciliation_document_register(fn: DocumentLink) -> None:
    if fn not in _DOCUMENT_LINKS:
        _DOCUMENT_LINKS.append(fn)


def reconciliation_document(*, reconciliation: Reconciliation, user: Any) -> str:
    for fn in _DOCUMENT_LINKS:
        url = fn(reconciliation, user)
        if url:
            return url
    return ""


def latest_signed_off(*, bank: BankAccount) -> Reconciliation | None:
    return (
        Reconciliation.objects.filter(bank_account=bank, status=Reconciliation.Status.SIGNED_OFF)
        .order_by("-as_of", "-id")
        .first()
    )


def bank_accounts(*, trust: Any) -> QuerySet[BankAccount]:
    return (
        BankAccount.objects.filter(trust=trust).select_related("account").order_by("account__code")
    )


def statement_lines(
    *, bank: BankAccount, state: str = "", search: str = ""
) -> QuerySet[StatementLine]:
    qs = StatementLine.objects.filter(bank_account=bank).order_by(
        "-booking_date", "-statement_id", "-position"
    )
    if state:
        qs = qs.filter(state=state)
    if search:
        qs = qs.filter(
            Q(reference__icontains=search)
            | Q(description__icontains=search)
            | Q(counterparty__icontains=search)
            | Q(bank_reference__icontains=search)
        )
    return qs
