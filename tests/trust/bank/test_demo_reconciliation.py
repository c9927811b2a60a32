"""A year of demo books against the demo bank (``manage.py demo_bank``, trust/demo_bank.py): the
bank's camt.053 statements, read back through the importer, match the ledger automatically and
every month reconciles with nothing unexplained; one entry taken out of a copy of the books shows
as exactly one reconciling item; the reconciliation's document prints the bank's balance and is
the same bytes each time."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import date
from io import StringIO
from typing import Any

import pypdf
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from lxml import etree

from reports.documents import render_document
from reports.models import Kind
from reports.selectors import bank_reconciliation_figures
from trust.audit.checkpoints import audit_checkpoint
from trust.bank.models import (
    BankAccount,
    BankStatement,
    MatchedEntry,
    Reconciliation,
    StatementImport,
    StatementLine,
)
from trust.bank.selectors.reconciliation import (
    Figures,
    reconciliation_drift,
    reconciliation_figures,
)
from trust.bank.services.statements import _iban_ok
from trust.db import ledger_guard_suspended
from trust.demo import seed_demo_trust
from trust.demo_bank import NAMESPACE, demo_bank_seed, monthly_statements
from trust.invariants import ledger_violations
from trust.models import EntryKind, JournalEntry, Posting, Trust

pytestmark = pytest.mark.django_db

# A year of books; seed 9 has two cheques from the clerk over the last weekend of February,
# booked together on Monday 2 March: one batch credit, in transit at the end of February.
SIZES = {"beneficiaries": 4, "months": 12, "seed": 9}
NS = {"c": NAMESPACE}


@pytest.fixture
def demo(settings: Any) -> Trust:
    """The demo as ``make demo`` seeds it, up to ``demo_bank``."""
    settings.DEMO_ALLOWED = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    trust = seed_demo_trust(**SIZES).trust
    call_command("demo_users", stdout=StringIO())
    call_command("demo_disbursements", stdout=StringIO())
    out = StringIO()
    call_command("demo_bank", stdout=out)
    assert "reconciliations signed off" in out.getvalue()
    return trust


def bank_of(trust: Trust) -> BankAccount:
    return BankAccount.objects.select_related("account", "trust").get(trust=trust)


def statements(bank: BankAccount) -> list[BankStatement]:
    return list(BankStatement.objects.filter(bank_account=bank).order_by("to_date"))


def all_figures(bank: BankAccount) -> dict[str, Figures]:
    return {
        s.statement_id: reconciliation_figures(bank=bank, statement=s) for s in statements(bank)
    }


def test_every_demo_month_reconciles(demo: Trust) -> None:
    bank = bank_of(demo)
    assert _iban_ok(bank.number) and bank.number.startswith("GB")
    months = statements(bank)
    last_ended = timezone.localdate().replace(day=1)
    assert len(months) >= 12 and months[-1].to_date < last_ended
    assert all(s.continuity != BankStatement.Continuity.GAP for s in months)
    lines = StatementLine.objects.filter(bank_account=bank)
    # Every line was matched on import, automatically.
    assert lines.count() > 40
    assert not lines.exclude(state=StatementLine.State.MATCHED).exists()
    assert not lines.filter(match__method="manual").exists()
    signed = Reconciliation.objects.filter(
        bank_account=bank, status=Reconciliation.Status.SIGNED_OFF
    )
    assert signed.count() == len(months)
    for rec in signed:
        assert rec.unexplained_minor == 0
        assert rec.figures["identity_difference_minor"] == 0
        assert rec.signed_off_by.username == "trustee"
        assert reconciliation_drift(reconciliation=rec) == []  # the books still say the same
    for figures in all_figures(bank).values():
        assert figures.unexplained_minor == 0 and figures.identity_difference_minor == 0
    # The realistic differences: two cheques from the clerk recorded on Sunday 1 March, deposited
    # as one batch credit booked on Monday 2 March with two transaction details; cheques' value
    # dates a business day after booking; the February care payments dated Saturday 28th,
    # booked on Monday 2 March: outstanding payments at the end of February.
    batch = lines.exclude(parts=[]).get()
    assert len(batch.parts) == 2 and batch.booking_date == date(2026, 3, 2)
    assert batch.value_date == date(2026, 3, 3)
    entries = MatchedEntry.objects.filter(match=batch.match).values_list("entry_id", flat=True)
    days = set(JournalEntry.objects.filter(pk__in=entries).values_list("effective_date", flat=True))
    assert len(entries) == 2 and days == {date(2026, 3, 1)}
    february = Reconciliation.objects.get(bank_account=bank, as_of=date(2026, 2, 28))
    assert february.figures["items"]
    assert {item["kind"] for item in february.figures["items"]} == {"outstanding_payment"}
    assert {item["day"] for item in february.figures["items"]} == {"2026-02-28"}
    march = Reconciliation.objects.get(bank_account=bank, as_of=date(2026, 3, 31))
    assert march.figures["items"] == []
    # The entry keyed twice and reversed on the same day never reached the bank, and is no
    # reconciling item either.
    duplicate = JournalEntry.objects.get(trust=demo, idempotency_key="demo-duplicate-receipt")
    assert not MatchedEntry.objects.filter(entry=duplicate).exists()
    october = Reconciliation.objects.get(bank_account=bank, as_of=date(2026, 10, 31))
    assert october.figures["items"] == []


def test_the_statements_are_camt053_as_a_bank_writes_them(demo: Trust) -> None:
    bank = bank_of(demo)
    month = monthly_statements(account=bank.account, iban=bank.number, owner=demo.caption)[-3]
    root = etree.fromstring(month.xml)
    assert root.tag == f"{{{NAMESPACE}}}Document"
    stmt = root.find("c:BkToCstmrStmt/c:Stmt", NS)
    assert root.find("c:BkToCstmrStmt/c:GrpHdr/c:MsgId", NS) is not None
    for path in ("c:Id", "c:CreDtTm", "c:Acct/c:Id/c:IBAN", "c:FrToDt/c:ToDtTm"):
        assert stmt.find(path, NS) is not None, path
    assert stmt.findtext("c:Acct/c:Id/c:IBAN", namespaces=NS) == bank.number
    balances = {
        b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS): b for b in stmt.findall("c:Bal", NS)
    }
    assert set(balances) == {"OPBD", "CLBD"}
    assert balances["CLBD"].findtext("c:Dt/c:Dt", namespaces=NS) == month.end.isoformat()
    assert balances["CLBD"].find("c:Amt", NS).get("Ccy") == "USD"
    for entry in stmt.findall("c:Ntry", NS):
        assert entry.find("c:Amt", NS).get("Ccy") == "USD"
        assert entry.findtext("c:CdtDbtInd", namespaces=NS) in ("CRDT", "DBIT")
        assert entry.findtext("c:Sts/c:Cd", namespaces=NS) == "BOOK"
        for path in ("c:BookgDt/c:Dt", "c:ValDt/c:Dt", "c:AcctSvcrRef", "c:BkTxCd/c:Domn/c:Cd"):
            assert entry.findtext(path, namespaces=NS), path
        tx = entry.find("c:NtryDtls/c:TxDtls", NS)
        assert tx.findtext("c:Refs/c:EndToEndId", namespaces=NS)
        assert tx.find("c:RltdPties", NS) is not None
        assert tx.findtext("c:RmtInf/c:Ustrd", namespaces=NS)
    # The same books give the same bytes: nothing is imported twice when the demo runs again.
    again = monthly_statements(account=bank.account, iban=bank.number, owner=demo.caption)[-3]
    assert again.xml == month.xml
    imports = StatementImport.objects.count()
    signed = Reconciliation.objects.count()
    result = demo_bank_seed(trust=demo, actor=bank.reconciliations.first().signed_off_by)
    assert (result.imported, result.signed_off) == (0, 0)
    assert (StatementImport.objects.count(), Reconciliation.objects.count()) == (imports, signed)


def test_demo_bank_is_refused_outside_the_demo(settings: Any) -> None:
    settings.DEMO_ALLOWED = False
    with pytest.raises(CommandError, match="demo only"):
        call_command("demo_bank", stdout=StringIO())


# --- one entry taken out of a copy of the books ---------------------------------------------


def sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextlib.contextmanager
def triggers_off() -> Iterator[None]:
    """As a superuser with the ledger's triggers off (on SQLite: the guards lifted), the way the
    insider tests play it (tests/trust/test_insider_ledger.py)."""
    if connection.vendor == "postgresql":
        sql("SET session_replication_role = replica", [])
        try:
            yield
        finally:
            sql("SET session_replication_role = DEFAULT", [])
    else:
        with ledger_guard_suspended():
            yield


def delete_entry(entry: JournalEntry, *, totals: bool) -> None:
    """Delete ``entry`` and its postings; with ``totals``, take them out of the balances and
    daily totals too, as if the entry had never been posted."""
    postings = list(Posting.objects.filter(entry=entry).select_related("account"))
    with triggers_off():
        if totals:
            for p in postings:
                net = p.account.normal_sign * p.amount_minor
                sql(
                    "UPDATE trust_account_day SET net_minor = net_minor - %s"
                    " WHERE account_id = %s AND day = %s",
                    [net, p.account_id, p.effective_date],
                )
                sql(
                    "UPDATE trust_account SET balance_minor = balance_minor - %s WHERE id = %s",
                    [net, p.account_id],
                )
        sql("DELETE FROM trust_posting WHERE entry_id = %s", [entry.pk])
        sql("DELETE FROM trust_entry WHERE id = %s", [entry.pk])


def a_matched_payment(bank: BankAccount) -> tuple[JournalEntry, StatementLine]:
    """A care payment matched one to one with a line booked the same day."""
    for matched in MatchedEntry.objects.filter(bank_account=bank).order_by("entry_id"):
        entry = JournalEntry.objects.get(pk=matched.entry_id)
        lines = list(StatementLine.objects.filter(match=matched.match))
        if (
            entry.kind == EntryKind.PAYMENT
            and len(lines) == 1
            and matched.match.entries.count() == 1
            and lines[0].booking_date == entry.effective_date
        ):
            return entry, lines[0]
    raise AssertionError("no care payment matched one to one")


@pytest.mark.parametrize("totals", [True, False], ids=["books-consistent", "postings-only"])
def test_a_deleted_entry_shows_as_one_reconciling_item(demo: Trust, totals: bool) -> None:
    bank = bank_of(demo)
    entry, line = a_matched_payment(bank)
    before = all_figures(bank)
    delete_entry(entry, totals=totals)
    after = all_figures(bank)
    for statement in statements(bank):
        old, new = before[statement.statement_id], after[statement.statement_id]
        if statement.to_date < line.booking_date:
            assert new == old
            continue
        added = [item for item in new.items if item not in old.items]
        assert len(new.items) == len(old.items) + 1
        assert [(i.kind, i.line_id, i.amount_minor) for i in added] == [
            ("bank_only", line.pk, line.amount_minor)
        ]
        assert f"entry #{entry.pk}, not in the ledger" in added[0].description
        if totals:
            # The books without the entry: the bank's line is the one listed item that explains
            # the difference, and the trust's identity still holds.
            assert new.unexplained_minor == 0
            assert new.identity_difference_minor == 0
            assert new.ledger_bank_minor == old.ledger_bank_minor - line.amount_minor
        else:
            # Postings deleted behind the ledger's back: its bank balance (kept with each
            # posting) still counts the entry, so the listed line leaves exactly its amount
            # unexplained: the reconciliation says the books were tampered with.
            assert new.unexplained_minor == -line.amount_minor
            assert new.ledger_bank_minor == old.ledger_bank_minor
    # Either way the ledger's own check names the entry its audit event committed.
    report = ledger_violations()
    assert any(f"entry #{entry.pk} " in v.detail for v in report.violations), report.violations


def test_the_reconciliation_document_prints_the_bank_balance_the_same_each_time(
    demo: Trust,
) -> None:
    rec = (
        Reconciliation.objects.filter(bank_account__trust=demo, status="signed_off")
        .order_by("-as_of")
        .first()
    )
    checkpoint = audit_checkpoint()
    now = timezone.now()
    rendered = [
        render_document(
            Kind.BANK_RECONCILIATION,
            bank_reconciliation_figures(reconciliation_id=rec.pk),
            code="ab" * 32,
            checkpoint=checkpoint,
            closed=True,
            generated_at=now,
        ).pdf
        for _ in range(2)
    ]
    assert rendered[0] == rendered[1]
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(rendered[0])).pages)
    closing = rec.bank_closing_minor
    assert f"{closing // 100:,}.{closing % 100:02d}" in text
    assert "Bank's closing balance on" in text and rec.figures_sha256 in text.replace("\n", "")
