"""What every statement parser returns: the statements of one file, in the bank's own terms.

Pure Python (no Django): ``trust.bank.services`` stores what these describe. Amounts are integers
in the currency's minor unit, signed as the bank sees the account: a credit (money in) is positive,
a debit (money out) negative. A parser that cannot read a file raises ``StatementFormatError``
naming the line or XML element at fault; it never returns part of a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from trust.money import MoneyError, minor_exponent


class StatementFormatError(ValueError):
    """The file cannot be read as the format says. ``where`` names the line or element."""

    def __init__(self, message: str, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class LineKind:
    """What a line is, from the bank's transaction code where it gives one."""

    TRANSFER = "transfer"
    CHARGE = "charge"
    INTEREST = "interest"
    OTHER = "other"
    ALL = (TRANSFER, CHARGE, INTEREST, OTHER)


@dataclass(frozen=True)
class LinePart:
    """One transaction inside a batch booking (camt ``TxDtls``): the bank books the sum once."""

    amount_minor: int
    reference: str = ""
    counterparty: str = ""
    description: str = ""


@dataclass(frozen=True)
class ParsedLine:
    booking_date: date
    amount_minor: int  # signed: + money in, - money out, in the statement's currency
    value_date: date | None = None
    # The bank's own id of the line (camt AcctSvcrRef or NtryRef, OFX FITID, MT940 bank reference):
    # with the account it recognises a line imported twice. "" when the bank gives none.
    bank_reference: str = ""
    # The payer's or payee's reference (camt EndToEndId or remittance text, OFX REFNUM/CHECKNUM,
    # MT940 customer reference): what matching compares with the ledger's references.
    reference: str = ""
    counterparty: str = ""
    description: str = ""
    kind: str = LineKind.OTHER
    reversal: bool = False
    # A line the bank converted: the amount in the other currency and the rate it applied, as text
    # (a Decimal's string, never a float).
    original_amount_minor: int | None = None
    original_currency: str = ""
    exchange_rate: str = ""
    parts: tuple[LinePart, ...] = ()
    where: str = ""  # where in the file: "line 14", "Stmt[1]/Ntry[3]"
    # Charges the bank reports for this line (camt ``Chrgs``), positive, in the statement's
    # currency: for information only, ``amount_minor`` is what the bank booked.
    charges_minor: int = 0


@dataclass(frozen=True)
class ParsedStatement:
    account: str  # IBAN or account number as the bank writes it, spaces removed, upper case
    currency: str
    lines: tuple[ParsedLine, ...]
    statement_id: str = ""  # the bank's id of the statement ("" when the format has none)
    opening_minor: int | None = None  # None for a notification (camt.054) or a CSV export
    closing_minor: int | None = None
    from_date: date | None = None
    to_date: date | None = None
    notification: bool = False  # camt.054: lines without balances
    where: str = ""
    bank_id: str = ""  # the bank's own id when the format gives it apart (OFX BANKID)


@dataclass(frozen=True)
class CsvMapping:
    """How one bank's CSV export is read: saved per bank account by a trustee."""

    date_column: str
    amount_column: str = ""  # one signed column, or
    debit_column: str = ""  # two columns, both positive
    credit_column: str = ""
    description_column: str = ""
    reference_column: str = ""
    counterparty_column: str = ""
    bank_reference_column: str = ""
    value_date_column: str = ""
    balance_column: str = ""  # a running balance, when the export has one
    date_format: str = "%Y-%m-%d"  # strptime format
    decimal_comma: bool = False  # "1.234,56"
    delimiter: str = ","
    encoding: str = "utf-8"
    skip_rows: int = 0  # lines before the header
    negate: bool = False  # the bank writes money out as positive in the amount column


@dataclass(frozen=True)
class ParsedFile:
    format: str  # camt.053, camt.054, ofx, mt940, csv
    statements: tuple[ParsedStatement, ...] = field(default_factory=tuple)


def currency_code(code: str, where: str) -> str:
    """An ISO 4217 code the ledger knows, upper case, or ``StatementFormatError`` at ``where``."""
    cleaned = (code or "").strip().upper()
    try:
        minor_exponent(cleaned)
    except MoneyError as exc:
        raise StatementFormatError(f"{exc}.", where) from exc
    return cleaned


def minor_units(value: Decimal, currency: str, where: str) -> int:
    """An exact amount in the currency's minor unit; more decimals than the currency has are
    refused, never rounded."""
    if not value.is_finite():
        raise StatementFormatError(f"{value} is not an amount.", where)
    exponent = minor_exponent(currency_code(currency, where))
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise StatementFormatError(
            f"{value} {currency} has more than {exponent} decimal places.", where
        )
    return int(scaled)


_SWIFT_CHARGE = {"CHG", "COM", "ODC"}
_SWIFT_TRANSFER = {"TRF", "DDT", "STO", "CHK", "SAL", "CLR", "COL", "DCR", "BOE", "ECK", "RTI"}


def swift_code_kind(code: str) -> str:
    """The kind of a SWIFT transaction type code (MT940 ``:61:`` "NTRF", "NCHG", "S103"): the
    first letter says how the bank received it, the other three what it is."""
    code = (code or "").strip().upper()
    if re.fullmatch(r"S\d{3}", code):  # booked from a SWIFT payment message (MT103 ...)
        return LineKind.TRANSFER
    if not re.fullmatch(r"[NFS][A-Z0-9]{3}", code):
        return LineKind.OTHER
    if code[1:] in _SWIFT_CHARGE:
        return LineKind.CHARGE
    if code[1:] == "INT":
        return LineKind.INTEREST
    if code[1:] in _SWIFT_TRANSFER:
        return LineKind.TRANSFER
    return LineKind.OTHER
