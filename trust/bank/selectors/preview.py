"""What a file of the bank's statements would import, read without writing anything: its
statements with their balances and continuity, its first lines, and which of them were imported
before. The upload page and the API's ``preview`` show it before a trustee confirms.

The fingerprint of a line and the key that counts identical lines within a statement live here,
and ``trust.bank.services.statements`` imports them: the preview and the import recognise a line
imported before in exactly the same way.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError

from trust.bank.models import BankAccount, BankStatement, StatementImport, StatementLine
from trust.bank.parsing import parse_statement_file
from trust.bank.parsing.base import CsvMapping, ParsedLine, ParsedStatement, StatementFormatError

PREVIEW_LINES = 50
_CHUNK = 2_000


def _fingerprint(account_number: str, line: ParsedLine, occurrence: int) -> str:
    """What recognises the same line in another file: the bank's reference where it gives one,
    else the line's content and its occurrence among identical lines of its statement."""
    if line.bank_reference:
        text = "|".join(
            [
                "ref",
                account_number,
                line.bank_reference,
                str(line.amount_minor),
                line.booking_date.isoformat(),
                "R" if line.reversal else "",
            ]
        )
    else:
        text = "|".join(
            [
                "content",
                account_number,
                line.booking_date.isoformat(),
                line.value_date.isoformat() if line.value_date else "",
                str(line.amount_minor),
                line.reference,
                line.counterparty,
                line.description,
                "R" if line.reversal else "",
                str(occurrence),
            ]
        )
    return hashlib.sha256(text.encode()).hexdigest()


def _content_key(line: ParsedLine) -> tuple[Any, ...]:
    return (
        line.booking_date,
        line.value_date,
        line.amount_minor,
        line.reference,
        line.counterparty,
        line.description,
        line.reversal,
    )


def statement_fingerprints(account_number: str, statement: ParsedStatement) -> list[str]:
    """Each line's fingerprint, in the statement's order (identical lines counted in order)."""
    seen: Counter[tuple[Any, ...]] = Counter()
    prints = []
    for line in statement.lines:
        key = _content_key(line)
        seen[key] += 1
        prints.append(_fingerprint(account_number, line, seen[key]))
    return prints


@dataclass(frozen=True)
class PreviewLine:
    statement: int  # the statement's place in the file, from 1
    position: int
    line: ParsedLine
    known: bool  # imported before: would not be recorded again


@dataclass(frozen=True)
class PreviewStatement:
    index: int
    parsed: ParsedStatement
    from_date: date | None
    to_date: date | None
    continuity: str  # BankStatement.Continuity
    gap_minor: int
    known: bool  # its id was imported before: skipped whole
    lines: int
    lines_known: int

    @property
    def continuity_label(self) -> str:
        return BankStatement.Continuity(self.continuity).label


@dataclass
class Preview:
    format: str
    sha256: str
    size: int
    already_imported: bool  # this very file was imported before: nothing would be recorded
    statements: list[PreviewStatement] = field(default_factory=list)
    lines: list[PreviewLine] = field(default_factory=list)  # the first PREVIEW_LINES
    lines_total: int = 0
    lines_known: int = 0

    @property
    def lines_new(self) -> int:
        return 0 if self.already_imported else self.lines_total - self.lines_known

    @property
    def gaps(self) -> list[PreviewStatement]:
        return [s for s in self.statements if s.continuity == BankStatement.Continuity.GAP]

    @property
    def summary(self) -> str:
        if self.already_imported:
            return "This file was imported before: nothing would be recorded again."
        text = (
            f"{self.lines_new} statement line(s) would be recorded from"
            f" {sum(1 for s in self.statements if not s.known)} statement(s)"
        )
        if self.lines_known:
            text += f"; {self.lines_known} line(s) were already imported and would not be counted"
        return text + "."


def normalised_number(text: str) -> str:
    """An IBAN or account number as statements are compared: no spaces or dashes, upper case."""
    return "".join(ch for ch in text if ch.isalnum()).upper()


def statement_check(bank: BankAccount, st: ParsedStatement, fmt: str, index: int) -> None:
    """Refuse a statement for another account or currency, or a line without a date."""
    where = st.where or f"statement {index}"
    if fmt != "csv" and normalised_number(st.account) != bank.number:
        raise ValidationError(
            f"{where}: the file is for account {st.account or '(none given)'}, not this trust's"
            f" account {bank.number}: nothing was imported.",
            code="wrong_account",
        )
    if st.currency and st.currency != bank.account.currency:
        raise ValidationError(
            f"{where}: the statement is in {st.currency}; the account is kept in"
            f" {bank.account.currency}: nothing was imported.",
            code="wrong_currency",
        )
    for line in st.lines:
        if line.amount_minor and line.booking_date is None:
            raise ValidationError(f"{line.where}: no booking date.", code="bad_line")


def statement_dates(st: ParsedStatement) -> tuple[date | None, date | None]:
    """The period a statement covers: as it says, else from its lines' booking dates."""
    dates = [line.booking_date for line in st.lines if line.booking_date]
    from_date = st.from_date or (min(dates) if dates else st.to_date)
    to_date = st.to_date or (max(dates) if dates else from_date)
    return from_date, to_date


def statement_file_parse(
    *,
    bank: BankAccount,
    data: bytes,
    format: str | None = None,
    mapping: CsvMapping | None = None,
) -> Any:
    """The file read whole (``ParsedFile``), or a ``ValidationError`` naming the line or
    element at fault (code ``malformed``), a statement of another account or currency, or a
    file with no statement."""
    if not data:
        raise ValidationError("The file is empty.", code="empty")
    try:
        parsed = parse_statement_file(
            data,
            format=format,
            mapping=mapping,
            account=bank.number,
            currency=bank.account.currency,
        )
    except StatementFormatError as exc:
        raise ValidationError(f"{exc} Nothing was imported.", code="malformed") from exc
    if not parsed.statements:
        raise ValidationError("The file holds no statement.", code="no_statement")
    for index, st in enumerate(parsed.statements, start=1):
        statement_check(bank, st, parsed.format, index)
    return parsed


def statement_preview(
    *,
    bank: BankAccount,
    data: bytes,
    format: str | None = None,
    mapping: CsvMapping | None = None,
) -> Preview:
    """What importing ``data`` into ``bank`` would record (nothing is written): refused as the
    import refuses it (``statement_file_parse``); continuity judged as the import judges it,
    the file's own earlier statements included."""
    parsed = statement_file_parse(bank=bank, data=data, format=format, mapping=mapping)
    sha256 = hashlib.sha256(data).hexdigest()
    preview = Preview(
        format=parsed.format,
        sha256=sha256,
        size=len(data),
        already_imported=StatementImport.objects.filter(bank_account=bank, sha256=sha256).exists(),
    )
    earlier: list[tuple[date, int]] = []  # this file's statements before: (to_date, closing)
    for index, st in enumerate(parsed.statements, start=1):
        from_date, to_date = statement_dates(st)
        known = bool(st.statement_id) and (
            BankStatement.objects.filter(
                bank_account=bank, statement_id=st.statement_id[:120]
            ).exists()
        )
        prints = statement_fingerprints(bank.number, st)
        found: set[str] = set()
        if not known:
            for start in range(0, len(prints), _CHUNK):
                found.update(
                    StatementLine.objects.filter(
                        bank_account=bank, fingerprint__in=prints[start : start + _CHUNK]
                    ).values_list("fingerprint", flat=True)
                )
        continuity, gap = BankStatement.Continuity.NONE, 0
        if not known and st.opening_minor is not None and not st.notification:
            continuity, gap = _continuity(bank, from_date, st.opening_minor, earlier)
        if not known and st.closing_minor is not None and to_date and not st.notification:
            earlier.append((to_date, st.closing_minor))
        lines_known = len(prints) if known else sum(1 for p in prints if p in found)
        preview.statements.append(
            PreviewStatement(
                index=index,
                parsed=st,
                from_date=from_date,
                to_date=to_date,
                continuity=str(continuity),
                gap_minor=gap,
                known=known,
                lines=len(prints),
                lines_known=lines_known,
            )
        )
        preview.lines_total += len(prints)
        preview.lines_known += lines_known
        for position, (line, fp) in enumerate(zip(st.lines, prints, strict=True), start=1):
            if len(preview.lines) >= PREVIEW_LINES:
                break
            preview.lines.append(PreviewLine(index, position, line, known or fp in found))
    return preview


def _continuity(
    bank: BankAccount,
    from_date: date | None,
    opening: int,
    earlier: list[tuple[date, int]],
) -> tuple[str, int]:
    """FIRST, CONTINUES or GAP (with the gap) against the last closing balance dated on or
    before ``from_date``: the account's stored statements and this file's earlier ones."""
    stored = BankStatement.objects.filter(bank_account=bank, closing_minor__isnull=False).exclude(
        to_date__isnull=True
    )
    if from_date is not None:
        stored = stored.filter(to_date__lte=from_date)
    row = stored.order_by("-to_date", "-id").values_list("to_date", "closing_minor").first()
    options = [(row[0], 0, row[1])] if row else []
    options += [
        (day, 1 + n, closing)
        for n, (day, closing) in enumerate(earlier)
        if from_date is None or day <= from_date
    ]
    if not options:
        return BankStatement.Continuity.FIRST, 0
    _, _, previous = max(options, key=lambda o: (o[0], o[1]))
    if previous == opening:
        return BankStatement.Continuity.CONTINUES, 0
    return BankStatement.Continuity.GAP, opening - previous
