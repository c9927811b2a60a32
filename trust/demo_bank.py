"""The demo's bank: the statements a bank would have sent for the demo trust's bank account, read
back through the application as a trustee would, and each month reconciled and signed off.

Every name, number and reference here is invented. Used by ``manage.py demo_bank`` (after
``seed_demo``, ``demo_users`` and ``demo_disbursements``) and by the tests.

The bank books what moved the ledger's bank account, one line per entry, as a bank would:

- a receipt recorded with the bank's reference (a wire) carries it as the bank's own reference
  (``AcctSvcrRef``); the trust's own payments carry the trust's reference as their end-to-end id;
- what the trust dates on a Saturday or Sunday the bank books on the Monday after, so a month that
  ends on a weekend leaves deposits in transit and outstanding payments to the next statement;
- cheques from the clerk of court are credited with a value date one business day later;
- the first two cheques from the clerk that the bank books on the same day (recorded the same
  day, or over a weekend) are one batch credit with two transaction details: one deposit;
- an entry keyed twice by mistake and reversed on the same day never reached the bank: neither
  it nor its reversal is on a statement.

Statements are ISO 20022 camt.053.001.08, one file a month from the month of the first movement
to the last month that has ended. The same books give the same files, byte for byte, so running
the demo again imports nothing twice (the files' SHA-256 are known) and signs nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Min, Sum
from django.utils import timezone
from lxml import etree

from trust.bank.models import BankAccount, BankStatement, Reconciliation
from trust.bank.selectors.reconciliation import reconciliation_figures
from trust.bank.services.reconciliations import reconciliation_sign_off
from trust.bank.services.statements import bank_account_set, statement_import
from trust.models import Account, EntryKind, JournalEntry, Posting, Receipt, Trust
from trust.money import minor_exponent

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
BANK_NAME = "Demonstra Federal Bank (fictitious)"
BANK_BIC = "DEMOGB2LXXX"
CLERK = "Clerk of the District Court for Demonstra (fictitious)"
SIGN_OFF_NOTE = "Monthly reconciliation with the bank's statement (demo)."

# ISO 20022 bank transaction codes (domain, family, sub-family).
WIRE_IN = ("PMNT", "RCDT", "DMCT")
CHEQUE_IN = ("PMNT", "RCHQ", "CCHQ")
CHEQUE_RETURNED = ("PMNT", "RCHQ", "UPCQ")
WIRE_OUT = ("PMNT", "ICDT", "DMCT")
INTEREST = ("ACMT", "MCOP", "INTR")
CHARGES = ("ACMT", "MDOP", "CHRG")


# --- what moved the ledger's bank account ------------------------------------------------------


@dataclass(frozen=True)
class Movement:
    """One entry's net posting to the bank account (+ money in), with what the bank would know."""

    entry_id: int
    day: date
    amount_minor: int
    kind: str
    memo: str
    key: str
    bank_reference: str = ""  # the receipt's, as the bank gave it
    party: str = ""  # the payer or the payee
    cheque: bool = False  # a receipt without the bank's reference: a cheque from the clerk


def bank_movements_of(account: Account) -> list[Movement]:
    """Every entry with a net posting to ``account``, oldest first, less the corrections the bank
    never saw (an entry and its reversal on the same day)."""
    rows = list(
        Posting.objects.filter(account=account)
        .values("entry_id")
        .annotate(total=Sum("amount_minor"), day=Min("effective_date"))
        .order_by("day", "entry_id")
    )
    rows = [row for row in rows if row["total"]]
    ids = [row["entry_id"] for row in rows]
    entries = JournalEntry.objects.in_bulk(ids)
    keyed_twice = {
        e.pk
        for e in entries.values()
        if e.reverses_id in entries and entries[e.reverses_id].effective_date == e.effective_date
    }
    keyed_twice |= {entries[e].reverses_id for e in keyed_twice}
    receipts = {
        r.entry_id: r
        for r in Receipt.objects.filter(entry_id__in=ids).select_related("payer")
        if r.entry_id is not None
    }
    payees: dict[int, str] = {}
    for entry_id, partner in Posting.objects.filter(
        entry_id__in=ids,
        account__role=Account.Role.SUB_LEDGER,
        account__beneficiary__care_partner__isnull=False,
    ).values_list("entry_id", "account__beneficiary__care_partner__name"):
        payees.setdefault(entry_id, partner)
    out = []
    for row in rows:
        entry = entries[row["entry_id"]]
        if entry.pk in keyed_twice:
            continue
        receipt = receipts.get(entry.pk)
        amount = int(row["total"])
        if receipt is not None:
            party = receipt.payer.name if receipt.payer_id else CLERK
            reference = receipt.bank_reference
        else:
            party = CLERK if amount > 0 else payees.get(entry.pk, "")
            reference = ""
        out.append(
            Movement(
                entry_id=entry.pk,
                day=row["day"],
                amount_minor=amount,
                kind=entry.kind,
                memo=entry.memo,
                key=entry.idempotency_key,
                bank_reference=reference,
                party=party,
                cheque=amount > 0 and not reference and entry.kind == EntryKind.RECEIPT,
            )
        )
    return out


# --- what the bank booked ------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One transaction of a line (``TxDtls``)."""

    amount_minor: int
    end_to_end: str
    party: str
    remittance: str


@dataclass
class BankLine:
    booking_date: date
    value_date: date
    amount_minor: int
    code: tuple[str, str, str]
    parts: list[Part]
    bank_reference: str = ""
    batch: str = ""  # the batch's payment information id, for a batch booking
    entry_ids: list[int] = field(default_factory=list)


def business_day(day: date) -> date:
    """``day``, or the Monday after when it falls on a weekend."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _end_to_end(key: str) -> str:
    """The trust's reference for its own payment order (ISO 20022 allows 35 characters)."""
    return key if len(key) <= 35 else "E2E-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _code(m: Movement) -> tuple[str, str, str]:
    if m.kind == EntryKind.INTEREST:
        return INTEREST
    if m.kind == EntryKind.FEE:
        return CHARGES
    if m.amount_minor > 0:
        return CHEQUE_IN if m.cheque else WIRE_IN
    return CHEQUE_RETURNED if m.kind == EntryKind.REVERSAL else WIRE_OUT


def _part(m: Movement) -> Part:
    if m.amount_minor > 0:
        end_to_end = m.bank_reference or "NOTPROVIDED"
        remittance = "Restitution payment" + (f" {m.bank_reference}" if m.bank_reference else "")
    else:
        end_to_end = _end_to_end(m.key)
        remittance = m.memo
    return Part(m.amount_minor, end_to_end, m.party, remittance[:140])


def bank_lines(movements: Sequence[Movement]) -> list[BankLine]:
    """The lines a bank would book for ``movements`` (see the module's docstring)."""
    lines: list[BankLine] = []
    cheques_by_day: dict[date, list[Movement]] = defaultdict(list)
    for m in movements:
        if m.cheque:
            cheques_by_day[business_day(m.day)].append(m)
    batch = next((found[:2] for _, found in sorted(cheques_by_day.items()) if len(found) > 1), [])
    batched = {m.entry_id for m in batch}
    for m in movements:
        if m.entry_id in batched and m is not batch[0]:
            continue
        booked = business_day(m.day)
        if m.entry_id in batched:
            lines.append(
                BankLine(
                    booking_date=booked,
                    value_date=business_day(booked + timedelta(days=1)),
                    amount_minor=sum(b.amount_minor for b in batch),
                    code=CHEQUE_IN,
                    parts=[_part(b) for b in batch],
                    batch=f"DEPOSIT-{booked:%Y%m%d}",
                    entry_ids=[b.entry_id for b in batch],
                )
            )
            continue
        value = business_day(booked + timedelta(days=1)) if m.cheque else booked
        lines.append(
            BankLine(
                booking_date=booked,
                value_date=value,
                amount_minor=m.amount_minor,
                code=_code(m),
                parts=[_part(m)],
                bank_reference=m.bank_reference,
                entry_ids=[m.entry_id],
            )
        )
    lines.sort(key=lambda line: (line.booking_date, line.entry_ids[0]))
    per_day: dict[date, int] = defaultdict(int)
    for line in lines:
        per_day[line.booking_date] += 1
        if not line.bank_reference:
            line.bank_reference = f"DFB{line.booking_date:%Y%m%d}{per_day[line.booking_date]:04d}"
    return lines


# --- camt.053 ------------------------------------------------------------------------------------


def iban_for(case_number: str) -> str:
    """A fictitious British-form IBAN for a demo trust (its check digits pass ISO 7064 mod 97)."""
    digits = int(hashlib.sha256(case_number.encode()).hexdigest(), 16) % 10**8
    bban = f"DEMO400515{digits:08d}"
    moved = "".join(str(int(ch, 36)) for ch in bban + "GB00")
    return f"GB{98 - int(moved) % 97:02d}{bban}"


def _amount(minor: int, currency: str) -> str:
    exponent = minor_exponent(currency)
    whole, part = divmod(abs(minor), 10**exponent)
    return f"{whole}.{part:0{exponent}d}" if exponent else str(whole)


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> Any:
    node = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}", **attrs)
    if text is not None:
        node.text = text
    return node


def _money(parent: etree._Element, minor: int, currency: str) -> None:
    _el(parent, "Amt", _amount(minor, currency), Ccy=currency)
    _el(parent, "CdtDbtInd", "CRDT" if minor >= 0 else "DBIT")


def _date(parent: etree._Element, tag: str, day: date) -> None:
    _el(_el(parent, tag), "Dt", day.isoformat())


@dataclass(frozen=True)
class MonthStatement:
    statement_id: str
    start: date
    end: date
    opening_minor: int
    closing_minor: int
    lines: tuple[BankLine, ...]
    xml: bytes


def camt053(
    *,
    iban: str,
    currency: str,
    owner: str,
    statement_id: str,
    sequence: int,
    start: date,
    end: date,
    opening_minor: int,
    lines: Sequence[BankLine],
) -> bytes:
    """One month's statement as ISO 20022 camt.053.001.08 (a statement per file)."""
    created = f"{end + timedelta(days=1)}T06:00:00+00:00"
    closing = opening_minor + sum(line.amount_minor for line in lines)
    root = etree.Element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE})
    message = _el(root, "BkToCstmrStmt")
    header = _el(message, "GrpHdr")
    _el(header, "MsgId", f"DFB-{statement_id}")
    _el(header, "CreDtTm", created)
    stmt = _el(message, "Stmt")
    _el(stmt, "Id", statement_id)
    _el(stmt, "ElctrncSeqNb", str(sequence))
    _el(stmt, "CreDtTm", created)
    span = _el(stmt, "FrToDt")
    _el(span, "FrDtTm", f"{start}T00:00:00+00:00")
    _el(span, "ToDtTm", f"{end}T23:59:59+00:00")
    account = _el(stmt, "Acct")
    _el(_el(account, "Id"), "IBAN", iban)
    _el(account, "Ccy", currency)
    _el(account, "Nm", "Client trust account")
    _el(_el(account, "Ownr"), "Nm", owner[:140])
    _el(_el(_el(account, "Svcr"), "FinInstnId"), "BICFI", BANK_BIC)
    for code, amount, day in (("OPBD", opening_minor, start), ("CLBD", closing, end)):
        balance = _el(stmt, "Bal")
        _el(_el(_el(balance, "Tp"), "CdOrPrtry"), "Cd", code)
        _money(balance, amount, currency)
        _date(balance, "Dt", day)
    credits = [line for line in lines if line.amount_minor > 0]
    debits = [line for line in lines if line.amount_minor < 0]
    summary = _el(stmt, "TxsSummry")
    total = _el(summary, "TtlNtries")
    _el(total, "NbOfNtries", str(len(lines)))
    _el(total, "Sum", _amount(sum(abs(line.amount_minor) for line in lines), currency))
    net = _el(total, "TtlNetNtry")  # AmountAndDirection35: an amount without a currency
    _el(net, "Amt", _amount(closing - opening_minor, currency))
    _el(net, "CdtDbtInd", "CRDT" if closing >= opening_minor else "DBIT")
    for tag, found in (("TtlCdtNtries", credits), ("TtlDbtNtries", debits)):
        group = _el(summary, tag)
        _el(group, "NbOfNtries", str(len(found)))
        _el(group, "Sum", _amount(sum(abs(line.amount_minor) for line in found), currency))
    for line in lines:
        _entry(stmt, line, currency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _entry(stmt: etree._Element, line: BankLine, currency: str) -> None:
    entry = _el(stmt, "Ntry")
    _money(entry, line.amount_minor, currency)
    _el(_el(entry, "Sts"), "Cd", "BOOK")
    _date(entry, "BookgDt", line.booking_date)
    _date(entry, "ValDt", line.value_date)
    _el(entry, "AcctSvcrRef", line.bank_reference)
    domain, family, subfamily = line.code
    code = _el(_el(entry, "BkTxCd"), "Domn")
    _el(code, "Cd", domain)
    codes = _el(code, "Fmly")
    _el(codes, "Cd", family)
    _el(codes, "SubFmlyCd", subfamily)
    details = _el(entry, "NtryDtls")
    if line.batch:
        batch = _el(details, "Btch")
        _el(batch, "PmtInfId", line.batch)
        _el(batch, "NbOfTxs", str(len(line.parts)))
        _el(batch, "TtlAmt", _amount(line.amount_minor, currency), Ccy=currency)
        _el(batch, "CdtDbtInd", "CRDT" if line.amount_minor >= 0 else "DBIT")
    for part in line.parts:
        tx = _el(details, "TxDtls")
        _el(_el(tx, "Refs"), "EndToEndId", part.end_to_end[:35])
        _money(tx, part.amount_minor, currency)
        if part.party:
            parties = _el(tx, "RltdPties")
            role = "Dbtr" if part.amount_minor > 0 else "Cdtr"
            _el(_el(_el(parties, role), "Pty"), "Nm", part.party[:140])
        if part.remittance:
            _el(_el(tx, "RmtInf"), "Ustrd", part.remittance[:140])


def month_ends(first: date, last_ended: date) -> list[tuple[date, date]]:
    """Calendar months from the month of ``first`` to the month that ends on ``last_ended``."""
    out = []
    start = first.replace(day=1)
    while True:
        following = (start + timedelta(days=32)).replace(day=1)
        end = following - timedelta(days=1)
        if end > last_ended:
            return out
        out.append((start, end))
        start = following


def monthly_statements(
    *, account: Account, iban: str, owner: str, today: date | None = None
) -> list[MonthStatement]:
    """The bank's monthly statements of ``account``, for every month that has ended."""
    today = today or timezone.localdate()
    lines = bank_lines(bank_movements_of(account))
    if not lines:
        return []
    last_ended = today.replace(day=1) - timedelta(days=1)
    out: list[MonthStatement] = []
    balance = 0
    for sequence, (start, end) in enumerate(month_ends(lines[0].booking_date, last_ended), start=1):
        found = tuple(line for line in lines if start <= line.booking_date <= end)
        statement_id = f"{iban[-8:]}-{start:%Y-%m}"
        xml = camt053(
            iban=iban,
            currency=account.currency,
            owner=owner,
            statement_id=statement_id,
            sequence=sequence,
            start=start,
            end=end,
            opening_minor=balance,
            lines=found,
        )
        closing = balance + sum(line.amount_minor for line in found)
        out.append(MonthStatement(statement_id, start, end, balance, closing, found, xml))
        balance = closing
    return out


# --- read back and reconciled --------------------------------------------------------------------


@dataclass
class DemoBankResult:
    trust: Trust
    bank: BankAccount
    statements: list[MonthStatement]
    imported: int = 0
    lines: int = 0
    matched: int = 0
    signed_off: int = 0
    not_signed: list[str] = field(default_factory=list)


def demo_bank_seed(*, trust: Trust, actor: Any, today: date | None = None) -> DemoBankResult:
    """Give ``trust``'s bank account its (fictitious) bank details, import the bank's monthly
    statements through ``statement_import`` as ``actor`` (a trustee) and sign off each month's
    reconciliation where nothing is unexplained. Running it again changes nothing."""
    account = trust.accounts.get(role=Account.Role.BANK, currency=trust.base_currency)
    iban = iban_for(trust.case_number)
    bank = BankAccount.objects.filter(account=account).first()
    if bank is None or bank.number != iban:
        bank = bank_account_set(actor=actor, account=account, number=iban, bank_name=BANK_NAME)
    statements = monthly_statements(account=account, iban=iban, owner=trust.caption, today=today)
    result = DemoBankResult(trust=trust, bank=bank, statements=statements)
    for month in statements:
        outcome = statement_import(
            actor=actor,
            bank=bank,
            data=month.xml,
            file_name=f"camt053-{month.statement_id}.xml",
            format="camt.053",
        )
        if not outcome.already_imported:
            result.imported += 1
            result.lines += outcome.lines
            result.matched += outcome.matched
        statement = BankStatement.objects.get(bank_account=bank, statement_id=month.statement_id)
        done = Reconciliation.objects.filter(
            bank_account=bank, as_of=statement.to_date, status=Reconciliation.Status.SIGNED_OFF
        ).exists()
        if done:
            continue
        figures = reconciliation_figures(bank=bank, statement=statement)
        if figures.unexplained_minor:
            result.not_signed.append(month.statement_id)
            continue
        reconciliation_sign_off(actor=actor, bank=bank, statement=statement, note=SIGN_OFF_NOTE)
        result.signed_off += 1
    return result
