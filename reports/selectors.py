"""The figures of every document, read from the books (nothing here writes).

Each ``*_figures`` function returns plain dataclasses of integer minor units, dates and short
texts; the document modules lay them out and ``figures_json`` is what the verification code hashes.
Descriptions are built from structured data (kinds, numbers, categories, pseudonyms, partner
names), never from free text typed about a child (a request's purpose is not printed anywhere).

The ledger side of a document is a query over postings by (account, effective date), the
index the ledger keeps for exactly this; balances at a date come from the daily account totals,
so an account to the court over a year of a large trust reads each posting of the period once
and nothing before it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from disbursements.models import Category, Payment
from disbursements.models import Status as RequestStatus
from reports.db import as_date, as_datetime
from reports.db import rows as _rows
from reports.periods import Period, long_date
from trust.models import (
    Account,
    Allocation,
    AuditCheckpoint,
    AuditEvent,
    Beneficiary,
    EntryKind,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.selectors import outstanding_by_beneficiary, outstanding_by_defendant

FUNDS_ROLES = (Account.Role.SUB_LEDGER, Account.Role.UNALLOCATED, Account.Role.ADMINISTRATION)
_CHUNK = 500  # ids per IN (...) list: SQLite allows 999 parameters


def natural_key(text: str) -> tuple:
    """``MV-2`` before ``MV-10``: numbers inside a pseudonym compare as numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", text)
        if part
    )


def _chunks(ids: Sequence[int], size: int = 0) -> Iterable[Sequence[int]]:
    # PostgreSQL takes the ids as one array (see _in): large reads there, not many small ones.
    size = size or (200_000 if connection.vendor == "postgresql" else _CHUNK)
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _in(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``column`` is one of ``ids``: one array parameter on PostgreSQL (``= ANY(%s)``: one
    prepared statement whatever the count, no list of thousands of values to parse and plan),
    a list of parameters on SQLite."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({_marks(len(ids))})", list(ids)


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


# --- what each entry was: descriptions and classes ----------------------------------------------

# How an entry's effect on the trust's funds is shown in an account to the court.
CHARGE_CLASSES = {
    "receipts": "Receipts",
    "interest": "Interest",
    "other_income": "Other income",
    "fx_gain": "Exchange gains",
    "adjustment_in": "Other adjustments (increases)",
}
CREDIT_CLASSES = {
    "disbursements": "Disbursements",
    "fees": "Fees and expenses",
    "fx_loss": "Exchange losses",
    "adjustment_out": "Other adjustments (decreases)",
}


@dataclass(frozen=True)
class EntryInfo:
    """What one journal entry was, in words and classes a court reads."""

    id: int
    kind: str
    date: date
    description: str
    klass: str = ""  # see CHARGE_CLASSES / CREDIT_CLASSES; "" where the kind decides by sign
    category: str = ""  # a disbursement's category (payments, returns and their reversals)
    request_id: int | None = None
    beneficiary: str = ""  # pseudonym
    partner: str = ""
    payout: str = ""  # what the partner was to receive, e.g. "50,000.00 PHP at 50.000000"
    origin: str = ""  # a reversal: the kind of the entry it reverses


_RECEIPT_CLASS = {
    Receipt.Source.INTEREST: "interest",
    Receipt.Source.OTHER: "other_income",
}


def _money_text(minor: int, currency: str) -> str:
    from trust.money import format_money, from_minor

    return format_money(from_minor(minor, currency))


RECEIPT_KINDS = {EntryKind.RECEIPT, EntryKind.REVERSAL}
PAYMENT_KINDS = {
    EntryKind.PAYMENT,
    EntryKind.FEE,
    EntryKind.RETURN,
    EntryKind.FX,
    EntryKind.SETTLEMENT,
    EntryKind.SHORTFALL,
    EntryKind.REVERSAL,
}
PAYMENT_ROLES = ("payment", "fee", "return", "fx", "settlement", "shortfall")


@dataclass(frozen=True)
class _ReceiptRow:
    id: int
    source: str
    bank_reference: str
    payer: str


@dataclass(frozen=True)
class _PaymentRow:
    request_id: int
    category: str
    pseudonym: str
    partner: str
    transfer_reference: str
    payout_text: str


def _receipts_by_entry(ids: Sequence[int]) -> dict[int, _ReceiptRow]:
    found: dict[int, _ReceiptRow] = {}
    for chunk in _chunks(ids):
        where, params = _in("r.entry_id", chunk)
        for entry_id, pk, source, reference, payer in _rows(
            "SELECT r.entry_id, r.id, r.source, r.bank_reference, d.name FROM trust_receipt r"
            f" LEFT JOIN trust_defendant d ON d.id = r.payer_id WHERE {where}",
            params,
        ):
            found[entry_id] = _ReceiptRow(pk, source, reference or "", payer or "")
    return found


def _allocations_by_entry(ids: Sequence[int]) -> dict[int, tuple[str, _ReceiptRow]]:
    found: dict[int, tuple[str, _ReceiptRow]] = {}
    for chunk in _chunks(ids):
        where, params = _in("a.entry_id", chunk)
        for entry_id, method, pk, source, reference, payer in _rows(
            "SELECT a.entry_id, a.method, r.id, r.source, r.bank_reference, d.name"
            " FROM trust_allocation a JOIN trust_receipt r ON r.id = a.receipt_id"
            f" LEFT JOIN trust_defendant d ON d.id = r.payer_id WHERE {where}",
            params,
        ):
            found[entry_id] = (method, _ReceiptRow(pk, source, reference or "", payer or ""))
    return found


def _payments_by_entry(ids: Sequence[int]) -> dict[int, tuple[str, _PaymentRow]]:
    """Entry id -> (its role in the payment, the payment): one query per 150 ids."""
    from trust.money import minor_exponent

    found: dict[int, tuple[str, _PaymentRow]] = {}
    columns = ", ".join(f"p.{role}_entry_id" for role in PAYMENT_ROLES)
    for chunk in _chunks(ids, 0 if connection.vendor == "postgresql" else 150):
        wheres, params = [], []
        for role in PAYMENT_ROLES:
            where, values = _in(f"p.{role}_entry_id", chunk)
            wheres.append(where)
            params += values
        for row in _rows(
            f"SELECT {columns}, q.id, q.category, b.pseudonym, c.name, p.transfer_reference,"
            " p.sent_minor, p.currency, p.payout_minor, p.payout_currency"
            " FROM disbursements_payment p"
            " JOIN disbursements_request q ON q.id = p.request_id"
            " JOIN trust_beneficiary b ON b.id = q.beneficiary_id"
            " JOIN disbursements_care_partner c ON c.id = q.partner_id"
            f" WHERE {' OR '.join(wheres)}",
            params,
        ):
            entries = row[: len(PAYMENT_ROLES)]
            number, category, pseudonym, partner, reference, sent, ccy, payout, payout_ccy = row[
                len(PAYMENT_ROLES) :
            ]
            text = _money_text(int(payout), payout_ccy)
            if payout_ccy != ccy:
                rate = (Decimal(int(payout)).scaleb(-minor_exponent(payout_ccy))) / (
                    Decimal(int(sent)).scaleb(-minor_exponent(ccy))
                )
                text += f" at {rate.quantize(Decimal('0.000001'))}"
            payment = _PaymentRow(number, category, pseudonym, partner, reference, text)
            for role, entry_id in zip(PAYMENT_ROLES, entries, strict=True):
                if entry_id is not None:
                    found[entry_id] = (role, payment)
    return found


EntryRow = tuple[str, date, str, int | None, str]  # kind, date, memo, reverses, reason


def entry_infos(
    entry_ids: Iterable[int], known: dict[int, EntryRow] | None = None
) -> dict[int, EntryInfo]:
    """Entry id -> ``EntryInfo`` for every entry given and every entry they reverse: one query
    per table per 500 ids, and only for the tables the entries' kinds need. ``known`` holds
    entry rows the caller already read."""
    rows: dict[int, EntryRow] = dict(known or {})
    wanted = sorted(set(entry_ids))

    def load(ids: Sequence[int]) -> None:
        for chunk in _chunks(ids):
            where, params = _in("id", chunk)
            for pk, kind, day, memo, reverses, reason in _rows(
                "SELECT id, kind, effective_date, memo, reverses_id, reason FROM trust_entry"
                f" WHERE {where}",
                params,
            ):
                rows[pk] = (kind, as_date(day), memo, reverses, reason)

    load([pk for pk in wanted if pk not in rows])
    reversed_ids = sorted({r[3] for r in rows.values() if r[3] and r[3] not in rows})
    load(reversed_ids)
    ids = list(rows)

    kinds = {r[0] for r in rows.values()}
    receipts = _receipts_by_entry(ids) if kinds & RECEIPT_KINDS else {}
    allocations = _allocations_by_entry(ids) if EntryKind.ALLOCATION in kinds else {}
    payments = _payments_by_entry(ids) if kinds & PAYMENT_KINDS else {}

    def receipt_words(receipt: _ReceiptRow) -> str:
        words = f"receipt #{receipt.id}, {Receipt.Source(receipt.source).label.lower()}"
        if receipt.payer:
            words += f" from {receipt.payer}"
        if receipt.bank_reference:
            words += f", ref {receipt.bank_reference}"
        return words

    infos: dict[int, EntryInfo] = {}

    def describe(pk: int) -> EntryInfo:
        if pk in infos:
            return infos[pk]
        kind, day, memo, reverses, reason = rows[pk]
        base: dict[str, Any] = {"id": pk, "kind": kind, "date": day}
        if kind == EntryKind.REVERSAL and reverses in rows:
            target = describe(reverses)
            info = EntryInfo(
                **base,
                description=f"Reversal of entry #{reverses} ({target.description[:1].lower()}"
                f"{target.description[1:]})" + (f": {reason}" if reason else ""),
                klass=target.klass,
                category=target.category,
                request_id=target.request_id,
                beneficiary=target.beneficiary,
                partner=target.partner,
                payout=target.payout,
                origin=target.origin or target.kind,
            )
        elif pk in receipts:
            receipt = receipts[pk]
            words = receipt_words(receipt)
            info = EntryInfo(
                **base,
                description=words[:1].upper() + words[1:],
                klass=_RECEIPT_CLASS.get(receipt.source, "receipts"),
            )
        elif pk in allocations:
            method, receipt = allocations[pk]
            how = {
                Allocation.Method.PRO_RATA: "pro rata",
                Allocation.Method.MANUAL: "by court document",
                Allocation.Method.REVERSAL: "reversed",
            }.get(method, method)
            info = EntryInfo(**base, description=f"Allocation of {receipt_words(receipt)} ({how})")
        elif pk in payments:
            role, payment = payments[pk]
            number, reference = payment.request_id, payment.transfer_reference
            category = Category(payment.category).label
            common = {
                "category": payment.category,
                "request_id": number,
                "beneficiary": payment.pseudonym,
                "partner": payment.partner,
                "payout": payment.payout_text,
            }
            words = {
                "payment": f"Disbursement, request #{number}: {category}, {payment.partner}"
                f" (transfer {reference})",
                "fee": f"Bank fee, request #{number} (transfer {reference})",
                "return": f"Returned by the bank, request #{number}: {category}"
                f" (transfer {reference})",
                "fx": f"Exchange result on the returned payment of request #{number}",
                "settlement": f"Payment of request #{number} cleared",
                "shortfall": f"Shortfall on the payment of request #{number}",
            }[role]
            klass = {
                "payment": "disbursements",
                "return": "disbursements",
                "fee": "fees",
                "fx": "fx",
            }.get(role, "")
            info = EntryInfo(**base, description=words, klass=klass, **common)
        elif kind == EntryKind.RECEIPT:
            # A receipt without a receipt record: earlier books brought in.
            info = EntryInfo(**base, description=memo or "Receipt", klass="receipts")
        elif kind == EntryKind.PAYMENT:
            # A payment without a request: earlier books brought in, or a correction.
            info = EntryInfo(**base, description=memo or "Disbursement", klass="disbursements")
        elif kind == EntryKind.INTEREST:
            info = EntryInfo(**base, description=memo or "Interest", klass="interest")
        elif kind == EntryKind.FEE:
            info = EntryInfo(**base, description=memo or "Fee", klass="fees")
        elif kind == EntryKind.FX:
            info = EntryInfo(**base, description=memo or "Exchange result", klass="fx")
        elif kind == EntryKind.TRANSFER and memo.startswith("To the administration fund"):
            info = EntryInfo(**base, description=memo)
        else:
            info = EntryInfo(**base, description=memo or EntryKind(kind).label)
        infos[pk] = info
        return info

    for pk in wanted:
        if pk in rows:
            describe(pk)
    return infos


def _klass(info: EntryInfo, delta: int) -> str:
    """The summary line an entry's effect on the funds belongs to (exchange results and
    unclassed adjustments by their sign)."""
    if info.klass == "fx":
        return "fx_gain" if delta > 0 else "fx_loss"
    if info.klass:
        return info.klass
    return "adjustment_in" if delta > 0 else "adjustment_out"


# --- balances --------------------------------------------------------------------------------


def balances_at(account_ids: Sequence[int], day: date) -> dict[int, int]:
    """Account id -> balance (normal side) at the end of ``day``, from the daily totals."""
    result = dict.fromkeys(account_ids, 0)
    for chunk in _chunks(list(account_ids)):
        where, params = _in("account_id", chunk)
        for pk, total in _rows(
            "SELECT account_id, COALESCE(SUM(net_minor), 0) FROM trust_account_day"
            f" WHERE {where} AND day <= %s GROUP BY account_id",
            [*params, day],
        ):
            result[pk] = int(total)
    return result


# --- beneficiary statement -------------------------------------------------------------------


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
    where, params = _in("q.sub_ledger_id", list(sub_ledger_ids))
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
    for chunk in _chunks(ids):
        where, params = _in("request_id", chunk)
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
            f" WHERE p.account_id IN ({_marks(len(ids))})"
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


# --- the trustee's account to the court ---------------------------------------------------------


@dataclass
class ScheduleItem:
    entry_id: int
    date: date
    description: str
    amount_minor: int  # signed effect on the funds
    klass: str
    category: str = ""
    request_id: int | None = None
    beneficiary: str = ""
    partner: str = ""
    payout: str = ""


@dataclass
class HolderRow:
    """One line of the table per beneficiary (and the unallocated and administration funds)."""

    label: str
    opening_minor: int
    in_minor: int
    out_minor: int

    @property
    def closing_minor(self) -> int:
        return self.opening_minor + self.in_minor - self.out_minor


@dataclass
class CurrencyAccount:
    currency: str
    opening_minor: int
    closing_minor: int
    items: list[ScheduleItem]
    holders: list[HolderRow]
    # The bank side at the end of the period: role -> balance, and each cash account's balance.
    cash_accounts: list[tuple[str, int]] = field(default_factory=list)
    other_roles: list[tuple[str, int]] = field(default_factory=list)

    def total(self, klass: str) -> int:
        return sum(i.amount_minor for i in self.items if i.klass == klass)

    def by_category(self) -> list[tuple[str, int]]:
        totals: dict[str, int] = defaultdict(int)
        for item in self.items:
            if item.klass == "disbursements":
                totals[item.category] += -item.amount_minor
        known = [(c.value, totals[c.value]) for c in Category if c.value in totals]
        return known + ([("", totals[""])] if "" in totals else [])

    @property
    def charges_minor(self) -> int:
        return self.opening_minor + sum(self.total(k) for k in CHARGE_CLASSES)

    @property
    def credits_minor(self) -> int:
        return self.closing_minor - sum(self.total(k) for k in CREDIT_CLASSES)

    @property
    def cash_minor(self) -> int:
        return sum(balance for _, balance in self.cash_accounts)

    @property
    def reconciles(self) -> bool:
        held = self.closing_minor + sum(balance for _, balance in self.other_roles)
        return self.charges_minor == self.credits_minor and held == self.cash_minor


@dataclass
class CourtAccountFigures:
    trust: Trust
    period: Period
    currencies: list[CurrencyAccount]

    @property
    def subject(self) -> dict[str, Any]:
        return {}

    def figures(self) -> dict[str, Any]:
        return {
            "currencies": [
                {
                    "currency": c.currency,
                    "opening": c.opening_minor,
                    "charges": {k: c.total(k) for k in CHARGE_CLASSES},
                    "credits": {k: -c.total(k) for k in CREDIT_CLASSES},
                    "by_category": c.by_category(),
                    "closing": c.closing_minor,
                    "items": [[i.entry_id, i.date.isoformat(), i.amount_minor] for i in c.items],
                    "holders": [
                        [h.label, h.opening_minor, h.in_minor, h.out_minor, h.closing_minor]
                        for h in c.holders
                    ],
                    "cash": c.cash_accounts,
                    "other": c.other_roles,
                }
                for c in self.currencies
            ]
        }


ROLE_LABELS = {
    Account.Role.IN_TRANSIT: "Payments in transit",
    Account.Role.PAYABLE: "Amounts payable",
    Account.Role.TRADING: "Currency trading (conversions in progress)",
}


def court_account_figures(*, trust: Trust, period: Period) -> CourtAccountFigures:
    """DOMAIN rule 12: per currency, the funds held for the beneficiaries (sub-ledgers,
    unallocated receipts and the administration fund) at the start, every entry of the period
    that changed them, classed as a court reads them, and the funds at the end; a table per
    beneficiary; and the bank side at the end (bank = funds + in transit + payables + trading).

    Balance at start + charges = credits + balance at end is not assumed: the start and end come
    from the daily totals and the items from the postings, so ``reconciles`` is a real check."""
    accounts = list(Account.objects.filter(trust=trust).select_related("beneficiary"))
    funds = [a for a in accounts if a.role in FUNDS_ROLES]
    ids = [a.pk for a in accounts]
    opening = balances_at([a.pk for a in funds], period.day_before)
    closing = balances_at(ids, period.end)
    # The database adds up the period's postings on the funds accounts, per currency: each
    # entry's net effect (only those that changed the funds come back) and, per account, what
    # came in and went out. A year of a large trust is a million postings: summed where they lie.
    changed: dict[tuple[int, str], int] = {}
    entry_day: dict[int, date] = {}
    flows: dict[int, list[int]] = {}
    for currency in sorted({a.currency for a in funds}):
        ids_in = [a.pk for a in funds if a.currency == currency]
        for chunk in _chunks(ids_in):
            where, params = _in("account_id", chunk)
            window = [*params, period.start, period.end]
            for entry_id, day, total in _rows(
                "SELECT entry_id, MIN(effective_date), SUM(amount_minor) FROM trust_posting"
                f" WHERE {where} AND effective_date >= %s"
                " AND effective_date <= %s GROUP BY entry_id HAVING SUM(amount_minor) <> 0",
                window,
            ):
                key = (entry_id, currency)
                changed[key] = changed.get(key, 0) - int(total)
                entry_day[entry_id] = as_date(day)
            for account_id, paid_in, paid_out in _rows(
                "SELECT account_id,"
                " COALESCE(SUM(CASE WHEN amount_minor < 0 THEN -amount_minor ELSE 0 END), 0),"
                " COALESCE(SUM(CASE WHEN amount_minor > 0 THEN amount_minor ELSE 0 END), 0)"
                f" FROM trust_posting WHERE {where} AND effective_date >= %s"
                " AND effective_date <= %s GROUP BY account_id",
                window,
            ):
                flows[account_id] = [int(paid_in), int(paid_out)]
    # An entry whose legs fall in two chunks of accounts is summed per chunk: drop the zeros.
    changed = {key: delta for key, delta in changed.items() if delta != 0}
    infos = entry_infos(entry_id for entry_id, _ in changed)

    currencies = sorted({a.currency for a in funds}, key=lambda c: (c != trust.base_currency, c))
    result: list[CurrencyAccount] = []
    for currency in currencies:
        items = []
        for (entry_id, ccy), delta in sorted(
            changed.items(), key=lambda kv: (entry_day[kv[0][0]], kv[0][0])
        ):
            if ccy != currency:
                continue
            info = infos[entry_id]
            items.append(
                ScheduleItem(
                    entry_id=entry_id,
                    date=entry_day[entry_id],
                    description=info.description,
                    amount_minor=delta,
                    klass=_klass(info, delta),
                    category=info.category,
                    request_id=info.request_id,
                    beneficiary=info.beneficiary,
                    partner=info.partner,
                    payout=info.payout,
                )
            )
        holders: list[HolderRow] = []
        subs = sorted(
            (a for a in funds if a.currency == currency and a.role == Account.Role.SUB_LEDGER),
            key=lambda a: (natural_key(a.beneficiary.pseudonym if a.beneficiary else ""), a.pk),
        )
        for account in subs:
            row = HolderRow(
                account.beneficiary.pseudonym if account.beneficiary else account.code,
                opening[account.pk],
                *flows.get(account.pk, [0, 0]),
            )
            if row.opening_minor or row.in_minor or row.out_minor:
                holders.append(row)
        for role, label in (
            (Account.Role.UNALLOCATED, "Unallocated receipts"),
            (Account.Role.ADMINISTRATION, "Administration fund"),
        ):
            for account in (a for a in funds if a.currency == currency and a.role == role):
                row = HolderRow(label, opening[account.pk], *flows.get(account.pk, [0, 0]))
                if row.opening_minor or row.in_minor or row.out_minor:
                    holders.append(row)
        cash = [
            (f"{a.code} {a.name}", closing[a.pk])
            for a in sorted(accounts, key=lambda a: a.code)
            if a.currency == currency and a.role in (Account.Role.BANK, Account.Role.RECEIVABLE)
        ]
        other: dict[str, int] = defaultdict(int)
        for a in accounts:
            if a.currency == currency and a.role in ROLE_LABELS:
                other[a.role] += closing[a.pk]
        result.append(
            CurrencyAccount(
                currency=currency,
                opening_minor=sum(opening[a.pk] for a in funds if a.currency == currency),
                closing_minor=sum(closing[a.pk] for a in funds if a.currency == currency),
                items=items,
                holders=holders,
                cash_accounts=cash,
                other_roles=[(role, other[role]) for role in ROLE_LABELS if other.get(role)],
            )
        )
    return CourtAccountFigures(trust=trust, period=period, currencies=result)


# --- remittance advice -----------------------------------------------------------------------


@dataclass
class RemittanceFigures:
    trust: Trust
    payment: Payment
    period: Period

    @property
    def subject(self) -> dict[str, Any]:
        return {"payment": self.payment.pk, "partner": self.payment.request.partner_id}

    def figures(self) -> dict[str, Any]:
        p = self.payment
        return {
            "request": p.request_id,
            "category": p.request.category,
            "beneficiary": p.request.beneficiary.pseudonym,
            "transfer_reference": p.transfer_reference,
            "value_date": p.value_date.isoformat(),
            "sent": [p.sent_minor, p.currency],
            "fee": [p.fee_minor, p.currency],
            "payout": [p.payout_minor, p.payout_currency],
            "rate": str(p.rate) if p.cross_currency else None,
        }


def remittance_figures(*, payment: Payment) -> RemittanceFigures:
    """The facts of one payment as recorded from the bank's advice (immutable once recorded)."""
    payment = Payment.objects.select_related(
        "request__beneficiary", "request__partner", "trust", "bank_account"
    ).get(pk=payment.pk)
    return RemittanceFigures(
        trust=payment.trust,
        payment=payment,
        period=Period(payment.value_date, payment.value_date),
    )


# --- restitution order status ------------------------------------------------------------------


@dataclass
class OrderStatusFigures:
    trust: Trust
    period: Period
    orders: list[tuple[str, str]]  # (judgment, description)
    defendants: list[tuple[int, str, str, int, int, int]]  # id, name, ccy, ordered, collected, out
    beneficiaries: list[tuple[int, str, str, int, int, int]]  # id, pseudonym, ccy, ...

    @property
    def subject(self) -> dict[str, Any]:
        return {}

    def figures(self) -> dict[str, Any]:
        return {
            "defendants": [[d[0], d[2], d[3], d[4], d[5]] for d in self.defendants],
            "beneficiaries": [[b[0], b[2], b[3], b[4], b[5]] for b in self.beneficiaries],
        }


def order_status_figures(*, trust: Trust, as_at: date) -> OrderStatusFigures:
    """Ordered, collected and outstanding under the current orders, per defendant and per
    beneficiary, as recorded now (``as_at`` is the day it is printed for)."""
    orders = []
    for order in RestitutionOrder.objects.filter(trust=trust).order_by("judgment_date", "pk"):
        state = "current" if order.status == RestitutionOrder.Status.CURRENT else "superseded"
        orders.append((long_date(order.judgment_date), f"{order} ({state})"))
    names = dict(trust.defendants.values_list("pk", "name"))
    pseudonyms = dict(trust.beneficiaries.values_list("pk", "pseudonym"))
    defendants = [
        (pk, names.get(pk, f"#{pk}"), ccy, o.ordered_minor, o.collected_minor, o.outstanding_minor)
        for pk, per in outstanding_by_defendant(trust=trust).items()
        for ccy, o in sorted(per.items())
    ]
    beneficiaries = [
        (
            pk,
            pseudonyms.get(pk, f"#{pk}"),
            ccy,
            o.ordered_minor,
            o.collected_minor,
            o.outstanding_minor,
        )
        for pk, per in outstanding_by_beneficiary(trust=trust).items()
        for ccy, o in sorted(per.items())
    ]
    return OrderStatusFigures(
        trust=trust,
        period=Period(as_at, as_at),
        orders=orders,
        defendants=sorted(defendants, key=lambda d: (natural_key(d[1]), d[2])),
        beneficiaries=sorted(beneficiaries, key=lambda b: (natural_key(b[1]), b[2])),
    )


# --- audit certificate -------------------------------------------------------------------------


@dataclass
class AuditCertificateFigures:
    trust: Trust
    period: Period
    checkpoint: AuditCheckpoint
    verified_ok: bool
    first_problem: str
    trust_counts: list[tuple[str, int]]
    log_counts: list[tuple[str, int]]

    @property
    def subject(self) -> dict[str, Any]:
        return {}

    def figures(self) -> dict[str, Any]:
        return {
            "signature": self.checkpoint.signature.hex()
            if isinstance(self.checkpoint.signature, bytes)
            else bytes(self.checkpoint.signature).hex(),
            "signed_at": self.checkpoint.signed_at.isoformat(),
            "public_key": bytes(self.checkpoint.public_key).hex(),
            "verified": self.verified_ok,
            "first_problem": self.first_problem,
            "trust_counts": self.trust_counts,
            "log_counts": self.log_counts,
        }


def audit_counts(*, size: int, trust_id: int | None = None) -> list[tuple[str, int]]:
    """Events by action among the first ``size`` of the log (what a checkpoint covers)."""
    events = AuditEvent.objects.filter(sealed__isnull=False, sealed__lte=size)
    if trust_id is not None:
        events = events.filter(trust_id=trust_id)
    return sorted(
        (row["action"], row["n"])
        for row in events.values("action").annotate(n=Count("id")).order_by()
    )


def audit_certificate_figures(
    *, trust: Trust, checkpoint: AuditCheckpoint, as_at: date
) -> AuditCertificateFigures:
    """The checkpoint, a verification of the whole trail now, and what the log holds."""
    from trust.audit.verify import audit_verify

    report = audit_verify()
    return AuditCertificateFigures(
        trust=trust,
        period=Period(as_at, as_at),
        checkpoint=checkpoint,
        verified_ok=report.ok,
        first_problem=str(report.first or ""),
        trust_counts=audit_counts(size=checkpoint.size, trust_id=trust.pk),
        log_counts=audit_counts(size=checkpoint.size),
    )
