"""SWIFT MT940 customer statements, read with the mt-940 package, one statement per ``:20:``.

The package does not say where in the file a tag was: the lines are counted here, with the
package's own tag pattern, so that an error and every line name the file's line number. Amounts
are signed as the bank books them (a reversal of a credit, RC, is money out). A statement whose
opening balance plus its lines is not its closing balance is refused as corrupt.
"""

from __future__ import annotations

import bisect
import codecs
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from mt940.models import Balance, Transactions
from mt940.options import Options
from mt940.tags import TAG_BY_ID, Tag

from .base import (
    ParsedFile,
    ParsedLine,
    ParsedStatement,
    StatementFormatError,
    currency_code,
    minor_units,
    swift_code_kind,
)

# Every fix the package offers over its 5.0 behaviour: RC signed as money out, a :61: customer
# reference kept when :86: has none, :86: of any length, a byte-order mark dropped ...
_OPTIONS = Options.all()
# The package's own tag pattern (models.Transactions.parse), to find the line of each tag.
_TAG = re.compile(r"^:\n?(?P<full_tag>(?P<tag>[0-9]{2}|NS)(?P<sub_tag>[A-Z])?):", re.MULTILINE)
_OPENING = ("final_opening_balance", "intermediate_opening_balance", "opening_balance")
_CLOSING = ("final_closing_balance", "intermediate_closing_balance", "closing_balance")
_NO_REFERENCE = {"", "NONREF", "NOTPROVIDED"}


def parse_mt940(data: bytes) -> ParsedFile:
    """Read an MT940 file whole, or raise ``StatementFormatError``."""
    text = _decode(data)
    statements = tuple(_statement(block) for block in _blocks(text))
    return ParsedFile(format="mt940", statements=statements)


def _decode(data: bytes) -> str:
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StatementFormatError(
            "bytes that are neither UTF-8 nor Windows-1252 text.", f"line {line}"
        ) from exc


def _blocks(text: str) -> list[list[tuple[int, str]]]:
    """The file's statements: numbered lines from each ``:20:`` to the next (headers dropped)."""
    blocks: list[list[tuple[int, str]]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.startswith(":20:"):
            blocks.append([])
        if blocks:
            blocks[-1].append((number, raw))
    return blocks


class _Block:
    """One statement's text as the package reads it, and the file line of each tag in it."""

    def __init__(self, lines: list[tuple[int, str]]) -> None:
        # The package drops blank lines and lone "-" lines and trailing blanks; so does this.
        kept = [
            (number, cleaned)
            for number, raw in lines
            if (cleaned := raw.replace("\r", "").rstrip()) and cleaned.strip() != "-"
        ]
        self.first_line = lines[0][0]
        self.text = "\n".join(cleaned for _, cleaned in kept)
        self._numbers = [number for number, _ in kept]
        self._starts: list[int] = []
        offset = 0
        for _, cleaned in kept:
            self._starts.append(offset)
            offset += len(cleaned) + 1

    def line_at(self, offset: int) -> int:
        index = bisect.bisect_right(self._starts, offset) - 1
        return self._numbers[max(index, 0)] if self._numbers else self.first_line


def _statement(lines: list[tuple[int, str]]) -> ParsedStatement:
    block = _Block(lines)
    where = f"line {block.first_line}"
    started: list[int] = [0]

    def count(_transactions: Any, _tag: Any, tag_dict: Any, *_args: Any) -> Any:
        started[0] += 1
        return tag_dict

    transactions = Transactions(processors=_counting(count), options=_OPTIONS)
    matches = transactions.sanitize_tag_id_matches(list(_TAG.finditer(block.text)))
    ids = [transactions.normalize_tag_id(m.group("tag")) for m in matches]
    # A :86: after the closing balance is information for the account owner, not a line's: the
    # package would add it to the last line, so it is left out.
    text = block.text
    for index in range(1, len(matches)):
        if ids[index] == 86 and ids[index - 1] in (62, 64, 65):
            text = text[: matches[index].start()]
            matches, ids = matches[:index], ids[:index]
            break
    try:
        transactions.parse(text)
    except Exception as exc:
        in_reading = isinstance(exc, RuntimeError) and len(exc.args) >= 3
        at = started[0] if in_reading else started[0] - 1
        tag_where = (
            f"line {block.line_at(matches[at].start())}" if 0 <= at < len(matches) else where
        )
        tag_name = f":{matches[at].group('full_tag')}:" if 0 <= at < len(matches) else "a tag"
        if in_reading:
            value = (str(exc.args[2]).splitlines() or [""])[0]
            message = f"{tag_name} cannot be read: {value!r}."
        else:
            message = f"{tag_name} has a value that is not valid ({_describe(exc)})."
        raise StatementFormatError(message, tag_where) from exc

    data = transactions.data
    statement_id = "/".join(
        str(part).strip()
        for part in (
            data.get("transaction_reference"),
            data.get("statement_number"),
            data.get("sequence_number"),
        )
        if part and str(part).strip()
    )
    account_text = str(data.get("account_identification") or "")
    if not account_text.strip():
        raise StatementFormatError(
            f"statement {statement_id or '(no :20:)'} has no :25: account identification.", where
        )
    opening_balance = _balance(data, _OPENING)
    closing_balance = _balance(data, _CLOSING)
    if opening_balance is None or closing_balance is None:
        missing = ":60F:" if opening_balance is None else ":62F:"
        raise StatementFormatError(
            f"statement {statement_id or '(no :20:)'} has no {missing} balance.", where
        )
    currency = currency_code(str(opening_balance.amount.currency or ""), where)
    if str(closing_balance.amount.currency or "").upper() != currency:
        raise StatementFormatError(
            f"the closing balance is in {closing_balance.amount.currency}, the opening in"
            f" {currency}.",
            where,
        )
    account = _account(account_text, currency)
    opening = minor_units(opening_balance.amount.amount, currency, where)
    closing = minor_units(closing_balance.amount.amount, currency, where)

    line_offsets = [m.start() for m, tag_id in zip(matches, ids, strict=True) if tag_id == 61]
    if len(line_offsets) != len(transactions.transactions):
        missing_code = next(
            (
                offset
                for offset, tx in zip(line_offsets, transactions.transactions, strict=False)
                if not tx.data.get("id")
            ),
            line_offsets[0] if line_offsets else 0,
        )
        raise StatementFormatError(
            ":61: has no transaction type code (such as NTRF) after its amount.",
            f"line {block.line_at(missing_code)}",
        )
    parsed = tuple(
        _line(tx.data, currency, f"line {block.line_at(offset)}")
        for tx, offset in zip(transactions.transactions, line_offsets, strict=True)
    )
    total = sum(line.amount_minor for line in parsed)
    if opening + total != closing:
        raise StatementFormatError(
            f"statement {statement_id or '(no :20:)'} does not add up: opening balance {opening}"
            f" + lines {total} = {opening + total}, but the closing balance is {closing} (minor"
            f" units of {currency}); the file is corrupt.",
            where,
        )
    return ParsedStatement(
        account=account,
        currency=currency,
        lines=parsed,
        statement_id=statement_id,
        opening_minor=opening,
        closing_minor=closing,
        from_date=_plain_date(opening_balance.date),
        to_date=_plain_date(closing_balance.date),
        where=where,
    )


def _line(data: dict[str, Any], currency: str, where: str) -> ParsedLine:
    status = str(data.get("status") or "").upper()
    amount: Decimal = data["amount"].amount
    value_date = _plain_date(data.get("date"))
    booking_date = _plain_date(data.get("entry_date")) or value_date
    if booking_date is None:
        raise StatementFormatError(":61: has no date.", where)
    details = data.get("transaction_details")
    description = " ".join(
        str(details or data.get("purpose") or data.get("posting_text") or "").split()
    )
    if not description:
        description = " ".join(str(data.get("extra_details") or "").split())
    return ParsedLine(
        booking_date=booking_date,
        amount_minor=minor_units(amount, currency, where),
        value_date=value_date,
        bank_reference=_reference(data.get("bank_reference")),
        reference=_reference(data.get("end_to_end_reference"))
        or _reference(data.get("customer_reference")),
        counterparty=" ".join(str(data.get("applicant_name") or "").split()),
        description=description,
        kind=swift_code_kind(str(data.get("id") or "")),
        reversal=status in ("RC", "RD"),
        where=where,
    )


def _account(text: str, currency: str) -> str:
    """The :25: account without the currency some banks write after it ("NL..89 EUR",
    "NL..89EUR"), spaces removed, upper case."""
    words = text.upper().split()
    if len(words) > 1 and words[-1] == currency:
        words = words[:-1]
    account = "".join(words)
    if account.endswith(currency) and _iban_ok(account[:-3]) and not _iban_ok(account):
        account = account[:-3]
    return account


def _iban_ok(number: str) -> bool:
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", number):
        return False
    moved = number[4:] + number[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _reference(value: object) -> str:
    first = str(value or "").strip().split("\n")[0].strip()
    return "" if first.upper() in _NO_REFERENCE else first


def _balance(data: dict[str, Any], keys: tuple[str, ...]) -> Balance | None:
    for key in keys:
        balance = data.get(key)
        if isinstance(balance, Balance) and not isinstance(balance.amount, str | None):
            return balance
    return None


def _plain_date(value: object) -> date | None:
    return date(value.year, value.month, value.day) if isinstance(value, date) else None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if not text or text.startswith("[<class"):  # decimal.InvalidOperation's own message
        return "not a number"
    return text


def _counting(count: Callable[..., Any]) -> dict[str, list[Callable[..., Any]]]:
    """The package's pre-processors with ``count`` after each: it runs once a tag was read."""
    processors: dict[str, list[Callable[..., Any]]] = {}
    tags: list[Tag] = list(TAG_BY_ID.values())
    for tag in tags:
        key = f"pre_{tag.slug}"
        processors[key] = [*Transactions.DEFAULT_PROCESSORS.get(key, []), count]
    return processors
