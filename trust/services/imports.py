"""Bulk work from CSV files: an order's lines, and receipts, all or nothing.

Both services take the file's text (a text stream, a ``str``, or UTF-8 ``bytes`` as a web upload
gives them), check every row before writing anything, and then write through the ordinary services
(``order_create``/``order_amend``, ``receipts_record``), so an import obeys exactly the rules a
trustee typing the same data would. A bad file changes nothing, and the error names the row as a
spreadsheet shows it (the header is row 1) and the column: ``row 12, amount: ...``.

The file format is described for users in ``docs/imports.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from moneyed import Money

from trust.errors import first_code
from trust.models import (
    Account,
    Beneficiary,
    Defendant,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import MoneyError, currency_of, from_minor, to_minor
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.receipts import ReceiptRefused, ReceiptSpec, receipts_record

DEFAULT_MAX_ROWS = 200_000
MAX_KEY_LENGTH = 150  # what receipt_record accepts
MAX_MINOR = 10**15  # far above any real payment, far below what a 64-bit balance can hold

ORDER_COLUMNS = ("beneficiary", "amount", "currency", "defendants")
ORDER_OPTIONAL = ("liability",)
RECEIPT_COLUMNS = ("received_on", "amount", "currency", "source")
RECEIPT_OPTIONAL = ("payer", "bank_account", "bank_reference", "key", "memo")

_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)
_LINE_REF = re.compile(r"\bline (\d+)\b")
_EXISTING_CHUNK = 500  # keys per query when looking up receipts already recorded

Progress = Callable[[int, int], None]


class CsvImportError(ValidationError):
    """A file that was refused; nothing was written. ``row`` is the row number a spreadsheet shows
    (header = 1) or ``None`` for the file as a whole; ``field`` is the column, where one is to
    blame. The message starts with both: ``row 12, amount: write the amount without a sign``."""

    def __init__(
        self,
        message: str,
        *,
        row: int | None = None,
        field: str | None = None,
        code: str = "invalid",
    ) -> None:
        self.row = row
        self.field = field
        self.detail = message
        where = ", ".join(
            part for part in (f"row {row}" if row else "", field or "") if part
        )  # "row 12, amount", "row 12", "total" or nothing
        super().__init__(f"{where}: {message}" if where else message, code=code)

    def __str__(self) -> str:
        return str(self.message)


@dataclass
class ImportResult:
    """What an import did. ``created`` and ``already_recorded`` count rows: order lines written or
    found already recorded, receipts recorded now or recorded by an earlier import of the same rows.
    For receipts, ``received`` is the total of the file's rows per currency and ``unallocated`` how
    much of those receipts waits in the unallocated account for a trustee to resolve."""

    rows_read: int
    created: int
    already_recorded: int
    received: dict[str, Money] = field(default_factory=dict)
    unallocated: dict[str, Money] = field(default_factory=dict)
    order: RestitutionOrder | None = None
    dry_run: bool = False


# --- reading the file ------------------------------------------------------------------------------


def _shown(text: str, limit: int = 30) -> str:
    """A cell as an error message quotes it: bounded, so that a stray long cell (a memo in the
    wrong column) is not echoed whole."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _max_rows(max_rows: int | None) -> int:
    if max_rows is not None:
        return max_rows
    return int(getattr(settings, "TRUST_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def _stream(rows: TextIO | str | bytes) -> Iterable[str]:
    if isinstance(rows, bytes):
        try:
            return io.StringIO(rows.decode("utf-8-sig"), newline="")
        except UnicodeDecodeError as exc:
            raise CsvImportError(
                f"the file is not UTF-8 text (byte {exc.start + 1}); save it as CSV UTF-8",
                code="bad_encoding",
            ) from exc
    if isinstance(rows, str):
        return io.StringIO(rows, newline="")
    return rows


def _records(stream: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each record; a record with a quoted line break is one row, as in a
    spreadsheet."""
    reader = csv.reader(stream, strict=True)
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvImportError(
                f"not readable as CSV ({exc})", row=number, code="bad_csv"
            ) from exc
        except UnicodeDecodeError as exc:
            raise CsvImportError(
                "the file is not UTF-8 text; save it as CSV UTF-8", row=number, code="bad_encoding"
            ) from exc
        yield number, cells


def _read_table(
    rows: TextIO | str | bytes,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    max_rows: int,
) -> list[tuple[int, dict[str, str]]]:
    """The data rows as (row number, column -> stripped cell), after checking the header, the
    number of cells of each row and the number of rows. Blank rows are skipped."""
    records = _records(_stream(rows))
    header: list[str] | None = None
    header_row = 0
    for number, cells in records:
        if any(cell.strip() for cell in cells):
            header, header_row = cells, number
            break
    if header is None:
        raise CsvImportError("the file is empty: it needs a header row and data rows", code="empty")
    header = [cell.replace("\ufeff", "").strip().lower() for cell in header]
    if not set(header) & {*required, *optional}:
        # Most likely a file without a header: its first row is data, which is not echoed.
        raise CsvImportError(
            "the first row is not a header: it names none of the columns"
            f" {', '.join(required)} (optional: {', '.join(optional)})",
            row=header_row,
            code="bad_header",
        )
    for position, name in enumerate(header, start=1):
        if not name:
            raise CsvImportError(
                f"column {position} of the header has no name", row=header_row, code="bad_header"
            )
    repeated = sorted(name for name, seen in Counter(header).items() if seen > 1)
    if repeated:
        raise CsvImportError(
            f"column(s) named twice: {', '.join(repeated)}", row=header_row, code="bad_header"
        )
    unknown = [name for name in header if name not in required and name not in optional]
    missing = [name for name in required if name not in header]
    if unknown or missing:
        unknown = [_shown(name) for name in unknown[:5]] + (["..."] if len(unknown) > 5 else [])
        problems = []
        if missing:
            problems.append(f"missing required column(s): {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s): {', '.join(unknown)}")
        raise CsvImportError(
            "; ".join(problems)
            + f" (the columns are {', '.join(required)}, and optionally {', '.join(optional)})",
            row=header_row,
            code="bad_header",
        )
    data: list[tuple[int, dict[str, str]]] = []
    for number, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise CsvImportError(
                f"{len(cells)} cells where the header has {len(header)} columns",
                row=number,
                code="bad_row",
            )
        if len(data) >= max_rows:
            raise CsvImportError(
                f"the file has more than {max_rows:,} rows; split it into smaller files",
                row=number,
                code="too_many_rows",
            )
        data.append(
            (number, {name: cell.strip() for name, cell in zip(header, cells, strict=True)})
        )
    if not data:
        raise CsvImportError("the file has a header but no data rows", code="empty")
    return data


# --- parsing cells ---------------------------------------------------------------------------------


def parse_currency(text: str, *, row: int | None = None, column: str = "currency") -> str:
    """An ISO 4217 code this installation accepts (``settings.CURRENCIES``), upper-cased."""
    code = text.strip().upper()
    if not code:
        raise CsvImportError("a currency code (e.g. USD) is required", row=row, field=column)
    if not _CURRENCY.fullmatch(code) or code not in settings.CURRENCIES:
        raise CsvImportError(
            f"{_shown(text)} is not a currency this installation accepts"
            f" ({', '.join(settings.CURRENCIES)})",
            row=row,
            field=column,
            code="bad_currency",
        )
    try:
        currency_of(code)
    except MoneyError as exc:
        raise CsvImportError(str(exc), row=row, field=column, code="bad_currency") from exc
    return code


def _amount_format(text: str, row: int | None, column: str) -> str:
    """The cell if it is written as a plain decimal (``1234.50``); otherwise say what is wrong."""
    text = text.strip()
    if not text:
        raise CsvImportError("an amount is required", row=row, field=column, code="required")
    if len(text) <= 24 and _AMOUNT.fullmatch(text):
        return text
    if "," in text or "_" in text or " " in text or "'" in text:
        hint = "write it without thousands separators, e.g. 1234.50"
    elif text[0] in "+-":
        hint = "write it without a sign, e.g. 1234.50"
    elif "e" in text.lower() and any(c.isdigit() for c in text):
        hint = "write it as a plain decimal, e.g. 1234.50, not with an exponent"
    elif len(text) > 24:
        hint = "the amount is too large"
    else:
        hint = "write it as a plain decimal, e.g. 1234.50"
    raise CsvImportError(
        f"{_shown(text)} is not an amount: {hint}", row=row, field=column, code="bad_amount"
    )


def parse_amount(
    text: str, currency: str, *, row: int | None = None, column: str = "amount"
) -> int:
    """A plain decimal such as ``1234.50`` in ``currency``, as minor units. Refuses a blank, a
    sign, thousands separators, an exponent, zero, and more decimals than the currency has."""
    text = _amount_format(text, row, column)
    try:
        minor = to_minor(Money(Decimal(text), currency))
    except MoneyError as exc:
        raise CsvImportError(str(exc), row=row, field=column, code="bad_amount") from exc
    if minor <= 0:
        raise CsvImportError(
            "the amount must be more than zero", row=row, field=column, code="not_positive"
        )
    if minor >= MAX_MINOR:
        raise CsvImportError("the amount is too large", row=row, field=column, code="too_large")
    return minor


def parse_date(text: str, *, row: int | None = None, column: str = "received_on") -> date:
    """A date written YYYY-MM-DD (the only form that reads the same everywhere)."""
    text = text.strip()
    if not text:
        raise CsvImportError("a date is required", row=row, field=column, code="required")
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CsvImportError(
            f"{_shown(text)} is not a date written YYYY-MM-DD",
            row=row,
            field=column,
            code="bad_date",
        ) from exc


def _name(text: str) -> str:
    """Names compare with their spacing normalised, as ``defendant_create`` stores them."""
    return " ".join(text.split())


def _defendants_by_name(trust: Trust) -> dict[str, Defendant]:
    return {d.name: d for d in Defendant.objects.filter(trust=trust)}


def _unknown_defendant(name: str, known: dict[str, Defendant], row: int, column: str) -> Exception:
    near = [n for n in known if n.casefold() == name.casefold()]
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return CsvImportError(
        f"{_shown(name, 60)} is not a defendant of this trust{hint}",
        row=row,
        field=column,
        code="unknown_defendant",
    )


# --- orders ----------------------------------------------------------------------------------------


def _line_field(message: str) -> str | None:
    """The column a line refusal of the order service is about (its errors carry no code per
    field, so the wording decides; see ``trust.services.orders._check_lines``)."""
    text = message.lower()
    for words, column in (
        (("liability",), "liability"),
        (("defendant", "repeats line"), "defendants"),
        (("beneficiary",), "beneficiary"),
        (("currenc", "this amount is in"), "currency"),
        (("amount", "decimal"), "amount"),
    ):
        if any(word in text for word in words):
            return column
    return None


def _order_error(exc: ValidationError, row_of_line: list[int]) -> CsvImportError:
    """A refusal by the order service, with its line numbers turned into the file's rows."""

    def to_rows(text: str) -> str:
        return _LINE_REF.sub(
            lambda m: (
                f"row {row_of_line[int(m.group(1)) - 1]}"
                if 0 < int(m.group(1)) <= len(row_of_line)
                else m.group(0)
            ),
            text,
        )

    if not hasattr(exc, "error_dict"):
        return CsvImportError(to_rows(" ".join(exc.messages)), code=exc.code or "invalid")
    name, errors = next(iter(exc.error_dict.items()))
    error = errors[0]
    text = " ".join(error.messages)
    if name == "lines":
        match = re.match(r"line (\d+):\s*(.*)", text, re.DOTALL)
        if match and 0 < int(match.group(1)) <= len(row_of_line):
            return CsvImportError(
                to_rows(match.group(2)),
                row=row_of_line[int(match.group(1)) - 1],
                field=_line_field(match.group(2)),
                code=error.code or "invalid",
            )
    field_name = None if name in ("__all__", "lines") else name
    return CsvImportError(to_rows(text), field=field_name, code=error.code or "invalid")


def _order_lines(
    trust: Trust, table: list[tuple[int, dict[str, str]]], currency: str
) -> list[LineSpec]:
    beneficiaries = {b.pseudonym: b for b in Beneficiary.objects.filter(trust=trust)}
    defendants = _defendants_by_name(trust)
    specs: list[LineSpec] = []
    seen: dict[tuple[int, frozenset[int]], int] = {}
    for row, cells in table:
        pseudonym = cells["beneficiary"]
        if not pseudonym:
            raise CsvImportError(
                "a beneficiary pseudonym is required", row=row, field="beneficiary", code="required"
            )
        beneficiary = beneficiaries.get(pseudonym)
        if beneficiary is None:
            raise CsvImportError(
                f"{_shown(pseudonym, 60)} is not the pseudonym of a beneficiary of this trust",
                row=row,
                field="beneficiary",
                code="unknown_beneficiary",
            )
        _amount_format(cells["amount"], row, "amount")  # before the currency: columns in order
        line_currency = parse_currency(cells["currency"], row=row)
        if line_currency != currency:
            raise CsvImportError(
                f"the order total is in {currency}; this line is in {line_currency}",
                row=row,
                field="currency",
                code="currency_mismatch",
            )
        minor = parse_amount(cells["amount"], currency, row=row)
        names = [_name(part) for part in cells["defendants"].split(";")]
        names = [n for n in names if n]
        if not names:
            raise CsvImportError(
                "name the defendant(s) who owe this line, separated by ;",
                row=row,
                field="defendants",
                code="required",
            )
        repeated = [n for n, seen in Counter(names).items() if seen > 1]
        if repeated:
            raise CsvImportError(
                f"{_shown(repeated[0], 60)} is named twice",
                row=row,
                field="defendants",
                code="defendant_repeated",
            )
        owing = []
        for name in names:
            if name not in defendants:
                raise _unknown_defendant(name, defendants, row, "defendants")
            owing.append(defendants[name])
        liability = cells.get("liability", "").lower() or None
        if liability is not None and liability not in OrderLine.Liability.values:
            raise CsvImportError(
                f"{_shown(cells['liability'])} is not a liability: write several or joint, or leave it"
                " blank",
                row=row,
                field="liability",
                code="bad_liability",
            )
        signature = (beneficiary.pk, frozenset(d.pk for d in owing))
        if signature in seen:
            raise CsvImportError(
                f"same beneficiary and defendants as row {seen[signature]}: state the amount once",
                row=row,
                field="defendants",
                code="line_repeated",
            )
        seen[signature] = row
        specs.append(
            LineSpec(
                beneficiary=beneficiary,
                amount=from_minor(minor, currency),
                defendants=owing,
                liability=liability,
            )
        )
    return specs


def _same_lines(order: RestitutionOrder, specs: list[LineSpec], total: Money) -> bool:
    """Whether ``order`` already states exactly these lines and this total (a re-import)."""
    if order.total != total:
        return False
    stored = list(order.lines.prefetch_related("defendants").order_by("position"))
    if len(stored) != len(specs):
        return False
    for line, spec in zip(stored, specs, strict=True):
        ids = {d.pk for d in spec.defendants}
        liability = spec.liability or ("several" if len(ids) == 1 else "joint")
        if (
            line.beneficiary_id != spec.beneficiary.pk
            or line.amount != spec.amount
            or line.liability != liability
            or {d.pk for d in line.defendants.all()} != ids
        ):
            return False
    return True


def order_import(
    *,
    trust: Trust,
    actor: Any | None,
    rows: TextIO | str | bytes,
    court: str,
    case_number: str,
    judgment_date: date,
    total: Money,
    document_reference: str = "",
    payment_terms: str | None = None,
    schedule_note: str | None = None,
    first_payment_due: date | None = None,
    amends: RestitutionOrder | None = None,
    reason: str = "",
    max_rows: int | None = None,
) -> ImportResult:
    """Record a restitution order (or, with ``amends``, an amended judgment) whose lines come from
    a CSV file: beneficiary, amount, currency, defendants (``;``-separated) and optionally
    liability. All or nothing, through ``order_create``/``order_amend``.

    Refuses (``CsvImportError`` naming the row and column, nothing written) an unknown pseudonym
    or defendant, a malformed amount, a line in another currency than ``total``, and everything
    the order service refuses (its line numbers become the file's rows), such as a total that
    does not match the lines. Importing the same order again (same case, date, lines and total)
    writes nothing and reports the lines as already recorded."""
    currency = total.currency.code if isinstance(total, Money) else ""
    if not currency:
        raise CsvImportError("an amount with its currency is required", field="total")
    if amends is not None:
        if amends.trust_id != trust.pk:
            raise CsvImportError(
                "that order is not one of this trust's", field="amends", code="foreign_order"
            )
        for name, given, stated in (
            ("court", court, amends.court),
            ("case_number", case_number, amends.case_number),
        ):
            if (given or "").strip() and (given or "").strip() != stated:
                raise CsvImportError(
                    f"the order being amended is of {stated!r}", field=name, code="mismatch"
                )
    table = _read_table(
        rows, required=ORDER_COLUMNS, optional=ORDER_OPTIONAL, max_rows=_max_rows(max_rows)
    )
    row_of_line = [row for row, _ in table]
    specs = _order_lines(trust, table, currency)
    count = len(specs)

    if amends is None:
        twins = RestitutionOrder.objects.filter(
            trust=trust,
            court=(court or "").strip(),
            case_number=(case_number or "").strip(),
            judgment_date=judgment_date,
            supersedes__isnull=True,
        ).order_by("pk")
    else:
        twins = RestitutionOrder.objects.filter(supersedes=amends, judgment_date=judgment_date)
    for twin in twins:
        if _same_lines(twin, specs, total):
            return ImportResult(rows_read=count, created=0, already_recorded=count, order=twin)

    try:
        if amends is None:
            order = order_create(
                trust=trust,
                actor=actor,
                court=court,
                case_number=case_number,
                judgment_date=judgment_date,
                total=total,
                lines=specs,
                payment_terms=payment_terms or RestitutionOrder.PaymentTerms.LUMP_SUM,
                schedule_note=schedule_note or "",
                first_payment_due=first_payment_due,
                document_reference=document_reference,
            )
        else:
            order = order_amend(
                order=amends,
                actor=actor,
                reason=reason,
                judgment_date=judgment_date,
                total=total,
                lines=specs,
                document_reference=document_reference,
                payment_terms=payment_terms,
                schedule_note=schedule_note,
                first_payment_due=first_payment_due,
            )
    except ValidationError as exc:
        raise _order_error(exc, row_of_line) from exc
    return ImportResult(rows_read=count, created=count, already_recorded=0, order=order)


# --- receipts --------------------------------------------------------------------------------------


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
    defendants = _defendants_by_name(trust)
    banks = {
        a.code: a
        for a in Account.objects.filter(trust=trust, role=Account.Role.BANK).order_by("pk")
    }
    default_bank = next(iter(banks.values()), None)
    today = timezone.localdate()
    occurrences: Counter[tuple[object, ...]] = Counter()
    key_rows: dict[str, int] = {}
    parsed: list[_ReceiptRow] = []
    for row, cells in table:
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
        _amount_format(cells["amount"], row, "amount")  # before the currency: columns in order
        currency = parse_currency(cells["currency"], row=row)
        amount_minor = parse_amount(cells["amount"], currency, row=row)
        source = cells["source"].lower()
        if source not in Receipt.Source.values:
            raise CsvImportError(
                f"{_shown(cells['source'])} is not a source: write one of"
                f" {', '.join(Receipt.Source.values)}",
                row=row,
                field="source",
                code="bad_source",
            )
        payer_name = _name(cells.get("payer", ""))
        payer = None
        if payer_name:
            payer = defendants.get(payer_name)
            if payer is None:
                raise _unknown_defendant(payer_name, defendants, row, "payer")
        code = cells.get("bank_account", "")
        if code:
            bank = banks.get(code)
            if bank is None:
                raise CsvImportError(
                    f"{_shown(code, 60)} is not a bank account of this trust",
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
            raise CsvImportError("at most 300 characters", row=row, field="memo", code="too_long")
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
                f"the key {_shown(key, 60)} is also used by row {key_rows[key]}",
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
                    f"the key {_shown(p.key, 60)} was already used for receipt #{receipt.pk}, which differs"
                    f" in {', '.join(differs)}",
                    row=p.row,
                    field="key",
                    code="key_reused",
                )
            found.add(receipt.idempotency_key)
    return found


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
    new: such rows count as already recorded, and a key already used for a receipt with other
    details is refused. ``dry_run`` does all of it and then rolls back. ``progress(done, total)``
    is called after each batch of 1,000 rows written."""
    if trust.status != Trust.Status.ACTIVE:
        raise CsvImportError(
            f"this trust is {trust.status}; it takes no new receipts", code="trust_closed"
        )
    table = _read_table(
        rows, required=RECEIPT_COLUMNS, optional=RECEIPT_OPTIONAL, max_rows=_max_rows(max_rows)
    )
    parsed = _parse_receipts(trust, table)
    known = _already_recorded(trust, parsed)
    received: dict[str, int] = defaultdict(int)
    unallocated: dict[str, int] = defaultdict(int)
    created = 0
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
    with transaction.atomic(durable=True):
        try:
            recorded = receipts_record(trust=trust, actor=actor, receipts=specs, progress=progress)
        except ReceiptRefused as exc:
            raise _receipt_error(exc, parsed[exc.index].row) from exc
        except ValidationError as exc:
            raise CsvImportError(" ".join(exc.messages), code=first_code(exc)) from exc
        for p, receipt in zip(parsed, recorded, strict=True):
            if p.key not in known:
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
    )
