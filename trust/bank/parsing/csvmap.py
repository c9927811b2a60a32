"""A bank's CSV export, read with the column mapping saved for that bank account.

A CSV names neither the account nor the currency: the caller gives both. Numbers are read exactly
as the mapping says (decimal comma or point, thousands separators in groups of three); a number
that does not fit the mapping is refused rather than guessed at, so "12,50" under a decimal point
mapping is an error, not 1250. Lines come out oldest first. With a running balance column, the
balances must follow from the amounts row by row, and give the opening and closing balances.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .base import (
    CsvMapping,
    LineKind,
    ParsedFile,
    ParsedLine,
    ParsedStatement,
    StatementFormatError,
    currency_code,
    minor_units,
)

_DIGITS = re.compile(r"[0-9]+")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
_SYMBOLS = "€$£¥"


@dataclass(frozen=True)
class _Row:
    line: int
    booking_date: date
    amount_minor: int
    balance_minor: int | None
    parsed: ParsedLine


def parse_csv(data: bytes, mapping: CsvMapping, *, account: str, currency: str) -> ParsedFile:
    """Read a CSV export whole with ``mapping``, for ``account`` in ``currency``."""
    account = "".join(account.split()).upper()
    if not account:
        raise StatementFormatError("a CSV file names no account: the bank account must be given.")
    if not currency:
        raise StatementFormatError("a CSV file names no currency: the currency must be given.")
    currency = currency_code(currency, "currency")
    _check_mapping(mapping)
    text = _decode(data, mapping.encoding)
    stream = io.StringIO(text, newline="")
    for _ in range(mapping.skip_rows):
        stream.readline()
    reader = csv.reader(stream, delimiter=mapping.delimiter, strict=True)
    header: list[str] = []
    header_line = mapping.skip_rows
    rows: list[_Row] = []
    try:
        previous = 0
        for cells in reader:
            line = mapping.skip_rows + previous + 1
            previous = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not header:
                header = [cell.strip().lstrip("\ufeff") for cell in cells]
                header_line = line
                columns = _columns(header, mapping, line)
                continue
            rows.append(_row(cells, columns, mapping, currency, line, len(header)))
    except csv.Error as exc:
        line = mapping.skip_rows + reader.line_num
        raise StatementFormatError(f"not readable as CSV ({exc}).", f"line {line}") from exc
    if not header:
        raise StatementFormatError("no header row: the file holds no columns.")
    if not rows:
        raise StatementFormatError("no rows after the header.", f"line {header_line}")
    rows = _oldest_first(rows, mapping)
    opening = closing = None
    if mapping.balance_column:
        _check_balances(rows, mapping)
        first, last = rows[0], rows[-1]
        if first.balance_minor is None or last.balance_minor is None:
            missing = first if first.balance_minor is None else last
            raise StatementFormatError(
                "no balance on the first or last row.",
                f"line {missing.line}, column {mapping.balance_column!r}",
            )
        opening = first.balance_minor - first.amount_minor
        closing = last.balance_minor
    statement = ParsedStatement(
        account=account,
        currency=currency,
        lines=tuple(row.parsed for row in rows),
        opening_minor=opening,
        closing_minor=closing,
        from_date=min(row.booking_date for row in rows),
        to_date=max(row.booking_date for row in rows),
    )
    return ParsedFile(format="csv", statements=(statement,))


def _check_mapping(mapping: CsvMapping) -> None:
    if not mapping.date_column:
        raise StatementFormatError("the mapping names no date column.", "mapping")
    if mapping.amount_column and (mapping.debit_column or mapping.credit_column):
        raise StatementFormatError(
            "the mapping names an amount column and debit/credit columns: give one or the other.",
            "mapping",
        )
    if not (mapping.amount_column or mapping.debit_column or mapping.credit_column):
        raise StatementFormatError(
            "the mapping names no amount column and no debit/credit columns.", "mapping"
        )
    if len(mapping.delimiter) != 1:
        raise StatementFormatError(
            f"the delimiter must be one character, not {mapping.delimiter!r}.", "mapping"
        )
    if mapping.skip_rows < 0:
        raise StatementFormatError("skip_rows cannot be negative.", "mapping")


def _decode(data: bytes, encoding: str) -> str:
    try:
        codec = codecs.lookup(encoding or "utf-8")
    except LookupError as exc:
        raise StatementFormatError(f"unknown encoding {encoding!r}.", "mapping") from exc
    try:
        text = data.decode(codec.name)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StatementFormatError(
            f"bytes that are not {encoding} text (byte {exc.start + 1}).", f"line {line}"
        ) from exc
    return text.removeprefix("\ufeff")


def _columns(header: list[str], mapping: CsvMapping, line: int) -> dict[str, int]:
    wanted = {
        "date": mapping.date_column,
        "amount": mapping.amount_column,
        "debit": mapping.debit_column,
        "credit": mapping.credit_column,
        "description": mapping.description_column,
        "reference": mapping.reference_column,
        "counterparty": mapping.counterparty_column,
        "bank_reference": mapping.bank_reference_column,
        "value_date": mapping.value_date_column,
        "balance": mapping.balance_column,
    }
    columns: dict[str, int] = {}
    for role, name in wanted.items():
        if not name:
            continue
        if name.strip() not in header:
            raise StatementFormatError(
                f"no column {name!r} in the header (it has {', '.join(map(repr, header))}).",
                f"line {line}",
            )
        columns[role] = header.index(name.strip())
    return columns


def _row(
    cells: list[str],
    columns: dict[str, int],
    mapping: CsvMapping,
    currency: str,
    line: int,
    width: int,
) -> _Row:
    names = {
        "date": mapping.date_column,
        "amount": mapping.amount_column,
        "debit": mapping.debit_column,
        "credit": mapping.credit_column,
        "value_date": mapping.value_date_column,
        "balance": mapping.balance_column,
    }

    def cell(role: str) -> str:
        if role not in columns:
            return ""
        index = columns[role]
        if index >= len(cells):
            raise StatementFormatError(
                f"the row has {len(cells)} columns, the header {width}.", f"line {line}"
            )
        return " ".join(cells[index].split())

    if len(cells) > width and any(extra.strip() for extra in cells[width:]):
        raise StatementFormatError(
            f"the row has {len(cells)} columns, the header {width}: is a delimiter or a decimal"
            " comma unquoted?",
            f"line {line}",
        )

    def where(role: str) -> str:
        return f"line {line}, column {names[role]!r}"

    booking_date = _date(cell("date"), mapping.date_format, where("date"))
    value_text = cell("value_date")
    value_date = _date(value_text, mapping.date_format, where("value_date")) if value_text else None
    if mapping.amount_column:
        amount = _number(cell("amount"), mapping, currency, where("amount"))
        if amount is None:
            raise StatementFormatError("no amount.", where("amount"))
        amount = -amount if mapping.negate else amount
    else:
        debit = (
            _number(cell("debit"), mapping, currency, where("debit"))
            if "debit" in columns
            else None
        )
        credit = (
            _number(cell("credit"), mapping, currency, where("credit"))
            if "credit" in columns
            else None
        )
        if credit is not None and credit < 0:
            raise StatementFormatError(
                "a credit cannot be negative: is the mapping's column right?", where("credit")
            )
        if debit and credit:
            raise StatementFormatError(
                f"both a debit ({debit}) and a credit ({credit}) on one row.", f"line {line}"
            )
        if debit is None and credit is None:
            raise StatementFormatError("no amount in the debit or credit column.", f"line {line}")
        amount = credit if credit else -abs(debit or Decimal(0))
    if mapping.amount_column:
        amount_where = where("amount")
    else:
        amount_where = where("debit" if amount < 0 else "credit")
    amount_minor = minor_units(amount, currency, amount_where)
    balance_minor = None
    if "balance" in columns:
        balance = _number(cell("balance"), mapping, currency, where("balance"))
        if balance is not None:
            balance_minor = minor_units(balance, currency, where("balance"))
    parsed = ParsedLine(
        booking_date=booking_date,
        amount_minor=amount_minor,
        value_date=value_date,
        bank_reference=cell("bank_reference"),
        reference=cell("reference"),
        counterparty=cell("counterparty"),
        description=cell("description"),
        kind=LineKind.OTHER,
        where=f"line {line}",
    )
    return _Row(line, booking_date, amount_minor, balance_minor, parsed)


def _date(text: str, date_format: str, where: str) -> date:
    if not text:
        raise StatementFormatError("no date.", where)
    try:
        return datetime.strptime(text, date_format).date()
    except ValueError as exc:
        raise StatementFormatError(
            f"{text!r} is not a date in the format {date_format}.", where
        ) from exc


def _number(text: str, mapping: CsvMapping, currency: str, where: str) -> Decimal | None:
    """A signed exact number written as the mapping says, or None for an empty cell."""
    original = text
    text = _SPACES.sub(" ", text).strip()
    for mark in (currency, *_SYMBOLS):
        text = text.removeprefix(mark).removesuffix(mark).strip()
    if not text:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    if text and text[-1] in "+-":  # "12,50-" as some banks write a debit
        negative, text = negative or text[-1] == "-", text[:-1].strip()
    if text and text[0] in "+-":
        negative, text = negative or text[0] == "-", text[1:].strip()
    # Thousands: "1.234,56" or "1 234,56" (a space, no-break or thin space) or "1'234.56".
    point, groups = (",", ".' ") if mapping.decimal_comma else (".", ",' ")
    whole, _, fraction = text.partition(point)
    bad = StatementFormatError(
        f"{original!r} is not a number written with a decimal {'comma' if mapping.decimal_comma else 'point'}.",
        where,
    )
    if point in fraction or (fraction == "" and text.endswith(point)):
        raise bad
    if fraction and not _DIGITS.fullmatch(fraction):
        raise bad
    separators = [mark for mark in groups if mark in whole]
    if len(separators) > 1:
        raise bad
    if separators:
        grouped = rf"[0-9]{{1,3}}(?:{re.escape(separators[0])}[0-9]{{3}})+"
        if not re.fullmatch(grouped, whole):
            raise bad
        whole = whole.replace(separators[0], "")
    if not whole and fraction:
        whole = "0"
    if not _DIGITS.fullmatch(whole):
        raise bad
    value = Decimal(f"{whole}.{fraction}" if fraction else whole)
    return -value if negative else value


def _oldest_first(rows: list[_Row], mapping: CsvMapping) -> list[_Row]:
    """Rows in booking order: reversed when the file lists the newest first."""
    if rows[0].booking_date > rows[-1].booking_date:
        return rows[::-1]
    # One day only: the running balance says which way the file runs.
    one_day = rows[0].booking_date == rows[-1].booking_date and len(rows) > 1
    if (
        one_day
        and mapping.balance_column
        and _balance_break(rows) is not None
        and _balance_break(rows[::-1]) is None
    ):
        return rows[::-1]
    return rows


def _balance_break(rows: list[_Row]) -> _Row | None:
    """The first row whose balance does not follow from the previous balance and the amounts."""
    running: int | None = None
    for row in rows:
        if running is not None:
            running += row.amount_minor
        if row.balance_minor is not None:
            if running is not None and running != row.balance_minor:
                return row
            running = row.balance_minor
    return None


def _check_balances(rows: list[_Row], mapping: CsvMapping) -> None:
    broken = _balance_break(rows)
    if broken is not None:
        raise StatementFormatError(
            "the running balance does not follow from the previous balance and this amount:"
            " check the mapping (decimal comma, debit and credit columns, negate) and the"
            " order of the rows.",
            f"line {broken.line}, column {mapping.balance_column!r}",
        )
