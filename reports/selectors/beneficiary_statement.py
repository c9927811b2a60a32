"""The figures of a beneficiary statement (``reports/documents/beneficiary_statement.py``): each
sub-ledger's movements over the period with a running balance, and what was reserved at its end."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from disbursements.models import Status as RequestStatus
from reports.db import as_date, as_datetime
from reports.db import rows as _rows
from reports.periods import Period
from reports.selectors.entries import (
    EntryInfo,
    EntryRow,
    column_in,
    entry_infos,
    id_chunks,
    placeholders,
)
from trust.models import Account, Beneficiary, EntryKind, Trust


@dataclass
class StatementLine:
    entry_id: int
    date: date
    description: str
    amount_minor: int  # + paid in to the sub-ledger, - paid out of it
    balance_minor: int
    group: str  # allocations | disbursements | fees | exchange | other


@dataclass
class Reservation:
    request_id: int
    category: str
    partner: str
    approved_on: date
    amount_minor: int


@dataclass
class StatementSection:
    """One sub-ledger (one currency) of the beneficiary over the period."""

    currency: str
    account_code: str
    opening_minor: int
    lines: list[StatementLine]
    reservations: list[Reservation]

    @property
    def closing_minor(self) -> int:
        return self.lines[-1].balance_minor if self.lines else self.opening_minor

    @property
    def reserved_minor(self) -> int:
        return sum(r.amount_minor for r in self.reservations)

    @property
    def available_minor(self) -> int:
        return self.closing_minor - self.reserved_minor

    def total(self, group: str) -> int:
        return sum(line.amount_minor for line in self.lines if line.group == group)

    @property
    def points(self) -> list[tuple[date, int]]:
        """The balance at the end of each day with a movement (for the chart)."""
        points: dict[date, int] = {}
        for line in self.lines:
            points[line.date] = line.balance_minor
        return sorted(points.items())


STATEMENT_GROUPS = {
    "allocations": "Receipts allocated",
    "disbursements": "Disbursements",
    "fees": "Fees",
    "exchange": "Exchange gains and losses",
    "other": "Other adjustments",
}


def _statement_group(info: EntryInfo) -> str:
    """The summary line of a statement an entry belongs to; a reversal goes with what it
    reverses (a bounced receipt lowers the receipts allocated)."""
    kind = info.origin or info.kind
    if info.klass in ("receipts", "interest", "other_income") or kind in (
        EntryKind.ALLOCATION,
        EntryKind.RECEIPT,
    ):
        return "allocations"
    if info.klass == "disbursements" or kind in (EntryKind.PAYMENT, EntryKind.RETURN):
        return "disbursements"
    if info.klass == "fees" or kind == EntryKind.FEE:
        return "fees"
    if info.klass == "fx" or kind == EntryKind.FX:
        return "exchange"
    return "other"


@dataclass
class BeneficiaryStatementFigures:
    trust: Trust
    beneficiary: Beneficiary
    period: Period
    sections: list[StatementSection]

    @property
    def subject(self) -> dict[str, Any]:
        return {"beneficiary": self.beneficiary.pk, "pseudonym": self.beneficiary.pseudonym}

    def figures(self) -> dict[str, Any]:
        return {
            "sections": [
                {
                    "currency": s.currency,
                    "account": s.account_code,
                    "opening": s.opening_minor,
                    "lines": [
                        [line.entry_id, line.date.isoformat(), line.amount_minor]
                        for line in s.lines
                    ],
                    "totals": {g: s.total(g) for g in STATEMENT_GROUPS},
                    "closing": s.closing_minor,
                    "reserved": [[r.request_id, r.amount_minor] for r in s.reservations],
                    "available": s.available_minor,
                }
                for s in self.sections
            ]
        }


def _local_date(moment: Any) -> date:
    """A stored time as the trust's local date."""
    return timezone.localtime(as_datetime(moment)).date()


def reservations_at(sub_ledger_ids: Sequence[int], day: date) -> dict[int, list[Reservation]]:
    """Sub-ledger id -> the approved requests whose money was reserved at the end of ``day``:
    approved on or before it and neither paid (by the payment's value date) nor released
    (cancelled) by then. History, not the current status, so a closed period reads the same
    whenever it is printed."""
    result: dict[int, list[Reservation]] = defaultdict(list)
    if not sub_ledger_ids:
        return result
    where, params = column_in("q.sub_ledger_id", list(sub_ledger_ids))
    requests = {
        pk: (sub, category, int(reserve), partner)
        for pk, sub, category, reserve, partner in _rows(
            "SELECT q.id, q.sub_ledger_id, q.category, q.reserve_minor, c.name"
            " FROM disbursements_request q JOIN disbursements_care_partner c ON c.id = q.partner_id"
            f" WHERE {where} AND q.reserve_minor IS NOT NULL",
            params,
        )
    }
    if not requests:
        return result
    approved: dict[int, date] = {}
    released: dict[int, date] = {}
    ids = sorted(requests)
    for chunk in id_chunks(ids):
        where, params = column_in("request_id", chunk)
        for request_id, status_from, status_to, at in _rows(
            "SELECT request_id, status_from, status_to, at FROM disbursements_request_event"
            f" WHERE {where} ORDER BY at, id",
            params,
        ):
            if status_to == RequestStatus.APPROVED and request_id not in approved:
                approved[request_id] = _local_date(at)
            elif (
                status_from == RequestStatus.APPROVED
                and status_to != RequestStatus.PAID
                and request_id not in released
            ):
                released[request_id] = _local_date(at)
        for request_id, value_date in _rows(
            f"SELECT request_id, value_date FROM disbursements_payment WHERE {where}", params
        ):
            released[request_id] = as_date(value_date)
    for pk in ids:
        sub, category, reserve, partner = requests[pk]
        start = approved.get(pk)
        if start is None or start > day:
            continue
        end = released.get(pk)
        if end is not None and end <= day:
            continue
        result[sub].append(
            Reservation(
                request_id=pk,
                category=category,
                partner=partner,
                approved_on=start,
                amount_minor=reserve,
            )
        )
    return result


@dataclass(frozen=True)
class _SubLedger:
    pk: int
    code: str
    currency: str


def beneficiary_statement_figures(
    *, beneficiary: Beneficiary, period: Period, trust: Trust | None = None
) -> BeneficiaryStatementFigures:
    """Opening balance, every movement of the beneficiary's sub-ledgers in the period with a
    running balance, what was reserved at the end of it and the closing and available balances,
    per currency."""
    accounts: list[_SubLedger] = []
    opening: dict[int, int] = {}
    with_requests: list[int] = []  # sub-ledgers that ever had money reserved
    for pk, code, currency, balance, reserving in _rows(
        "SELECT a.id, a.code, a.currency, (SELECT COALESCE(SUM(d.net_minor), 0)"
        " FROM trust_account_day d WHERE d.account_id = a.id AND d.day <= %s),"
        " EXISTS (SELECT 1 FROM disbursements_request q WHERE q.sub_ledger_id = a.id"
        " AND q.reserve_minor IS NOT NULL)"
        " FROM trust_account a WHERE a.beneficiary_id = %s AND a.role = %s"
        " ORDER BY a.currency, a.code",
        [period.day_before, beneficiary.pk, Account.Role.SUB_LEDGER],
    ):
        accounts.append(_SubLedger(pk, code, currency))
        opening[pk] = int(balance)
        if reserving:
            with_requests.append(pk)
    ids = [a.pk for a in accounts]
    movements: list[tuple[int, int, date, int]] = []
    known: dict[int, EntryRow] = {}
    if ids:
        # The postings of the period with their entries, in one read.
        for entry_id, account_id, day, amount, kind, memo, reverses, reason in _rows(
            "SELECT p.entry_id, p.account_id, p.effective_date, p.amount_minor, e.kind, e.memo,"
            " e.reverses_id, e.reason FROM trust_posting p JOIN trust_entry e ON e.id = p.entry_id"
            f" WHERE p.account_id IN ({placeholders(len(ids))})"
            " AND p.effective_date >= %s AND p.effective_date <= %s",
            [*ids, period.start, period.end],
        ):
            day = as_date(day)
            movements.append((entry_id, account_id, day, int(amount)))
            known[entry_id] = (kind, day, memo, reverses, reason)
    movements.sort(key=lambda row: (row[2], row[0]))
    infos = entry_infos(known, known=known)
    reserved = reservations_at(with_requests, period.end)
    sections: list[StatementSection] = []
    for account in accounts:
        balance = opening[account.pk]
        lines: list[StatementLine] = []
        per_entry: dict[int, int] = defaultdict(int)
        order: list[tuple[date, int]] = []
        for entry_id, account_id, day, amount in movements:
            if account_id != account.pk:
                continue
            if entry_id not in per_entry:
                order.append((day, entry_id))
            per_entry[entry_id] += -amount  # a liability: a credit is money paid in
        for day, entry_id in order:
            amount = per_entry[entry_id]
            if amount == 0:
                continue
            balance += amount
            info = infos[entry_id]
            lines.append(
                StatementLine(
                    entry_id=entry_id,
                    date=day,
                    description=info.description,
                    amount_minor=amount,
                    balance_minor=balance,
                    group=_statement_group(info),
                )
            )
        sections.append(
            StatementSection(
                currency=account.currency,
                account_code=account.code,
                opening_minor=opening[account.pk],
                lines=lines,
                reservations=reserved.get(account.pk, []),
            )
        )
    return BeneficiaryStatementFigures(
        trust=trust if trust is not None else beneficiary.trust,
        beneficiary=beneficiary,
        period=period,
        sections=sections,
    )
