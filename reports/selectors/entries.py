"""What each ledger entry was, in words and classes a court reads; balances at a date; and the
helpers every document's raw reads share (IN lists of ids, the natural order of pseudonyms).

Descriptions are built from structured data (kinds, numbers, categories, pseudonyms, partner
names), never from free text typed about a child (a request's purpose is not printed anywhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection

from disbursements.models import Category
from reports.db import as_date
from reports.db import rows as _rows
from trust.models import Allocation, EntryKind, Receipt

_CHUNK = 500  # ids per IN (...) list: SQLite allows 999 parameters


def natural_key(text: str) -> tuple:
    """``MV-2`` before ``MV-10``: numbers inside a pseudonym compare as numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", text)
        if part
    )


def id_chunks(ids: Sequence[int], size: int = 0) -> Iterable[Sequence[int]]:
    """``ids`` in slices small enough for one IN list (one large slice on PostgreSQL)."""
    # PostgreSQL takes the ids as one array (see column_in): large reads there, not many small ones.
    size = size or (200_000 if connection.vendor == "postgresql" else _CHUNK)
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def column_in(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``column`` is one of ``ids``: one array parameter on PostgreSQL (``= ANY(%s)``: one
    prepared statement whatever the count, no list of thousands of values to parse and plan),
    a list of parameters on SQLite."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({placeholders(len(ids))})", list(ids)


def placeholders(n: int) -> str:
    """``n`` comma-separated ``%s`` parameters for a raw query."""
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
    for chunk in id_chunks(ids):
        where, params = column_in("r.entry_id", chunk)
        for entry_id, pk, source, reference, payer in _rows(
            "SELECT r.entry_id, r.id, r.source, r.bank_reference, d.name FROM trust_receipt r"
            f" LEFT JOIN trust_defendant d ON d.id = r.payer_id WHERE {where}",
            params,
        ):
            found[entry_id] = _ReceiptRow(pk, source, reference or "", payer or "")
    return found


def _allocations_by_entry(ids: Sequence[int]) -> dict[int, tuple[str, _ReceiptRow]]:
    found: dict[int, tuple[str, _ReceiptRow]] = {}
    for chunk in id_chunks(ids):
        where, params = column_in("a.entry_id", chunk)
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
    for chunk in id_chunks(ids, 0 if connection.vendor == "postgresql" else 150):
        wheres, params = [], []
        for role in PAYMENT_ROLES:
            where, values = column_in(f"p.{role}_entry_id", chunk)
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
        for chunk in id_chunks(ids):
            where, params = column_in("id", chunk)
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


# --- balances --------------------------------------------------------------------------------


def balances_at(account_ids: Sequence[int], day: date) -> dict[int, int]:
    """Account id -> balance (normal side) at the end of ``day``, from the daily totals."""
    result = dict.fromkeys(account_ids, 0)
    for chunk in id_chunks(list(account_ids)):
        where, params = column_in("account_id", chunk)
        for pk, total in _rows(
            "SELECT account_id, COALESCE(SUM(net_minor), 0) FROM trust_account_day"
            f" WHERE {where} AND day <= %s GROUP BY account_id",
            [*params, day],
        ):
            result[pk] = int(total)
    return result
