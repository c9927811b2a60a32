"""Bank statements through the services: import (all or nothing, duplicates recognised, the
wrong account refused, continuity flagged), matching (one to one, one to many, by hand, undo,
explain), and three-way reconciliation (items listed, nothing unexplained, sign-off locked,
later changes flagged)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from moneyed import Money

from tests.factories import TrustFactory, account, beneficiary, fund, person
from trust.audit.models import AuditEvent
from trust.bank.models import (
    BankMatch,
    BankStatement,
    MatchedEntry,
    Reconciliation,
    ReconciliationChange,
    StatementImport,
    StatementLine,
)
from trust.bank.parsing.base import CsvMapping
from trust.bank.selectors.reconciliation import reconciliation_drift, reconciliation_figures
from trust.bank.services.matching import auto_match, line_explain, lines_match, match_undo
from trust.bank.services.reconciliations import reconciliation_sign_off
from trust.bank.services.statements import bank_account_set, statement_import
from trust.models import Account, EntryKind
from trust.roles import AUDITOR, TRUSTEE
from trust.services.ledger import Leg, entry_post

pytestmark = pytest.mark.django_db

IBAN = "GB82WEST12345698765432"
MAPPING = CsvMapping(
    date_column="Date",
    amount_column="Amount",
    reference_column="Reference",
    description_column="Details",
    balance_column="Balance",
)


def csv(*rows: tuple[str, str, str, str]) -> bytes:
    """Rows of (date, amount, reference, details); a running balance from 0 is added."""
    balance = 0
    out = ["Date,Amount,Reference,Details,Balance"]
    for day, amount, ref, details in rows:
        units, _, cents = amount.lstrip("-").partition(".")
        minor = int(units) * 100 + int((cents or "0").ljust(2, "0"))
        balance += -minor if amount.startswith("-") else minor
        out.append(f"{day},{amount},{ref},{details},{balance // 100}.{balance % 100:02d}")
    return ("\n".join(out) + "\n").encode()


@pytest.fixture
def book():  # type: ignore[no-untyped-def]
    trust = TrustFactory()
    trustee = person("tess-bank", TRUSTEE, trust)
    _, sub = beneficiary(trust, "Minor Victim A")
    bank = bank_account_set(actor=trustee, account=account(trust, Account.Role.BANK), number=IBAN)
    return trust, trustee, sub, bank


def test_bank_details_validated(book) -> None:  # type: ignore[no-untyped-def]
    trust, trustee, _, bank = book
    assert bank.number == IBAN
    with pytest.raises(ValidationError, match="check digits"):
        bank_account_set(actor=trustee, account=bank.account, number="GB82WEST12345698765433")
    with pytest.raises(ValidationError, match="Only a bank account"):
        bank_account_set(
            actor=trustee, account=account(trust, Account.Role.UNALLOCATED), number=IBAN
        )
    auditor = person("aud-bank", AUDITOR, trust)
    with pytest.raises(ValidationError, match="Only a trustee"):
        bank_account_set(actor=auditor, account=bank.account, number=IBAN)


def test_import_matches_and_reconciles(book) -> None:  # type: ignore[no-untyped-def]
    trust, trustee, sub, bank = book
    e1 = fund(trust, sub, "100.00", on=date(2026, 1, 5)).entry_id
    e2 = fund(trust, sub, "50.00", on=date(2026, 1, 10)).entry_id
    data = csv(
        ("2026-01-06", "100.00", "", "clerk"),  # a day after the entry: matched
        ("2026-01-10", "50.00", "", "clerk"),
        ("2026-01-31", "-2.50", "", "account fee"),  # not in the ledger
    )
    outcome = statement_import(
        actor=trustee, bank=bank, data=data, file_name="jan.csv", format="csv", mapping=MAPPING
    )
    assert (outcome.lines, outcome.matched) == (3, 2)
    assert set(MatchedEntry.objects.values_list("entry_id", flat=True)) == {e1, e2}
    event = AuditEvent.objects.filter(action="bank.statement_imported").get()
    assert "sha256" in event.data.decode()
    statement = BankStatement.objects.get()
    figures = reconciliation_figures(bank=bank, statement=statement)
    assert figures.bank_closing_minor == 14_750
    assert figures.ledger_bank_minor == 15_000
    assert [(i.kind, i.amount_minor) for i in figures.items] == [("bank_only", -250)]
    assert figures.unexplained_minor == 0
    assert figures.identity_difference_minor == 0

    # The same file again: recognised, nothing recorded.
    again = statement_import(
        actor=trustee, bank=bank, data=data, file_name="jan.csv", format="csv", mapping=MAPPING
    )
    assert again.already_imported and StatementLine.objects.count() == 3
    assert StatementImport.objects.count() == 1


def test_overlapping_export_counts_lines_once(book) -> None:  # type: ignore[no-untyped-def]
    _, trustee, _, bank = book
    first = csv(("2026-01-06", "100.00", "", "a"), ("2026-01-07", "5.00", "", "b"))
    second = b"Date,Amount,Reference,Details,Balance\n2026-01-07,5.00,,b,105.00\n2026-01-08,7.00,,c,112.00\n"
    statement_import(actor=trustee, bank=bank, data=first, format="csv", mapping=MAPPING)
    outcome = statement_import(actor=trustee, bank=bank, data=second, format="csv", mapping=MAPPING)
    assert (outcome.lines, outcome.lines_known) == (1, 1)
    assert StatementLine.objects.count() == 3


def test_malformed_file_changes_nothing(book) -> None:  # type: ignore[no-untyped-def]
    _, trustee, _, bank = book
    bad = b"Date,Amount,Reference,Details,Balance\n2026-01-06,1x0.00,,a,100.00\n"
    with pytest.raises(ValidationError, match="line 2"):
        statement_import(actor=trustee, bank=bank, data=bad, format="csv", mapping=MAPPING)
    assert not StatementImport.objects.exists() and not StatementLine.objects.exists()
    assert not AuditEvent.objects.filter(action="bank.statement_imported").exists()


def test_auditor_may_not_import(book) -> None:  # type: ignore[no-untyped-def]
    trust, _, _, bank = book
    auditor = person("aud-import", AUDITOR, trust)
    with pytest.raises(ValidationError, match="Only a trustee"):
        statement_import(
            actor=auditor,
            bank=bank,
            data=csv(("2026-01-06", "1.00", "", "a")),
            mapping=MAPPING,
            format="csv",
        )
    assert not StatementLine.objects.exists()


def test_one_credit_matches_several_receipts(book) -> None:  # type: ignore[no-untyped-def]
    """A clerk's distribution paid as one credit: two receipts recorded the same day."""
    trust, trustee, sub, bank = book
    a = fund(trust, sub, "30.00", on=date(2026, 2, 3)).entry_id
    b = fund(trust, sub, "20.00", on=date(2026, 2, 3)).entry_id
    statement_import(
        actor=trustee,
        bank=bank,
        data=csv(("2026-02-04", "50.00", "CLERK-0203", "distribution")),
        format="csv",
        mapping=MAPPING,
    )
    line = StatementLine.objects.get()
    assert line.state == StatementLine.State.MATCHED
    assert set(line.match.entries.values_list("entry_id", flat=True)) == {a, b}


def test_by_hand_undo_and_explain(book) -> None:  # type: ignore[no-untyped-def]
    trust, trustee, sub, bank = book
    e = fund(trust, sub, "80.00", on=date(2026, 3, 1)).entry_id
    statement_import(
        actor=trustee,
        bank=bank,
        data=csv(("2026-03-20", "40.00", "", "half"), ("2026-03-21", "40.00", "", "half")),
        format="csv",
        mapping=MAPPING,
    )
    ids = list(StatementLine.objects.order_by("pk").values_list("pk", flat=True))
    assert not MatchedEntry.objects.exists()  # outside the 5-day window, and two lines
    with pytest.raises(ValidationError, match="agree to the cent"):
        lines_match(actor=trustee, bank=bank, line_ids=ids[:1], entry_ids=[e])
    match = lines_match(actor=trustee, bank=bank, line_ids=ids, entry_ids=[e], note="split")
    assert StatementLine.objects.filter(match=match).count() == 2
    with pytest.raises(ValidationError):
        match_undo(actor=trustee, match=match, reason="  ")
    match_undo(actor=trustee, match=match, reason="matched the wrong entry")
    assert not BankMatch.objects.exists() and not MatchedEntry.objects.exists()
    line = StatementLine.objects.get(pk=ids[0])
    line_explain(actor=trustee, line=line, explanation="bank error, reversed on 2 April")
    line.refresh_from_db()
    assert line.state == StatementLine.State.EXPLAINED


def test_sign_off_locks_and_flags_later_changes(book) -> None:  # type: ignore[no-untyped-def]
    trust, trustee, sub, bank = book
    fund(trust, sub, "100.00", on=date(2026, 1, 5))
    statement_import(
        actor=trustee,
        bank=bank,
        data=csv(("2026-01-05", "100.00", "", "clerk"), ("2026-01-30", "-1.00", "", "fee")),
        format="csv",
        mapping=MAPPING,
    )
    statement = BankStatement.objects.get()
    rec = reconciliation_sign_off(actor=trustee, bank=bank, statement=statement, note="January")
    assert rec.status == Reconciliation.Status.SIGNED_OFF and len(rec.figures_sha256) == 64
    assert reconciliation_drift(reconciliation=rec) == []
    # An entry dated in the reconciled period, after the sign-off: the drift shows it.
    entry_post(
        trust=trust,
        actor=None,
        effective_date=date(2026, 1, 30),
        legs=[
            Leg(account(trust, Account.Role.BANK), Money("-1.00", "USD")),
            Leg(sub, Money("1.00", "USD")),
        ],
        idempotency_key="fee-late",
        kind=EntryKind.FEE,
    )
    drift = {d.field for d in reconciliation_drift(reconciliation=rec)}
    assert "ledger_bank_minor" in drift
    # Matching the fee line with it is a change to the reconciled period: recorded.
    fee_line = StatementLine.objects.get(amount_minor=-100)
    assert auto_match(actor=trustee, bank=bank) == 1
    change = ReconciliationChange.objects.get()
    assert change.reconciliation == rec and str(fee_line.pk) in change.what
    # Reconciling the date again supersedes the first.
    again = reconciliation_sign_off(actor=trustee, bank=bank, statement=statement)
    rec.refresh_from_db()
    assert rec.status == Reconciliation.Status.SUPERSEDED and rec.superseded_by == again
    auditor = person("aud-sign", AUDITOR, trust)
    with pytest.raises(ValidationError, match="Only a trustee"):
        reconciliation_sign_off(actor=auditor, bank=bank, statement=statement)


def test_wrong_account_refused(book) -> None:  # type: ignore[no-untyped-def]
    _, trustee, _, bank = book
    camt = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-02-01T08:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-02-01T08:00:00</CreDtTm>
<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-31</Dt></Dt></Bal>
</Stmt></BkToCstmrStmt></Document>"""
    with pytest.raises(ValidationError, match="not this trust's"):
        statement_import(actor=trustee, bank=bank, data=camt)
    assert not StatementLine.objects.exists() and not BankStatement.objects.exists()


def test_deleted_entry_is_one_reconciling_item(book) -> None:  # type: ignore[no-untyped-def]
    """A matched entry that disappears from the ledger (here: its match row points at an entry
    id that does not exist) leaves its bank line as exactly one listed item."""
    trust, trustee, sub, bank = book
    fund(trust, sub, "10.00", on=date(2026, 1, 5))
    fund(trust, sub, "20.00", on=date(2026, 1, 6))
    statement_import(
        actor=trustee,
        bank=bank,
        data=csv(("2026-01-05", "10.00", "", "a"), ("2026-01-06", "20.00", "", "b")),
        format="csv",
        mapping=MAPPING,
    )
    statement = BankStatement.objects.get()
    before = reconciliation_figures(bank=bank, statement=statement)
    assert before.items == [] and before.unexplained_minor == 0
    MatchedEntry.objects.filter(amount_minor=2_000).update(entry_id=10**9)
    after = reconciliation_figures(bank=bank, statement=statement)
    assert len(after.items) == 2  # the line whose entry is gone, and the entry left unmatched
    kinds = sorted(i.kind for i in after.items)
    assert kinds == ["bank_only", "deposit_in_transit"]
    assert after.unexplained_minor == 0
