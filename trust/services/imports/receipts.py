"""Importing receipts from a CSV file (a bank statement's worth), all or nothing, through
``receipts_record`` (``manage.py import_receipts``); importing the same rows again records nothing
new."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from trust.db_faults import retried_on_conflict
from trust.errors import first_code
from trust.models import Account, Defendant, Receipt, Trust
from trust.money import format_money, from_minor
from trust.services.imports.csv_rows import (
    CsvImportError,
    ImportResult,
    RecordedBefore,
    RowErrors,
    defendants_by_name,
    normalised_name,
    parse_amount,
    parse_currency,
    parse_date,
    plain_amount,
    quoted,
    read_table,
    row_limit,
    unknown_defendant_error,
)
from trust.services.imports.locks import import_lock
from trust.services.ledger import LedgerError
from trust.services.receipt_batches import ReceiptRefused, receipts_record
from trust.services.receipts import ReceiptSpec

MAX_KEY_LENGTH = 150  # what receipt_record accepts

RECEIPT_COLUMNS = ("received_on", "amount", "currency", "source")
RECEIPT_OPTIONAL = ("payer", "bank_account", "bank_reference", "key", "memo")
_EXISTING_CHUNK = 500  # keys per query when looking up receipts already recorded

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _ReceiptRow:
    row: int
    received_on: date
    amount_minor: int
    currency: str
    source: str
    payer: Defendant | None
    bank_account: Account
    bank_reference: str
    key: str
    memo: str


_RECEIPT_FIELDS = {
    "amount": "amount",
    "received_on": "received_on",
    "source": "source",
    "payer": "payer",
    "bank_account": "bank_account",
    "idempotency_key": "key",
}


def _receipt_error(exc: ValidationError, row: int) -> CsvImportError:
    if hasattr(exc, "error_dict"):
        name, errors = next(iter(exc.error_dict.items()))
        return CsvImportError(
            " ".join(errors[0].messages),
            row=row,
            field=_RECEIPT_FIELDS.get(name),
            code=errors[0].code or "invalid",
        )
    return CsvImportError(" ".join(exc.messages), row=row, code=exc.code or "invalid")


def _derived_key(parts: tuple[object, ...], occurrence: int) -> str:
    """A key made of what identifies a payment on a bank statement, and the how-manieth identical
    row this is: the same file gives the same keys, and two identical rows are two receipts."""
    material = json.dumps([*parts, occurrence], separators=(",", ":"), ensure_ascii=False)
    return "csv-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def _parse_receipts(trust: Trust, table: list[tuple[int, dict[str, str]]]) -> list[_ReceiptRow]:
    defendants = defendants_by_name(trust)
    banks = {
        a.code: a
        for a in Account.objects.filter(trust=trust, role=Account.Role.BANK).order_by("pk")
    }
    default_bank = next(iter(banks.values()), None)
    today = timezone.localdate()
    occurrences: Counter[tuple[object, ...]] = Counter()
    key_rows: dict[str, int] = {}
    parsed: list[_ReceiptRow] = []
    errors = RowErrors()
    for row, cells in table:
        with errors.row():
            received_on = parse_date(cells["received_on"], row=row)
            if received_on > today:
                raise CsvImportError(
                    "the money cannot have arrived in the future",
                    row=row,
                    field="received_on",
                    code="date_future",
                )
            if trust.lock_date is not None and received_on <= trust.lock_date:
                raise CsvImportError(
                    f"the period up to {trust.lock_date} is closed",
                    row=row,
                    field="received_on",
                    code="period_closed",
                )
            plain_amount(cells["amount"], row, "amount")  # before the currency: columns in order
            currency = parse_currency(cells["currency"], row=row)
            amount_minor = parse_amount(cells["amount"], currency, row=row)
            source = cells["source"].lower()
            if source not in Receipt.Source.values:
                raise CsvImportError(
                    f"{quoted(cells['source'])} is not a source: write one of"
                    f" {', '.join(Receipt.Source.values)}",
                    row=row,
                    field="source",
                    code="bad_source",
                )
            payer_name = normalised_name(cells.get("payer", ""))
            payer = None
            if payer_name:
                payer = defendants.get(payer_name)
                if payer is None:
                    raise unknown_defendant_error(payer_name, defendants, row, "payer")
            code = cells.get("bank_account", "")
            if code:
                bank = banks.get(code)
                if bank is None:
                    raise CsvImportError(
                        f"{quoted(code, 60)} is not a bank account of this trust",
                        row=row,
                        field="bank_account",
                        code="unknown_account",
                    )
            elif default_bank is None:
                raise CsvImportError(
                    "this trust has no bank account", row=row, field="bank_account", code="no_bank"
                )
            else:
                bank = default_bank
            if bank.currency != currency:
                raise CsvImportError(
                    f"the bank account {bank.code} holds {bank.currency}; this row is in {currency}",
                    row=row,
                    field="currency",
                    code="currency_mismatch",
                )
            bank_reference = cells.get("bank_reference", "")
            if len(bank_reference) > 100:
                raise CsvImportError(
                    "at most 100 characters", row=row, field="bank_reference", code="too_long"
                )
            memo = cells.get("memo", "")
            if len(memo) > 300:
                raise CsvImportError(
                    "at most 300 characters", row=row, field="memo", code="too_long"
                )
            key = cells.get("key", "")
            if key:
                if len(key) > MAX_KEY_LENGTH:
                    raise CsvImportError(
                        f"a key has at most {MAX_KEY_LENGTH} characters",
                        row=row,
                        field="key",
                        code="too_long",
                    )
            else:
                parts = (
                    bank.code,
                    received_on.isoformat(),
                    amount_minor,
                    currency,
                    bank_reference,
                    payer_name,
                )
                occurrences[parts] += 1
                key = _derived_key(parts, occurrences[parts])
            if key in key_rows:
                raise CsvImportError(
                    f"the key {quoted(key, 60)} is also used by row {key_rows[key]}",
                    row=row,
                    field="key",
                    code="key_repeated",
                )
            key_rows[key] = row
            parsed.append(
                _ReceiptRow(
                    row=row,
                    received_on=received_on,
                    amount_minor=amount_minor,
                    currency=currency,
                    source=source,
                    payer=payer,
                    bank_account=bank,
                    bank_reference=bank_reference,
                    key=key,
                    memo=memo,
                )
            )
        if errors.full:
            break
    errors.raise_any()
    return parsed


def _already_recorded(trust: Trust, parsed: list[_ReceiptRow]) -> set[str]:
    """Keys of the file already used by receipts of the trust; a key used for a receipt with other
    details than its row's is refused here, before anything is written."""
    by_key = {p.key: p for p in parsed}
    keys = list(by_key)
    found: set[str] = set()
    for start in range(0, len(keys), _EXISTING_CHUNK):
        existing = Receipt.objects.filter(
            trust=trust, idempotency_key__in=keys[start : start + _EXISTING_CHUNK]
        ).only(
            "id",
            "idempotency_key",
            "received_on",
            "amount_minor",
            "currency",
            "source",
            "payer_id",
            "bank_account_id",
            "bank_reference",
        )
        for receipt in existing:
            p = by_key[receipt.idempotency_key]
            differs = [
                name
                for name, then, now in (
                    ("received_on", receipt.received_on, p.received_on),
                    ("amount", receipt.amount_minor, p.amount_minor),
                    ("currency", receipt.currency, p.currency),
                    ("source", receipt.source, p.source),
                    ("payer", receipt.payer_id, getattr(p.payer, "pk", None)),
                    ("bank_account", receipt.bank_account_id, p.bank_account.pk),
                    ("bank_reference", receipt.bank_reference, p.bank_reference),
                )
                if then != now
            ]
            if differs:
                raise CsvImportError(
                    f"the key {quoted(p.key, 60)} was already used for receipt #{receipt.pk}, which differs"
                    f" in {', '.join(differs)}",
                    row=p.row,
                    field="key",
                    code="key_reused",
                )
            found.add(receipt.idempotency_key)
    return found


class _Raced(Exception):
    """A key of the file was taken, while this import was writing, by a receipt recorded another
    way (``receipt_record``); this import's transaction is rolled back."""


_ATTEMPTS = 3  # a file whose keys keep being taken by receipts typed in at that moment: refused


def receipts_import(
    *,
    trust: Trust,
    actor: Any | None,
    rows: TextIO | str | bytes,
    dry_run: bool = False,
    max_rows: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Record every receipt of a CSV file (received_on, amount, currency, source, and optionally
    payer, bank_account, bank_reference, key, memo) through ``receipts_record`` (the batch form
    of ``receipt_record``: the same rules and result, written in batches), in one transaction:
    all of them or none.

    Every row is parsed and checked first (the first bad row is refused with its row and column),
    then all are written; a refusal by ``receipts_record`` still rolls back every row. A row's key
    (given, or derived from its content, see ``docs/imports.md``) makes a re-import record nothing
    new: such rows count as already recorded (``recorded_before`` names the receipts that hold
    them), and a key already used for a receipt with other details is refused. ``dry_run`` does
    all of it and then rolls back. ``progress(done, total)`` is called after each batch of 1,000
    rows written.

    Run twice at once, the second run waits for the first (``import_lock``) and then answers
    truthfully: what the first recorded counts as already recorded, never as recorded again, and
    never a duplicate-key error. A receipt recorded another way with a key of the file while the
    import writes makes it start again (at most three times), counting that row as already
    recorded."""
    if trust.status != Trust.Status.ACTIVE:
        raise CsvImportError(
            f"this trust is {trust.status}; it takes no new receipts", code="trust_closed"
        )
    table = read_table(
        rows, required=RECEIPT_COLUMNS, optional=RECEIPT_OPTIONAL, max_rows=row_limit(max_rows)
    )
    parsed = _parse_receipts(trust, table)
    specs = [
        ReceiptSpec(
            amount=from_minor(p.amount_minor, p.currency),
            received_on=p.received_on,
            source=p.source,
            bank_account=p.bank_account,
            idempotency_key=p.key,
            payer=p.payer,
            bank_reference=p.bank_reference,
            memo=p.memo,
        )
        for p in parsed
    ]
    for _ in range(_ATTEMPTS):
        try:
            return _receipts_write(trust, actor, parsed, specs, dry_run, progress)
        except _Raced:
            continue
    raise CsvImportError(
        "receipts with keys of this file were being recorded at the same time; nothing was"
        " written: import the file again",
        code="concurrent_receipts",
    )


@retried_on_conflict  # a deadlock or serialisation failure: the whole attempt again
def _receipts_write(
    trust: Trust,
    actor: Any | None,
    parsed: list[_ReceiptRow],
    specs: list[ReceiptSpec],
    dry_run: bool,
    progress: Progress | None,
) -> ImportResult:
    """One attempt at writing the checked rows, in a transaction of its own."""
    received: dict[str, int] = defaultdict(int)
    unallocated: dict[str, int] = defaultdict(int)
    created = 0
    with transaction.atomic(durable=True):
        # Only under the lock is what is already recorded the truth this import writes on.
        import_lock(trust, "receipts")
        known = _already_recorded(trust, parsed)
        try:
            recorded = receipts_record(trust=trust, actor=actor, receipts=specs, progress=progress)
        except ReceiptRefused as exc:
            raise _receipt_error(exc, parsed[exc.index].row) from exc
        except LedgerError as exc:
            if exc.code == "key_reused":  # an entry of a receipt recorded meanwhile
                raise _Raced from exc
            raise CsvImportError(" ".join(exc.messages), code=first_code(exc)) from exc
        except ValidationError as exc:
            raise CsvImportError(" ".join(exc.messages), code=first_code(exc)) from exc
        except IntegrityError as exc:
            if _duplicate_key(exc):  # a receipt recorded meanwhile
                raise _Raced from exc
            raise
        before: list[Receipt] = []
        for p, receipt in zip(parsed, recorded, strict=True):
            if p.key in known:
                before.append(receipt)
            else:
                created += 1
            received[p.currency] += p.amount_minor
            if receipt.status == Receipt.Status.POSTED:
                unallocated[p.currency] += receipt.unallocated_minor
        if dry_run:
            if connection.vendor == "postgresql":
                # Run the ledger's commit-time checks now, so a dry run refuses what a real
                # import would refuse at commit.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            transaction.set_rollback(True)
    return ImportResult(
        rows_read=len(parsed),
        created=created,
        already_recorded=len(parsed) - created,
        received={c: from_minor(m, c) for c, m in sorted(received.items())},
        unallocated={c: from_minor(m, c) for c, m in sorted(unallocated.items())},
        dry_run=dry_run,
        recorded_before=_recorded_before(before),
    )


def _duplicate_key(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a unique key taken by another transaction (PostgreSQL's
    unique_violation; SQLite's message)."""
    if getattr(exc.__cause__, "sqlstate", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(exc)


def _recorded_before(receipts: list[Receipt]) -> RecordedBefore | None:
    """Which receipts held the rows found already recorded, and who recorded the latest."""
    if not receipts:
        return None
    latest = max(receipts, key=lambda r: (r.created_at, r.pk))
    by = latest.created_by.get_username() if latest.created_by_id is not None else ""
    ids = [r.pk for r in receipts]
    return RecordedBefore(
        first_id=min(ids),
        last_id=max(ids),
        count=len(ids),
        recorded_at=latest.created_at,
        recorded_by=by,
    )


def import_summary(result: ImportResult) -> str:
    """``10,000 rows: 9,990 receipts recorded, 10 already recorded (receipts #1 to #10, last
    recorded 2025-06-02 09:14 UTC by alice); 1,234,567.89 USD received, 3,000.00 USD left
    unallocated (see receipts to resolve)``"""
    verb = "would be recorded" if result.dry_run else "recorded"
    text = (
        f"{result.rows_read:,} rows: {result.created:,} receipts {verb},"
        f" {result.already_recorded:,} already recorded"
    )
    if result.recorded_before is not None:
        text += f" ({recorded_before_text(result.recorded_before)})"
    received = ", ".join(format_money(m) for m in result.received.values())
    text += f"; {received} received"
    waiting = [m for m in result.unallocated.values() if m.amount]
    if waiting:
        text += (
            f", {', '.join(format_money(m) for m in waiting)} left unallocated"
            " (see receipts to resolve)"
        )
    else:
        text += ", all allocated"
    if result.dry_run:
        text += ". Dry run: nothing was written"
    return text


def recorded_before_text(before: RecordedBefore) -> str:
    """``receipts #1 to #200, last recorded 2025-06-02 09:14 UTC by alice``: which receipts
    already held rows of a file, and who recorded them (the latest, if several runs did)."""
    if before.count == 1:
        which, when = f"receipt #{before.first_id}", "recorded"
    elif before.last_id - before.first_id + 1 == before.count:
        which, when = f"receipts #{before.first_id} to #{before.last_id}", "last recorded"
    else:
        which = f"{before.count:,} receipts from #{before.first_id} to #{before.last_id}"
        when = "last recorded"
    at = timezone.localtime(before.recorded_at)
    return f"{which}, {when} {at:%Y-%m-%d %H:%M %Z} by {before.recorded_by or 'the system'}"
