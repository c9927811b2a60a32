"""Reading the CSV file of an import and parsing its cells, for the order and receipt importers:
the header and the rows checked, a refusal that names the row and column (``CsvImportError``),
and amounts, currencies, dates and defendants' names as a file writes them."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TextIO

from django.conf import settings
from django.core.exceptions import ValidationError
from moneyed import Money

from trust.models import Defendant, RestitutionOrder, Trust
from trust.money import MoneyError, currency_of, to_minor

DEFAULT_MAX_ROWS = 200_000
MAX_MINOR = 10**15  # far above any real payment, far below what a 64-bit balance can hold

_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)


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


# A file with errors on many rows is refused listing at most this many of them.
MAX_ROW_ERRORS = 50


class CsvRowErrors(CsvImportError):
    """Every bad row of a file (up to ``MAX_ROW_ERRORS``), found before anything was written; the
    message is the first one's, with how many more there are."""

    def __init__(self, errors: list[CsvImportError]) -> None:
        self.row_errors = errors
        first = errors[0]
        more = len(errors) - 1
        super().__init__(
            first.detail
            + (f" (and {more} more row{'s' if more > 1 else ''} with errors)" if more else ""),
            row=first.row,
            field=first.field,
            code=first.code or "invalid",
        )


class RowErrors:
    """The errors of a file's rows, collected so that a file is refused once, naming every bad
    row: ``with errors.row(): ...`` around each row's checks, stop when ``full``, then
    ``raise_any()`` before anything is written."""

    def __init__(self) -> None:
        self.errors: list[CsvImportError] = []

    @contextmanager
    def row(self) -> Iterator[None]:
        try:
            yield
        except CsvImportError as error:
            self.errors.append(error)

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_ROW_ERRORS

    def raise_any(self) -> None:
        if self.errors:
            raise CsvRowErrors(self.errors)


@dataclass(frozen=True)
class RecordedBefore:
    """The receipts that already held rows of a file when it was imported (again, or at the same
    time as another run of it): the first and last of them by id, how many, and when and by whom
    the latest of them was recorded (``recorded_by`` is "" for the system, e.g. a command run
    without ``--actor``)."""

    first_id: int
    last_id: int
    count: int
    recorded_at: datetime
    recorded_by: str


@dataclass
class ImportResult:
    """What an import did. ``created`` and ``already_recorded`` count rows: order lines written or
    found already recorded, receipts recorded now or recorded by an earlier import of the same rows.
    For receipts, ``received`` is the total of the file's rows per currency and ``unallocated`` how
    much of those receipts waits in the unallocated account for a trustee to resolve, and
    ``recorded_before`` names the receipts that held the rows already recorded (``None`` when
    there were none). For an order, ``order`` is the order recorded, or the one that already
    holds the lines."""

    rows_read: int
    created: int
    already_recorded: int
    received: dict[str, Money] = field(default_factory=dict)
    unallocated: dict[str, Money] = field(default_factory=dict)
    order: RestitutionOrder | None = None
    dry_run: bool = False
    recorded_before: RecordedBefore | None = None


# --- reading the file ------------------------------------------------------------------------------


def quoted(text: str, limit: int = 30) -> str:
    """A cell as an error message quotes it: bounded, so that a stray long cell (a memo in the
    wrong column) is not echoed whole."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def row_limit(max_rows: int | None) -> int:
    """The most data rows a file may have: ``max_rows`` if given, else the setting."""
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


def read_table(
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
        unknown = [quoted(name) for name in unknown[:5]] + (["..."] if len(unknown) > 5 else [])
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
            f"{quoted(text)} is not a currency this installation accepts"
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


def plain_amount(text: str, row: int | None, column: str) -> str:
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
        f"{quoted(text)} is not an amount: {hint}", row=row, field=column, code="bad_amount"
    )


def parse_amount(
    text: str, currency: str, *, row: int | None = None, column: str = "amount"
) -> int:
    """A plain decimal such as ``1234.50`` in ``currency``, as minor units. Refuses a blank, a
    sign, thousands separators, an exponent, zero, and more decimals than the currency has."""
    text = plain_amount(text, row, column)
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
            f"{quoted(text)} is not a date written YYYY-MM-DD",
            row=row,
            field=column,
            code="bad_date",
        ) from exc


def normalised_name(text: str) -> str:
    """Names compare with their spacing normalised, as ``defendant_create`` stores them."""
    return " ".join(text.split())


def defendants_by_name(trust: Trust) -> dict[str, Defendant]:
    """The trust's defendants by name, as a file names them."""
    return {d.name: d for d in Defendant.objects.filter(trust=trust)}


def unknown_defendant_error(
    name: str, known: dict[str, Defendant], row: int, column: str
) -> Exception:
    """The refusal of a name that is no defendant of the trust, with a near match as a hint."""
    near = [n for n in known if n.casefold() == name.casefold()]
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return CsvImportError(
        f"{quoted(name, 60)} is not a defendant of this trust{hint}",
        row=row,
        field=column,
        code="unknown_defendant",
    )
