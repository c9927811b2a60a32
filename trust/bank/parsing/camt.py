"""ISO 20022 bank-to-customer statements (camt.053) and notifications (camt.054), versions 02 to 08.

Read with lxml through a hardened parser: no DTD (a file that declares one is refused), no entity
expansion, no network, no huge trees. Elements are looked up in the document's own namespace,
whatever prefix the bank gives it. Only booked entries (status BOOK, or none given) become lines:
pending and information-only entries do not move the balance. A camt.053 statement whose opening
balance plus its lines is not its closing balance is refused as corrupt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from lxml import etree

from .base import (
    LineKind,
    LinePart,
    ParsedFile,
    ParsedLine,
    ParsedStatement,
    StatementFormatError,
    currency_code,
    minor_units,
    swift_code_kind,
)

_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[0-9])\.001\.(\d{2})")
_SUPPORTED_VERSIONS = {f"{v:02d}" for v in range(2, 9)}
_MESSAGES = {"BkToCstmrStmt": "camt.053", "BkToCstmrDbtCdtNtfctn": "camt.054"}
_STATEMENT_ELEMENT = {"camt.053": "Stmt", "camt.054": "Ntfctn"}
_AMOUNT = re.compile(r"\+?(\d+(\.\d*)?|\.\d+)")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_BOOKED = {"", "BOOK"}
_OPENING = ("OPBD", "PRCD")
_CLOSING = "CLBD"

# ISO 20022 bank transaction codes (ExternalBankTransactionSubFamily1Code and Family codes).
_CHARGE_CODES = {"CHRG", "FEES", "COMM", "COME", "COMI", "COMT"}
_INTEREST_CODES = {"INTR"}
_TRANSFER_FAMILIES = {
    "RCDT", "ICDT", "RDDT", "IDDT", "RRCT", "IRCT", "RCHQ", "ICHQ", "DRFT", "CNTR", "CCRD", "RCCN",
    "ICCN", "MCRD", "RRDT", "IRDT",
}  # fmt: skip


def _parser() -> etree.XMLParser:
    # A new parser per file: lxml parsers are not shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


@dataclass(frozen=True)
class _Node:
    """An element with its path in the file ("Stmt[2]/Ntry[5]"), for messages that name it."""

    el: etree._Element
    path: str
    ns: str

    def _tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}" if self.ns else name

    def all(self, name: str) -> list[_Node]:
        tag = self._tag(name)
        found = [child for child in self.el if child.tag == tag]
        return [
            _Node(child, self._join(f"{name}[{number}]"), self.ns)
            for number, child in enumerate(found, start=1)
        ]

    def one(self, *names: str) -> _Node | None:
        node: _Node | None = self
        for name in names:
            if node is None:
                return None
            child = node.el.find(node._tag(name))
            node = None if child is None else _Node(child, node._join(name), self.ns)
        return node

    def require(self, *names: str) -> _Node:
        node = self.one(*names)
        if node is None:
            raise StatementFormatError("missing.", self._join("/".join(names)))
        return node

    def text(self, *names: str) -> str:
        node = self.one(*names)
        if node is None or node.el.text is None:
            return ""
        return " ".join(node.el.text.split())

    def _join(self, name: str) -> str:
        return f"{self.path}/{name}" if self.path else name


def parse_camt(data: bytes) -> ParsedFile:
    """Read a camt.053 or camt.054 file whole, or raise ``StatementFormatError``."""
    document = _document(data)
    ns = etree.QName(document).namespace or ""
    message = next((child for child in document if isinstance(child.tag, str)), None)
    if message is None:
        raise StatementFormatError("the Document holds no message.", "Document")
    name = etree.QName(message).localname
    kind = _MESSAGES.get(name)
    if kind is None:
        raise StatementFormatError(
            f"{name} is not a bank statement (BkToCstmrStmt) or notification"
            " (BkToCstmrDbtCdtNtfctn).",
            "Document",
        )
    if ns:
        match = _NAMESPACE.fullmatch(ns)
        if match is None:
            raise StatementFormatError(f"unknown namespace {ns!r}.", "Document")
        if match.group(1) != kind:
            raise StatementFormatError(
                f"the namespace says {match.group(1)} but the message is a {kind}.", "Document"
            )
        if match.group(2) not in _SUPPORTED_VERSIONS:
            raise StatementFormatError(
                f"{kind} version 001.{match.group(2)} is not supported (001.02 to 001.08 are).",
                "Document",
            )
    root = _Node(message, "", ns)
    statements = tuple(_statement(node, kind) for node in root.all(_STATEMENT_ELEMENT[kind]))
    return ParsedFile(format=kind, statements=statements)


def _document(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        message = re.sub(r", line \d+, column \d+$", "", str(getattr(exc, "msg", "") or exc))
        raise StatementFormatError(
            f"not well-formed XML ({message}).", f"line {line}" if line else ""
        ) from exc
    if root is None:
        raise StatementFormatError("the file holds no XML element.")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise StatementFormatError(
            "the file declares a DTD (<!DOCTYPE>), which bank statements never do: refused."
        )
    if etree.QName(root).localname == "Document":
        return root
    # A business application header envelope: the Document is inside.
    inner = next(root.iter("{*}Document"), None)
    if inner is not None:
        return inner
    raise StatementFormatError(
        f"the root element is {etree.QName(root).localname}, not an ISO 20022 Document."
    )


def _statement(node: _Node, kind: str) -> ParsedStatement:
    notification = kind == "camt.054"
    statement_id = node.text("Id")
    account_node = node.require("Acct")
    account = "".join(
        (account_node.text("Id", "IBAN") or account_node.text("Id", "Othr", "Id")).split()
    ).upper()
    if not account:
        raise StatementFormatError("no account: neither IBAN nor Othr/Id.", f"{node.path}/Acct/Id")
    currency = account_node.text("Ccy")
    balances = [] if notification else node.all("Bal")
    entries = node.all("Ntry")
    if not currency:
        for candidate in [*(b.one("Amt") for b in balances), *(e.one("Amt") for e in entries)]:
            if candidate is not None and candidate.el.get("Ccy"):
                currency = candidate.el.get("Ccy", "")
                break
    if not currency:
        raise StatementFormatError("no currency: no Acct/Ccy and no amount with one.", node.path)
    currency = currency_code(currency, f"{account_node.path}/Ccy")

    opening = closing = None
    opening_date = closing_date = None
    for balance in balances:
        code = balance.text("Tp", "CdOrPrtry", "Cd")
        if code not in (*_OPENING, _CLOSING):
            continue
        amount = _signed(balance, currency)
        when = _date(balance.one("Dt"))
        if code == _CLOSING and closing is None:
            closing, closing_date = amount, when
        elif code in _OPENING and (opening is None or code == "OPBD"):
            opening = amount
            opening_date = when + timedelta(days=1) if when and code == "PRCD" else when

    lines = tuple(
        line
        for entry in entries
        if (line := _line(entry, currency)) is not None
    )  # fmt: skip
    if opening is not None and closing is not None:
        total = sum(line.amount_minor for line in lines)
        if opening + total != closing:
            raise StatementFormatError(
                f"statement {statement_id or '(no Id)'} does not add up: opening balance"
                f" {opening} + lines {total} = {opening + total}, but the closing balance is"
                f" {closing} (minor units of {currency}); the file is corrupt.",
                node.path,
            )
    from_date = _date(node.one("FrToDt", "FrDtTm")) or opening_date
    to_date = _date(node.one("FrToDt", "ToDtTm")) or closing_date
    return ParsedStatement(
        account=account,
        currency=currency,
        lines=lines,
        statement_id=statement_id,
        opening_minor=opening,
        closing_minor=closing,
        from_date=from_date,
        to_date=to_date,
        notification=notification,
        where=node.path,
    )


def _line(entry: _Node, currency: str) -> ParsedLine | None:
    status = entry.text("Sts", "Cd") or entry.text("Sts", "Prtry") or entry.text("Sts")
    if status.upper() not in _BOOKED:
        return None
    amount = _signed(entry, currency)
    sign = _sign(entry.text("CdtDbtInd"), f"{entry.path}/CdtDbtInd")
    reversal = entry.text("RvslInd").lower() in ("true", "1")
    booking_date = _date(entry.one("BookgDt"))
    value_date = _date(entry.one("ValDt"))
    if booking_date is None:
        booking_date = value_date
    if booking_date is None:
        raise StatementFormatError("no BookgDt or ValDt.", entry.path)
    transactions = [tx for details in entry.all("NtryDtls") for tx in details.all("TxDtls")]
    reference = counterparty = description = ""
    parts: tuple[LinePart, ...] = ()
    fx_source = entry.one("AmtDtls")
    if len(transactions) == 1:
        reference, counterparty, description, _ = _transaction(
            transactions[0], sign, reversal, currency
        )
        fx_source = fx_source or transactions[0].one("AmtDtls")
    elif len(transactions) > 1:
        found = [_transaction(tx, sign, reversal, currency) for tx in transactions]
        if all(part_amount is not None for *_, part_amount in found):
            parts = tuple(
                LinePart(
                    amount_minor=part_amount, reference=ref, counterparty=who, description=text
                )
                for ref, who, text, part_amount in found
                if part_amount is not None
            )
        reference = next(
            (
                batch.text("Btch", "PmtInfId")
                for batch in entry.all("NtryDtls")
                if batch.text("Btch", "PmtInfId")
            ),
            "",
        )
    description = description or entry.text("AddtlNtryInf")
    original_amount, original_currency, rate = _exchange(fx_source, sign, currency)
    return ParsedLine(
        booking_date=booking_date,
        amount_minor=amount,
        value_date=value_date,
        bank_reference=entry.text("AcctSvcrRef") or entry.text("NtryRef"),
        reference=reference,
        counterparty=counterparty,
        description=description,
        kind=_kind(entry),
        reversal=reversal,
        original_amount_minor=original_amount,
        original_currency=original_currency,
        exchange_rate=rate,
        parts=parts,
        where=entry.path,
        charges_minor=_charges(entry, currency),
    )


def _transaction(
    tx: _Node, entry_sign: int, reversal: bool, currency: str
) -> tuple[str, str, str, int | None]:
    """Reference, counterparty, description and signed amount (None when the transaction gives no
    amount in the statement's currency) of one TxDtls."""
    sign = entry_sign
    indicator = tx.text("CdtDbtInd")
    if indicator:
        sign = _sign(indicator, f"{tx.path}/CdtDbtInd")
    amount = None
    for path in (("Amt",), ("AmtDtls", "TxAmt", "Amt"), ("AmtDtls", "InstdAmt", "Amt")):
        node = tx.one(*path)
        if node is not None and (node.el.get("Ccy") or "").upper() == currency:
            amount = sign * minor_units(_decimal(node), currency, node.path)
            break
    end_to_end = tx.text("Refs", "EndToEndId")
    if end_to_end.upper() == "NOTPROVIDED":
        end_to_end = ""
    creditor_reference = next(
        (s.text("CdtrRefInf", "Ref") for s in _structured(tx) if s.text("CdtrRefInf", "Ref")), ""
    )
    # The payer of a credit, the payee of a debit; a reversal keeps the original's parties.
    payer = (sign > 0) != reversal
    party = ("Dbtr", "UltmtDbtr") if payer else ("Cdtr", "UltmtCdtr")
    counterparty = next(
        (
            name
            for role in party
            if (name := tx.text("RltdPties", role, "Nm") or tx.text("RltdPties", role, "Pty", "Nm"))
        ),
        "",
    )
    remittance = tx.one("RmtInf")
    unstructured = [] if remittance is None else remittance.all("Ustrd")
    description = " ".join(text for u in unstructured if (text := u.text()))
    description = description or tx.text("AddtlTxInf")
    return end_to_end or creditor_reference, counterparty, description, amount


def _structured(tx: _Node) -> list[_Node]:
    remittance = tx.one("RmtInf")
    return [] if remittance is None else remittance.all("Strd")


def _exchange(details: _Node | None, sign: int, currency: str) -> tuple[int | None, str, str]:
    """The amount in another currency and the bank's rate, from AmtDtls (InstdAmt, TxAmt, ...)."""
    if details is None:
        return None, "", ""
    original: tuple[int, str] | None = None
    rate = ""
    for name in ("InstdAmt", "TxAmt", "CntrValAmt", "AnncdPstngAmt"):
        node = details.one(name)
        if node is None:
            continue
        amount = node.one("Amt")
        other = (amount.el.get("Ccy") or "").upper() if amount is not None else ""
        if amount is not None and other and other != currency and original is None:
            code = currency_code(other, f"{amount.path}/@Ccy")
            original = (sign * minor_units(_decimal(amount), code, amount.path), code)
        rate = rate or node.text("CcyXchg", "XchgRate")
    if original is None:
        return None, "", ""
    if rate:
        try:
            rate = str(Decimal(rate))
        except InvalidOperation as exc:
            raise StatementFormatError(
                f"{rate!r} is not an exchange rate.", f"{details.path}/*/CcyXchg/XchgRate"
            ) from exc
    return original[0], original[1], rate


def _charges(entry: _Node, currency: str) -> int:
    total = 0
    for charges in entry.all("Chrgs"):
        overall = charges.one("TtlChrgsAndTaxAmt")
        amounts = (
            [overall]
            if overall is not None
            else [r.one("Amt") for r in charges.all("Rcrd")] or [charges.one("Amt")]
        )
        for node in amounts:
            if node is not None and (node.el.get("Ccy") or "").upper() == currency:
                total += minor_units(_decimal(node), currency, node.path)
    return total


def _kind(entry: _Node) -> str:
    code = entry.one("BkTxCd")
    if code is None:
        return LineKind.OTHER
    domain = code.text("Domn", "Cd").upper()
    family = code.text("Domn", "Fmly", "Cd").upper()
    subfamily = code.text("Domn", "Fmly", "SubFmlyCd").upper()
    if subfamily in _CHARGE_CODES or family in _CHARGE_CODES:
        return LineKind.CHARGE
    if subfamily in _INTEREST_CODES or family in _INTEREST_CODES:
        return LineKind.INTEREST
    if domain == "PMNT" or family in _TRANSFER_FAMILIES:
        return LineKind.TRANSFER
    if domain and domain != "NTAV":
        return LineKind.OTHER
    # Only a proprietary code: a SWIFT-style one ("NTRF", "NCHG+808") says what it is.
    proprietary = code.text("Prtry", "Cd").upper()
    return swift_code_kind(proprietary[:4]) if proprietary else LineKind.OTHER


def _signed(node: _Node, currency: str) -> int:
    """The signed amount of a Bal or Ntry: Amt, in the statement's currency, by CdtDbtInd."""
    amount = node.require("Amt")
    given = (amount.el.get("Ccy") or "").upper()
    if given and given != currency:
        raise StatementFormatError(
            f"the amount is in {given}, the statement in {currency}.", amount.path
        )
    value = minor_units(_decimal(amount), currency, amount.path)
    return _sign(node.text("CdtDbtInd"), f"{node.path}/CdtDbtInd") * value


def _sign(indicator: str, where: str) -> int:
    if indicator == "CRDT":
        return 1
    if indicator == "DBIT":
        return -1
    raise StatementFormatError(
        f"{indicator!r} is not CRDT or DBIT." if indicator else "missing.", where
    )


def _decimal(node: _Node) -> Decimal:
    text = (node.el.text or "").strip()
    if not _AMOUNT.fullmatch(text):
        raise StatementFormatError(
            f"{text!r} is not an amount (digits, a '.' and no sign)." if text else "no amount.",
            node.path,
        )
    return Decimal(text)


def _date(node: _Node | None) -> date | None:
    """A Dt or DtTm (or a choice element holding one) as the bank's own calendar date."""
    if node is None:
        return None
    inner = node.one("Dt") or node.one("DtTm")
    target = inner or node
    text = (target.el.text or "").strip()
    if not text and inner is None:
        return None
    match = _DATE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        return date.fromisoformat(match.group(1))
    except ValueError as exc:
        raise StatementFormatError(f"{text!r} is not a date (YYYY-MM-DD).", target.path) from exc
