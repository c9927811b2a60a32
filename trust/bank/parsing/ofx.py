"""OFX and QFX statements, version 1 (SGML) and 2 (XML), read with ofxtools.

Each bank statement (STMTRS) and credit card statement (CCSTMTRS) becomes one statement. OFX gives
a closing (ledger) balance but no opening one: the opening is the closing less the lines, and only
when the ledger balance is as of the end of the transaction list or later (else None). Dates are
the bank's own calendar dates as written, before ofxtools turns them into UTC.
"""

from __future__ import annotations

import io
import re
import warnings
import xml.etree.ElementTree as ET
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from ofxtools.header import parse_header
from ofxtools.models.base import Aggregate
from ofxtools.Parser import OFXTree

from trust.money import minor_exponent

from .base import (
    LineKind,
    ParsedFile,
    ParsedLine,
    ParsedStatement,
    StatementFormatError,
    currency_code,
    minor_units,
)

_KINDS = {
    "FEE": LineKind.CHARGE,
    "SRVCHG": LineKind.CHARGE,
    "INT": LineKind.INTEREST,
    "DIV": LineKind.INTEREST,
    "OTHER": LineKind.OTHER,
    "HOLD": LineKind.OTHER,
}  # every other TRNTYPE (CREDIT, DEBIT, XFER, CHECK, PAYMENT, DEP, ATM, POS, ...) is a transfer
_STATEMENTS = ("STMTRS", "CCSTMTRS")


def parse_ofx(data: bytes) -> ParsedFile:
    """Read an OFX or QFX file whole, or raise ``StatementFormatError``."""
    tree = OFXTree()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree.parse(io.BytesIO(data))
    except UnicodeDecodeError as exc:
        raise StatementFormatError(f"the file does not decode as its header says ({exc}).") from exc
    except AssertionError as exc:  # ElementTree's TreeBuilder.close(): tags left open
        raise StatementFormatError(
            "the file ends with elements still open: it is truncated or not OFX."
        ) from exc
    except Exception as exc:  # ofxtools raises ParseError, OFXHeaderError, ValueError ...
        raise StatementFormatError(
            f"not readable as OFX: {_brief(exc)}", _position(data, exc)
        ) from exc
    # ofxtools closes what a file leaves open: a file cut short after a whole statement would
    # lose the statements after it without a word. Every OFX file ends with </OFX>.
    content = data.rstrip(b" \t\r\n\x00")
    if not content.upper().endswith(b"</OFX>"):
        last_line = content.count(b"\n") + 1
        raise StatementFormatError(
            "the file does not end with </OFX>: it is truncated.", f"line {last_line}"
        )
    root = tree.getroot()
    statements: list[ParsedStatement] = []
    numbers = dict.fromkeys(_STATEMENTS, 0)
    for element in root.iter():
        if element.tag in numbers:
            numbers[element.tag] += 1
            statements.append(_statement(element, f"{element.tag}[{numbers[element.tag]}]"))
    if not statements:
        status = root.find(".//STMTTRNRS/STATUS")
        if status is None:
            status = root.find(".//CCSTMTTRNRS/STATUS")
        if status is not None and (status.findtext("CODE") or "0") != "0":
            raise StatementFormatError(
                f"the bank answered with status {status.findtext('CODE')}"
                f" ({status.findtext('MESSAGE') or status.findtext('SEVERITY') or 'no message'})"
                " and no statement."
            )
    return ParsedFile(format="ofx", statements=tuple(statements))


def _statement(element: ET.Element, where: str) -> ParsedStatement:
    model = _convert(element, where)
    currency = currency_code(str(model.curdef), f"{where}/CURDEF")
    account_model = model.account
    account = "".join(str(account_model.acctid or "").split()).upper()
    if not account:
        raise StatementFormatError("no ACCTID.", where)
    bank_id = str(getattr(account_model, "bankid", "") or "").strip()
    transactions = model.banktranlist
    lines: list[ParsedLine] = []
    start = end = None
    if transactions is not None:
        list_element = element.find("BANKTRANLIST")
        raw = [] if list_element is None else list_element.findall("STMTTRN")
        for number, (transaction, raw_transaction) in enumerate(
            zip(transactions, raw, strict=True), start=1
        ):
            line_where = f"{where}/BANKTRANLIST/STMTTRN[{number}]"
            lines.append(_line(transaction, raw_transaction, currency, line_where))
        start = _local_date(list_element, "DTSTART", f"{where}/BANKTRANLIST")
        end = _local_date(list_element, "DTEND", f"{where}/BANKTRANLIST")
    closing = minor_units(model.ledgerbal.balamt, currency, f"{where}/LEDGERBAL/BALAMT")
    opening = None
    ends = None if transactions is None else transactions.dtend
    if ends is not None and model.ledgerbal.dtasof >= ends:
        opening = closing - sum(line.amount_minor for line in lines)
    return ParsedStatement(
        account=account,
        currency=currency,
        lines=tuple(lines),
        opening_minor=opening,
        closing_minor=closing,
        from_date=start,
        to_date=end,
        where=where,
        bank_id=bank_id,
    )


def _line(transaction: Any, raw: ET.Element, currency: str, where: str) -> ParsedLine:
    if transaction.correctaction:
        raise StatementFormatError(
            f"a correction ({transaction.correctaction} of {transaction.correctfitid}) cannot be"
            " imported: ask the bank for the corrected statement.",
            where,
        )
    amount = transaction.trnamt
    original_amount: int | None = None
    original_currency = rate = ""
    if transaction.currency is not None:
        # The amount is in another currency; CURRATE is CURDEF per unit of it.
        other = transaction.currency
        original_currency = currency_code(str(other.cursym), f"{where}/CURRENCY/CURSYM")
        original_amount = minor_units(amount, original_currency, f"{where}/TRNAMT")
        rate = str(other.currate)
        amount = _rounded(amount * other.currate, currency)
    elif transaction.origcurrency is not None:
        # The amount is already in CURDEF, converted from ORIGCURRENCY at CURRATE.
        other = transaction.origcurrency
        original_currency = currency_code(str(other.cursym), f"{where}/ORIGCURRENCY/CURSYM")
        rate = str(other.currate)
        if other.currate:
            original_amount = minor_units(
                _rounded(amount / other.currate, original_currency), original_currency, where
            )
    payee = transaction.payee
    counterparty = str(transaction.name or (payee.name if payee is not None else "") or "")
    return ParsedLine(
        booking_date=_local_date(raw, "DTPOSTED", where) or transaction.dtposted.date(),
        amount_minor=minor_units(amount, currency, f"{where}/TRNAMT"),
        value_date=_local_date(raw, "DTAVAIL", where),
        bank_reference=str(transaction.fitid or "").strip(),
        reference=str(transaction.refnum or transaction.checknum or "").strip(),
        counterparty=" ".join(counterparty.split()),
        description=" ".join(str(transaction.memo or "").split()),
        kind=_KINDS.get(str(transaction.trntype), LineKind.TRANSFER),
        original_amount_minor=original_amount,
        original_currency=original_currency,
        exchange_rate=rate,
        where=where,
    )


def _convert(element: ET.Element, where: str) -> Any:
    """ofxtools' model of a statement; on an error, find the transaction at fault to name it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Aggregate.from_etree(element)
    except Exception as exc:
        for number, raw in enumerate(element.iterfind("BANKTRANLIST/STMTTRN"), start=1):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    Aggregate.from_etree(raw)
            except Exception as inner:
                line_where = f"{where}/BANKTRANLIST/STMTTRN[{number}]"
                raise _bad_number(raw, line_where) or StatementFormatError(
                    _brief(inner), line_where
                ) from inner
        for name in ("LEDGERBAL", "AVAILBAL"):
            balance = element.find(name)
            if balance is not None and (bad := _bad_number(balance, f"{where}/{name}")):
                raise bad from exc
        raise StatementFormatError(_brief(exc), where) from exc


def _local_date(element: ET.Element | None, tag: str, where: str) -> date | None:
    """The calendar date an OFX datetime was written with (YYYYMMDD...), in the bank's zone."""
    if element is None:
        return None
    text = (element.findtext(tag) or "").strip()
    if not text:
        return None
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise StatementFormatError(f"{text!r} is not a date.", f"{where}/{tag}") from exc


def _rounded(value: Decimal, currency: str) -> Decimal:
    """A converted amount to the currency's minor unit (half to even): OFX gives only a rate."""
    return value.quantize(Decimal(1).scaleb(-minor_exponent(currency)), rounding=ROUND_HALF_EVEN)


def _brief(exc: BaseException) -> str:
    """ofxtools' message, without the whole document it sometimes quotes or the list of every
    value it would have allowed."""
    if isinstance(exc, InvalidOperation):
        return "an amount that is not a number."
    text = " ".join(str(exc).split()) or type(exc).__name__
    if text.startswith("Tail text"):
        text = text.split("' in ", 1)[0] + "' after an element's value."
    text = re.sub(r"is not OneOf \(.*", "is not one of the values OFX allows.", text)
    return text if len(text) <= 300 else text[:297] + "..."


def _bad_number(element: ET.Element, where: str) -> StatementFormatError | None:
    """The amount or rate in ``element`` (or its CURRENCY) that is not a number, if one is."""
    for path in ("TRNAMT", "BALAMT", "CURRENCY/CURRATE", "ORIGCURRENCY/CURRATE"):
        text = (element.findtext(path) or "").strip()
        if not text:
            continue
        try:
            Decimal(text)
        except InvalidOperation:
            try:
                Decimal(text.replace(",", "."))
            except InvalidOperation:
                return StatementFormatError(f"{text!r} is not a number.", f"{where}/{path}")
    return None


def _position(data: bytes, exc: BaseException) -> str:
    """ "line N" for ofxtools' "position=[a:b]" (an offset in the body after the header)."""
    text = str(exc)
    marker = "position=["
    if marker not in text:
        return ""
    try:
        offset = int(text.split(marker, 1)[1].split(":", 1)[0])
        _, body = parse_header(io.BytesIO(data))
        whole = data.decode("utf-8", "replace").replace("\r\n", "\n")
        start = whole.find(body[:200].replace("\r\n", "\n"))
    except Exception:
        return ""
    if start < 0:
        return ""
    return f"line {whole.count(chr(10), 0, start + offset) + 1}"
