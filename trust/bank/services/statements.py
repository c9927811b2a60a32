"""The trust's bank accounts as the bank knows them, and importing the bank's statements.

An import is all or nothing: the file is parsed whole first (a malformed file is refused with the
line or element at fault, and nothing is written); then, in one transaction under the bank
account's row lock, its statements and lines are stored, each recognised when it was imported
before (a statement by the bank's id, a line by its fingerprint), the continuity of balances
checked, an audit event written with the file's SHA-256, and the new lines matched with the ledger.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from trust.access import require
from trust.audit.events import audit_record
from trust.bank.models import (
    BankAccount,
    BankStatement,
    StatementImport,
    StatementLine,
)
from trust.bank.parsing.base import CsvMapping, ParsedStatement
from trust.bank.selectors.preview import (
    _content_key,
    _fingerprint,
    normalised_number,
    statement_dates,
    statement_file_parse,
)
from trust.bank.services.matching import auto_match
from trust.models import Account
from trust.money import format_money, from_minor
from trust.roles import Action

FORMATS = ("camt.053", "camt.054", "ofx", "mt940", "csv")
MAX_FILE_BYTES = 50 * 1024 * 1024
_CHUNK = 2_000


def _iban_ok(number: str) -> bool:
    """ISO 13616's check: move the first four characters to the end, letters to numbers, mod 97."""
    moved = number[4:] + number[:4]
    digits = "".join(str(int(ch, 36)) for ch in moved)
    return int(digits) % 97 == 1


def bank_account_set(
    *,
    actor: Any,
    account: Account,
    number: str,
    bank_name: str = "",
    match_window_days: int = 5,
) -> BankAccount:
    """Say which account at which bank a ledger bank account is (creates or updates)."""
    require(
        actor,
        Action.BANK_MANAGE,
        account.trust,
        "Only a trustee of this trust may set its bank accounts.",
        "not_trustee",
    )
    if account.role != Account.Role.BANK:
        raise ValidationError("Only a bank account can have bank details.", code="not_bank")
    cleaned = normalised_number(number)
    if not 4 <= len(cleaned) <= 34:
        raise ValidationError(
            {"number": "Give the IBAN or account number (4 to 34 letters and digits)."},
            code="bad_number",
        )
    iban = cleaned[:2].isalpha() and cleaned[2:4].isdigit() and len(cleaned) >= 15
    if iban and not _iban_ok(cleaned):
        raise ValidationError(
            {"number": "This IBAN's check digits are wrong: check it against the bank's."},
            code="bad_iban",
        )
    if not 0 <= match_window_days <= 60:
        raise ValidationError(
            {"match_window_days": "The window is 0 to 60 days."}, code="bad_window"
        )
    with transaction.atomic():
        existing = BankAccount.objects.select_for_update().filter(account=account).first()
        before = {"number": existing.number, "bank_name": existing.bank_name} if existing else None
        clash = (
            BankAccount.objects.filter(trust_id=account.trust_id, number=cleaned)
            .exclude(account=account)
            .exists()
        )
        if clash:
            raise ValidationError(
                {"number": "Another of this trust's accounts has this number."}, code="duplicate"
            )
        bank, _ = BankAccount.objects.update_or_create(
            account=account,
            defaults={
                "trust_id": account.trust_id,
                "number": cleaned,
                "bank_name": bank_name.strip()[:200],
                "match_window_days": match_window_days,
            },
        )
        audit_record(
            action="bank.account_set",
            actor=actor,
            trust_id=account.trust_id,
            object_type="bank_account",
            object_id=bank.pk,
            changes={
                "account": account.code,
                "before": before,
                "after": {"number": cleaned, "bank_name": bank.bank_name},
                "match_window_days": match_window_days,
            },
        )
    return bank


def csv_mapping_save(*, actor: Any, bank: BankAccount, mapping: CsvMapping) -> None:
    """Keep how this bank's CSV exports are read, for the next import."""
    require(
        actor,
        Action.BANK_MANAGE,
        bank.trust,
        "Only a trustee of this trust may change how its statements are read.",
        "not_trustee",
    )
    if not mapping.date_column or not (
        mapping.amount_column or (mapping.debit_column and mapping.credit_column)
    ):
        raise ValidationError(
            "Name the date column, and the amount column or both debit and credit columns.",
            code="bad_mapping",
        )
    values = {k: v for k, v in mapping.__dict__.items()}
    with transaction.atomic():
        BankAccount.objects.filter(pk=bank.pk).update(csv_mapping=values)
        audit_record(
            action="bank.csv_mapping_set",
            actor=actor,
            trust_id=bank.trust_id,
            object_type="bank_account",
            object_id=bank.pk,
            changes={"mapping": values},
        )
    bank.csv_mapping = values


def saved_mapping(bank: BankAccount) -> CsvMapping | None:
    if not bank.csv_mapping:
        return None
    known = CsvMapping.__dataclass_fields__
    return CsvMapping(**{k: v for k, v in bank.csv_mapping.items() if k in known})


@dataclass
class ImportOutcome:
    """What an import did, truthfully: a file seen before records nothing and says so."""

    statement_import: StatementImport | None
    already_imported: bool = False
    statements: int = 0
    statements_known: int = 0
    lines: int = 0
    lines_known: int = 0
    matched: int = 0
    gaps: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.already_imported:
            return "This file was imported before: nothing was recorded again."
        parts = [f"{self.lines} statement line(s) recorded from {self.statements} statement(s)"]
        if self.lines_known:
            parts.append(f"{self.lines_known} line(s) were already imported and were not counted")
        if self.matched:
            parts.append(f"{self.matched} matched with the ledger")
        text = "; ".join(parts) + "."
        if self.gaps:
            text += " " + " ".join(self.gaps)
        return text


def _clip(text: str, limit: int) -> str:
    return (text or "")[:limit]


def statement_import(
    *,
    actor: Any,
    bank: BankAccount,
    data: bytes,
    file_name: str = "",
    format: str | None = None,
    mapping: CsvMapping | None = None,
    match: bool = True,
) -> ImportOutcome:
    """Import one file of the bank's statements for ``bank``: all of it, or nothing."""
    require(
        actor,
        Action.BANK_MANAGE,
        bank.trust,
        "Only a trustee of this trust may import its bank statements.",
        "not_trustee",
    )
    if format is not None and format not in FORMATS:
        raise ValidationError(f"Unknown format {format!r}.", code="bad_format")
    if not data:
        raise ValidationError("The file is empty.", code="empty")
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError("The file is larger than 50 MiB.", code="too_large")
    sha256 = hashlib.sha256(data).hexdigest()
    if StatementImport.objects.filter(bank_account=bank, sha256=sha256).exists():
        return ImportOutcome(statement_import=None, already_imported=True)
    mapping = mapping or saved_mapping(bank)
    # Read whole and checked (account, currency, dates) exactly as the preview reads it.
    parsed = statement_file_parse(bank=bank, data=data, format=format, mapping=mapping)
    try:
        with transaction.atomic(durable=True):
            return _store(
                actor, bank, parsed.format, parsed.statements, data, file_name, sha256, match
            )
    except IntegrityError:
        # Another import of the same file committed first (the unique file key): say so.
        if StatementImport.objects.filter(bank_account=bank, sha256=sha256).exists():
            return ImportOutcome(statement_import=None, already_imported=True)
        raise


def _store(
    actor: Any,
    bank: BankAccount,
    fmt: str,
    statements: tuple[ParsedStatement, ...],
    data: bytes,
    file_name: str,
    sha256: str,
    match: bool,
) -> ImportOutcome:
    # One import at a time per bank account: continuity and duplicates are judged in order.
    BankAccount.objects.select_for_update().filter(pk=bank.pk).first()
    if StatementImport.objects.filter(bank_account=bank, sha256=sha256).exists():
        return ImportOutcome(statement_import=None, already_imported=True)
    source = StatementImport.objects.create(
        trust_id=bank.trust_id,
        bank_account=bank,
        format=fmt,
        file_name=_clip(file_name, 200),
        sha256=sha256,
        size=len(data),
        imported_by=actor if getattr(actor, "pk", None) else None,
    )
    outcome = ImportOutcome(statement_import=source)
    new_line_ids: list[int] = []
    for index, st in enumerate(statements, start=1):
        if (
            st.statement_id
            and BankStatement.objects.filter(
                bank_account=bank, statement_id=st.statement_id[:120]
            ).exists()
        ):
            outcome.statements_known += 1
            outcome.lines_known += len(st.lines)
            continue
        statement = _statement_row(bank, source, st, index, outcome)
        ids, known = _store_lines(bank, statement, st)
        new_line_ids += ids
        outcome.statements += 1
        outcome.lines += len(ids)
        outcome.lines_known += known
    if match and new_line_ids:
        outcome.matched = auto_match(actor=actor, bank=bank, line_ids=new_line_ids)
    StatementImport.objects.filter(pk=source.pk).update(
        statements=outcome.statements,
        lines=outcome.lines,
        lines_skipped=outcome.lines_known,
        matched=outcome.matched,
    )
    audit_record(
        action="bank.statement_imported",
        actor=actor,
        trust_id=bank.trust_id,
        object_type="statement_import",
        object_id=source.pk,
        changes={
            "bank_account": bank.number,
            "format": fmt,
            "sha256": sha256,
            "size": len(data),
            "statements": outcome.statements,
            "statements_known": outcome.statements_known,
            "lines": outcome.lines,
            "lines_known": outcome.lines_known,
            "matched": outcome.matched,
            "gaps": outcome.gaps,
        },
    )
    return outcome


def _statement_row(
    bank: BankAccount,
    source: StatementImport,
    st: ParsedStatement,
    index: int,
    outcome: ImportOutcome,
) -> BankStatement:
    from_date, to_date = statement_dates(st)
    continuity = BankStatement.Continuity.NONE
    gap = 0
    if st.opening_minor is not None and not st.notification:
        stored = BankStatement.objects.filter(
            bank_account=bank, closing_minor__isnull=False
        ).exclude(to_date__isnull=True)
        if from_date is not None:  # a statement with no date and no line: against the last
            stored = stored.filter(to_date__lte=from_date)
        previous = stored.order_by("-to_date", "-id").first()
        if previous is None:
            continuity = BankStatement.Continuity.FIRST
        elif previous.closing_minor == st.opening_minor:
            continuity = BankStatement.Continuity.CONTINUES
        else:
            continuity = BankStatement.Continuity.GAP
            gap = st.opening_minor - (previous.closing_minor or 0)
            currency = st.currency or bank.account.currency
            outcome.gaps.append(
                f"Statement {st.statement_id or index} opens at"
                f" {format_money(from_minor(st.opening_minor, currency))} where the last one"
                f" imported closed at {format_money(from_minor(previous.closing_minor or 0, currency))}:"
                " a statement may be missing."
            )
    return BankStatement.objects.create(
        trust_id=bank.trust_id,
        bank_account=bank,
        source=source,
        statement_id=_clip(st.statement_id, 120),
        currency=st.currency or bank.account.currency,
        from_date=from_date,
        to_date=to_date,
        opening_minor=st.opening_minor,
        closing_minor=st.closing_minor,
        notification=st.notification,
        continuity=continuity,
        gap_minor=gap,
    )


def _store_lines(
    bank: BankAccount, statement: BankStatement, st: ParsedStatement
) -> tuple[list[int], int]:
    seen: Counter[tuple[Any, ...]] = Counter()
    rows: list[StatementLine] = []
    for position, line in enumerate(st.lines, start=1):
        key = _content_key(line)
        seen[key] += 1
        rows.append(
            StatementLine(
                trust_id=bank.trust_id,
                bank_account=bank,
                statement=statement,
                position=position,
                fingerprint=_fingerprint(bank.number, line, seen[key]),
                booking_date=line.booking_date,
                value_date=line.value_date,
                amount_minor=line.amount_minor,
                currency=st.currency or bank.account.currency,
                bank_reference=_clip(line.bank_reference, 120),
                reference=_clip(line.reference, 200),
                counterparty=_clip(line.counterparty, 200),
                description=_clip(line.description, 500),
                kind=line.kind,
                reversal=line.reversal,
                original_amount_minor=line.original_amount_minor,
                original_currency=_clip(line.original_currency, 3),
                exchange_rate=_clip(line.exchange_rate, 40),
                parts=[
                    {
                        "amount_minor": p.amount_minor,
                        "reference": p.reference,
                        "counterparty": p.counterparty,
                        "description": p.description,
                    }
                    for p in line.parts
                ],
            )
        )
    # A line already imported (from another file, or a notification then its statement) is
    # recognised by its fingerprint and not stored twice.
    known: set[str] = set()
    prints = [row.fingerprint for row in rows]
    for start in range(0, len(prints), _CHUNK):
        known.update(
            StatementLine.objects.filter(
                bank_account=bank, fingerprint__in=prints[start : start + _CHUNK]
            ).values_list("fingerprint", flat=True)
        )
    fresh = [row for row in rows if row.fingerprint not in known]
    created = StatementLine.objects.bulk_create(fresh, batch_size=_CHUNK)
    ids = [row.pk for row in created]
    if ids and ids[0] is None:  # a backend that does not return ids
        ids = list(StatementLine.objects.filter(statement=statement).values_list("pk", flat=True))
    return ids, len(rows) - len(fresh)
