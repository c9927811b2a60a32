"""The bank pages: a trustee sets an account's bank details, checks a statement file (nothing
written, a malformed file named where it fails), records it, matches a line by hand, explains
one, undoes a match with a reason, and signs off the three-way reconciliation; an auditor reads
every page and may change nothing; a caseworker and another trust's people find nothing."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from moneyed import Money

from tests.disbursements.test_requests import make_world
from tests.factories import TrustFactory, account, appoint, beneficiary, fund, person
from trust.bank.models import (
    BankAccount,
    BankMatch,
    BankStatement,
    Reconciliation,
    StatementImport,
    StatementLine,
)
from trust.bank.parsing.base import CsvMapping
from trust.bank.services.statements import bank_account_set, statement_import
from trust.models import Account, Receipt, Trust
from trust.roles import AUDITOR
from trust.services.receipts import receipt_record

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"  # the well-known example IBAN: its check digits are right
OTHER_IBAN = "GB82WEST12345698765432"
MAPPING = CsvMapping(
    date_column="Date",
    amount_column="Amount",
    reference_column="Reference",
    description_column="Details",
    balance_column="Balance",
)
CSV_HEADER = "Date,Amount,Reference,Details,Balance"


def statement_csv(*rows: tuple[str, str, str, str], opening: int = 0) -> bytes:
    """Rows of (date, amount, reference, details) with a running balance from ``opening``
    (minor units)."""
    balance = opening
    out = [CSV_HEADER]
    for day, amount, ref, details in rows:
        units, _, cents = amount.lstrip("-").partition(".")
        minor = int(units) * 100 + int((cents or "0").ljust(2, "0"))
        balance += -minor if amount.startswith("-") else minor
        sign = "-" if balance < 0 else ""
        out.append(
            f"{day},{amount},{ref},{details},{sign}{abs(balance) // 100}.{abs(balance) % 100:02d}"
        )
    return ("\n".join(out) + "\n").encode()


JANUARY = statement_csv(
    ("2026-01-15", "1000.00", "", "Opening deposit"),
    ("2026-01-20", "250.00", "CLK-2026-0001", "Clerk of court"),
    ("2026-01-22", "-12.50", "", "Account fee"),
    ("2026-01-25", "300.00", "WIRE-77", "Wire from the clerk"),
)


@dataclass
class BankBooks:
    """A trust whose bank account has January's statement imported: the opening deposit and a
    receipt matched on import, a bank fee and a wire waiting (the wire's receipt was recorded
    eleven days later, outside the matching window)."""

    trust: Trust
    world: Any
    bank: BankAccount
    statement: BankStatement
    fee: StatementLine
    wire: StatementLine
    matched: StatementLine
    wire_receipt: Receipt
    trustee_user: Any
    auditor_user: Any


def bank_books(tag: str = "") -> BankBooks:
    w = make_world(tag)  # MV-1 funded 1,000.00 USD on 2026-01-15
    trust = w.trust
    ledger_bank = account(trust, Account.Role.BANK)

    def receive(amount: str, on: date, reference: str) -> Receipt:
        return receipt_record(
            trust=trust,
            actor=w.trustee,
            amount=Money(amount, "USD"),
            received_on=on,
            source=Receipt.Source.CLERK,
            bank_account=ledger_bank,
            idempotency_key=f"bank-{reference}{tag}",
            bank_reference=reference,
        )

    receive("250.00", date(2026, 1, 20), "CLK-2026-0001")
    wire_receipt = receive("300.00", date(2026, 2, 5), "CLK-2026-0002")
    bank = bank_account_set(
        actor=w.trustee, account=ledger_bank, number=IBAN, bank_name="Invented Savings Bank"
    )
    statement_import(
        actor=w.trustee, bank=bank, data=JANUARY, file_name="january.csv", mapping=MAPPING
    )
    statement = BankStatement.objects.get(bank_account=bank)
    lines = {
        line.booking_date.day: line for line in StatementLine.objects.filter(bank_account=bank)
    }
    auditor = person(f"bank-auditor{tag}", AUDITOR, trust)
    return BankBooks(
        trust=trust,
        world=w,
        bank=bank,
        statement=statement,
        fee=lines[22],
        wire=lines[25],
        matched=lines[20],
        wire_receipt=wire_receipt,
        trustee_user=w.trustee,
        auditor_user=auditor,
    )


def other_trust_bank(tag: str = "other") -> tuple[Trust, BankAccount, StatementLine, Any]:
    """Another trust with a bank account, a statement line and a trustee of its own."""
    trust = TrustFactory(caption="United States v. Elsewhere Invented Bank")
    trustee = appoint(person(f"trustee-{tag}"), trust)
    _, sub = beneficiary(trust, "MV-Z9")
    fund(trust, sub, "77.77", on=date(2026, 1, 10))
    bank = bank_account_set(
        actor=trustee, account=account(trust, Account.Role.BANK), number=OTHER_IBAN
    )
    statement_import(
        actor=trustee,
        bank=bank,
        data=statement_csv(("2026-01-10", "77.77", "", "Deposit")),
        mapping=MAPPING,
    )
    return trust, bank, StatementLine.objects.get(bank_account=bank), trustee


@pytest.fixture
def books(settings: Any, tmp_path: Any) -> BankBooks:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return bank_books()


def client(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def text(response: Any) -> str:
    return " ".join(html.unescape(response.content.decode()).split())


def upload(data: bytes, name: str = "statement.csv", **fields: Any) -> dict[str, Any]:
    return {"file": SimpleUploadedFile(name, data), "check": "1", **fields}


# --- the accounts and one account ------------------------------------------------------------


def test_the_accounts_page_shows_each_bank_account_and_where_it_stands(books: BankBooks) -> None:
    page = client(books.trustee_user).get(reverse("bank-accounts", args=[books.trust.pk]))
    assert page.status_code == 200
    shown = text(page)
    assert IBAN in shown and "Invented Savings Bank" in shown
    assert "2026-01-25" in shown and "1,537.50" in shown  # last statement and its closing balance
    waiting = reverse("bank-account", args=[books.trust.pk, books.bank.pk]) + "?state=unmatched"
    assert f'href="{waiting}">2<' in page.content.decode()


def test_the_trust_page_links_to_the_bank(books: BankBooks) -> None:
    page = client(books.trustee_user).get(reverse("trust-detail", args=[books.trust.pk]))
    assert reverse("bank-accounts", args=[books.trust.pk]) in page.content.decode()


def test_a_trustee_sets_the_bank_details(books: BankBooks) -> None:
    url = reverse("bank-details", args=[books.trust.pk, books.bank.account_id])
    trustee = client(books.trustee_user)
    assert trustee.get(url).status_code == 200
    bad = trustee.post(url, {"number": "DE89370400440532013001", "match_window_days": "5"})
    assert bad.status_code == 400 and "check digits" in text(bad)
    good = trustee.post(
        url,
        {"number": "de89 3704 0044 0532 0130 00", "bank_name": "Renamed", "match_window_days": "7"},
    )
    assert good.status_code == 302
    books.bank.refresh_from_db()
    assert (books.bank.bank_name, books.bank.match_window_days) == ("Renamed", 7)


def test_the_account_page_lists_statements_imports_and_lines(books: BankBooks) -> None:
    url = reverse("bank-account", args=[books.trust.pk, books.bank.pk])
    page = client(books.auditor_user).get(url)
    shown = text(page)
    assert page.status_code == 200
    assert "january.csv" in shown and StatementImport.objects.get().sha256[:12] in shown
    assert "First statement" in shown and "Wire from the clerk" in shown
    assert "Import a statement" not in shown  # an auditor is shown no write
    waiting = text(client(books.auditor_user).get(url, {"state": "unmatched"}))
    assert "Account fee" in waiting and "Opening deposit" not in waiting
    found = text(client(books.auditor_user).get(url, {"q": "WIRE-77"}))
    assert "Wire from the clerk" in found and "Account fee" not in found


def test_a_statement_that_does_not_continue_shows_a_gap(books: BankBooks) -> None:
    february = statement_csv(("2026-02-03", "10.00", "", "Interest"), opening=160000)
    statement_import(actor=books.trustee_user, bank=books.bank, data=february, mapping=MAPPING)
    page = text(
        client(books.auditor_user).get(
            reverse("bank-account", args=[books.trust.pk, books.bank.pk])
        )
    )
    assert "Gap of 62.50 USD: a statement may be missing" in page


# --- importing --------------------------------------------------------------------------------


def test_a_file_is_checked_then_recorded_exactly_as_checked(books: BankBooks) -> None:
    url = reverse("bank-import", args=[books.trust.pk, books.bank.pk])
    trustee = client(books.trustee_user)
    assert trustee.get(url).status_code == 200
    february = statement_csv(
        ("2026-01-25", "300.00", "WIRE-77", "Wire from the clerk"),  # imported before
        ("2026-02-03", "10.00", "", "Interest"),
        opening=123750,
    )
    checked = trustee.post(url, upload(february, "february.csv", **_mapping_fields()))
    shown = text(checked)
    assert checked.status_code == 200, shown
    assert "Checked: nothing written yet" in shown
    assert (
        "1 statement line(s) would be recorded from 1 statement(s); 1 line(s) were already imported"
        in shown
    )
    # It overlaps January, so its opening balance does not continue January's closing one.
    assert "a statement may be missing" in shown and "yes: not recorded again" in shown
    assert StatementImport.objects.count() == 1
    digest = checked.context["preview"].sha256
    recorded = trustee.post(url, {"record": "1", "sha256": digest}, follow=True)
    assert "1 statement line(s) recorded from 1 statement(s)" in text(recorded)
    assert "opens at 1,237.50 USD where the last one imported closed at 1,537.50 USD" in text(
        recorded
    )
    assert StatementImport.objects.filter(sha256=digest, file_name="february.csv").exists()
    assert StatementLine.objects.filter(bank_account=books.bank).count() == 5
    books.bank.refresh_from_db()
    assert books.bank.csv_mapping["date_column"] == "Date"  # kept, as asked


def test_recording_without_the_file_checked_records_nothing(books: BankBooks) -> None:
    url = reverse("bank-import", args=[books.trust.pk, books.bank.pk])
    response = client(books.trustee_user).post(
        url, {"record": "1", "sha256": "0" * 64}, follow=True
    )
    assert "Check the file again" in text(response)
    assert StatementImport.objects.count() == 1


def test_a_malformed_file_shows_where_and_writes_nothing(books: BankBooks) -> None:
    url = reverse("bank-import", args=[books.trust.pk, books.bank.pk])
    bad = (CSV_HEADER + "\n2026-02-30,10.00,,Bad day,10.00\n").encode()
    before = (StatementImport.objects.count(), StatementLine.objects.count())
    response = client(books.trustee_user).post(url, upload(bad, **_mapping_fields()))
    shown = text(response)
    assert response.status_code == 400
    assert "line 2" in shown and "Nothing was imported" in shown, shown
    assert "Record this file" not in shown
    assert (StatementImport.objects.count(), StatementLine.objects.count()) == before
    assert BankStatement.objects.count() == 1


def test_a_camt_file_for_another_account_is_refused_on_the_check(books: BankBooks) -> None:
    url = reverse("bank-import", args=[books.trust.pk, books.bank.pk])
    response = client(books.trustee_user).post(url, upload(camt053(OTHER_IBAN), "stmt.xml"))
    assert response.status_code == 400
    assert "not this trust's account" in text(response)
    assert StatementImport.objects.count() == 1


def test_a_camt_statement_is_previewed_with_its_balances(books: BankBooks) -> None:
    url = reverse("bank-import", args=[books.trust.pk, books.bank.pk])
    response = client(books.trustee_user).post(url, upload(camt053(IBAN), "stmt.xml"))
    shown = text(response)
    assert response.status_code == 200, shown
    assert "camt.053" in shown and "CAMT-FEB" in shown
    assert "1,537.50 USD" in shown and "1,547.50 USD" in shown
    assert "Continues the last closing balance" in shown


# --- a line -----------------------------------------------------------------------------------


def test_a_trustee_matches_a_waiting_line_by_hand(books: BankBooks) -> None:
    trustee = client(books.trustee_user)
    url = reverse("bank-line", args=[books.trust.pk, books.wire.pk])
    page = trustee.get(url)
    shown = text(page)
    assert page.status_code == 200
    entry = books.wire_receipt.entry_id
    assert f"entry #{entry}" in shown and "Record it as a receipt" in shown
    assert "Record it as interest" in shown and "as a fee" not in shown
    first = page.context["candidates"][0]
    assert first.entry_id == entry and first.same_amount
    match_url = reverse("bank-line-match", args=[books.trust.pk, books.wire.pk])
    unequal = trustee.post(
        match_url, {"match-entries": [str(books.matched.match.entries.get().entry_id)]}
    )
    assert unequal.status_code == 400  # not a candidate: already matched with another line
    done = trustee.post(match_url, {"match-entries": [str(entry)], "match-note": "Late receipt"})
    assert done.status_code == 302
    books.wire.refresh_from_db()
    assert books.wire.state == StatementLine.State.MATCHED
    assert books.wire.match.method == BankMatch.Method.MANUAL
    assert f"/entries/{entry}/" in trustee.get(url).content.decode()


def test_the_receipt_link_prefills_the_receipt_form(books: BankBooks) -> None:
    trustee = client(books.trustee_user)
    page = trustee.get(reverse("bank-line", args=[books.trust.pk, books.wire.pk]))
    link = page.context["links"]["receipt"]
    form = trustee.get(link).context["form"]
    assert form.initial["bank_reference"] == "WIRE-77"
    assert form.initial["amount"] == Money("300.00", "USD")
    assert form.initial["received_on"] == "2026-01-25"


def test_a_trustee_explains_a_line(books: BankBooks) -> None:
    trustee = client(books.trustee_user)
    url = reverse("bank-line-explain", args=[books.trust.pk, books.fee.pk])
    assert trustee.post(url, {"explain-explanation": ""}).status_code == 400
    assert (
        trustee.post(url, {"explain-explanation": "Monthly fee, to be booked"}).status_code == 302
    )
    books.fee.refresh_from_db()
    assert books.fee.state == StatementLine.State.EXPLAINED


def test_undoing_a_match_needs_a_reason(books: BankBooks) -> None:
    trustee = client(books.trustee_user)
    match = books.matched.match
    url = reverse("bank-match-undo", args=[books.trust.pk, match.pk])
    refused = trustee.post(url, {"undo-reason": ""})
    assert refused.status_code == 400 and "This field is required" in text(refused)
    assert trustee.post(url, {"undo-reason": "Matched with the wrong receipt"}).status_code == 302
    books.matched.refresh_from_db()
    assert books.matched.state == StatementLine.State.UNMATCHED
    assert not BankMatch.objects.filter(pk=match.pk).exists()


# --- reconciliation ---------------------------------------------------------------------------


def test_the_reconciliation_lists_every_item_and_is_signed_off(books: BankBooks) -> None:
    trustee = client(books.trustee_user)
    choose = text(trustee.get(reverse("bank-reconcile", args=[books.trust.pk, books.bank.pk])))
    assert "On 2026-01-25" in choose
    url = reverse("bank-statement-reconcile", args=[books.trust.pk, books.statement.pk])
    page = trustee.get(url)
    shown = text(page)
    figures = page.context["figures"]
    assert figures.unexplained_minor == 0
    assert "On the statement, not in the ledger by this date" in shown
    assert f"line #{books.fee.pk}" in shown and f"line #{books.wire.pk}" in shown
    assert "Sign off the reconciliation on 2026-01-25" in shown
    signed = trustee.post(
        reverse("bank-sign-off", args=[books.trust.pk, books.statement.pk]), {"note": "January"}
    )
    assert signed.status_code == 302
    rec = Reconciliation.objects.get()
    assert rec.status == Reconciliation.Status.SIGNED_OFF and rec.figures_sha256
    after = text(trustee.get(signed["Location"]))
    assert rec.figures_sha256 in after and "Signed off" in after and "January" in after
    assert "The books no longer say what was signed" not in after


def test_a_change_after_sign_off_is_shown_on_the_reconciliation(books: BankBooks) -> None:
    trustee = client(books.trustee_user)
    trustee.post(reverse("bank-sign-off", args=[books.trust.pk, books.statement.pk]), {})
    rec = Reconciliation.objects.get()
    undo = reverse("bank-match-undo", args=[books.trust.pk, books.matched.match_id])
    trustee.post(undo, {"undo-reason": "Matched with the wrong receipt"})
    page = text(trustee.get(reverse("bank-reconciliation", args=[books.trust.pk, rec.pk])))
    assert "Changed after it was signed off" in page
    assert f"match of line #{books.matched.pk} undone" in page
    assert "Matched with the wrong receipt" in page


# --- who may ----------------------------------------------------------------------------------


def _pages(b: BankBooks) -> list[str]:
    t = b.trust.pk
    rec = Reconciliation.objects.filter(trust=b.trust).first()
    urls = [
        reverse("bank-accounts", args=[t]),
        reverse("bank-account", args=[t, b.bank.pk]),
        reverse("bank-line", args=[t, b.wire.pk]),
        reverse("bank-line", args=[t, b.matched.pk]),
        reverse("bank-reconcile", args=[t, b.bank.pk]),
        reverse("bank-statement-reconcile", args=[t, b.statement.pk]),
    ]
    if rec:
        urls.append(reverse("bank-reconciliation", args=[t, rec.pk]))
    return urls


def _writes(b: BankBooks) -> list[tuple[str, dict[str, Any]]]:
    t = b.trust.pk
    return [
        (
            reverse("bank-details", args=[t, b.bank.account_id]),
            {"number": IBAN, "match_window_days": "3"},
        ),
        (reverse("bank-import", args=[t, b.bank.pk]), upload(JANUARY, **_mapping_fields())),
        (reverse("bank-auto-match", args=[t, b.bank.pk]), {}),
        (
            reverse("bank-line-match", args=[t, b.wire.pk]),
            {"match-entries": [str(b.wire_receipt.entry_id)]},
        ),
        (reverse("bank-line-explain", args=[t, b.fee.pk]), {"explain-explanation": "x"}),
        (reverse("bank-match-undo", args=[t, b.matched.match_id]), {"undo-reason": "x"}),
        (reverse("bank-sign-off", args=[t, b.statement.pk]), {"note": "x"}),
    ]


def test_an_auditor_reads_every_page_and_changes_nothing(books: BankBooks) -> None:
    client(books.trustee_user).post(
        reverse("bank-sign-off", args=[books.trust.pk, books.statement.pk])
    )
    auditor = client(books.auditor_user)
    for url in _pages(books):
        response = auditor.get(url)
        assert response.status_code == 200, url
        shown = text(response)
        for write in ("Sign off the reconciliation", "Undo the match", "Match the chosen entries"):
            assert write not in shown, (url, write)
    assert (
        auditor.get(reverse("bank-import", args=[books.trust.pk, books.bank.pk])).status_code == 403
    )
    before = (StatementLine.objects.filter(state="matched").count(), Reconciliation.objects.count())
    for url, data in _writes(books):
        assert auditor.post(url, data).status_code == 403, url
    assert (
        StatementLine.objects.filter(state="matched").count(),
        Reconciliation.objects.count(),
    ) == before


def test_a_caseworker_finds_no_bank_page(books: BankBooks) -> None:
    caseworker = client(books.world.caseworker)
    for url in _pages(books):
        assert caseworker.get(url).status_code == 404, url
    for url, data in _writes(books):
        assert caseworker.post(url, data).status_code == 404, url


def test_another_trusts_bank_objects_are_not_found(books: BankBooks) -> None:
    _, their_bank, their_line, their_trustee = other_trust_bank()
    trustee = client(books.trustee_user)
    t = books.trust.pk
    their_statement = BankStatement.objects.get(bank_account=their_bank)
    for url in (
        reverse("bank-account", args=[t, their_bank.pk]),
        reverse("bank-details", args=[t, their_bank.account_id]),
        reverse("bank-import", args=[t, their_bank.pk]),
        reverse("bank-line", args=[t, their_line.pk]),
        reverse("bank-statement-reconcile", args=[t, their_statement.pk]),
        reverse("bank-reconcile", args=[t, their_bank.pk]),
    ):
        assert trustee.get(url).status_code == 404, url
    assert (
        trustee.post(
            reverse("bank-line-explain", args=[t, their_line.pk]), {"explain-explanation": "x"}
        ).status_code
        == 404
    )
    assert trustee.post(reverse("bank-sign-off", args=[t, their_statement.pk])).status_code == 404
    client(their_trustee).post(
        reverse("bank-sign-off", args=[their_bank.trust_id, their_statement.pk])
    )
    theirs = Reconciliation.objects.get(bank_account=their_bank)
    assert trustee.get(reverse("bank-reconciliation", args=[t, theirs.pk])).status_code == 404
    # And their trustee finds nothing of this trust's.
    assert client(their_trustee).get(reverse("bank-accounts", args=[t])).status_code == 404
    their_line.refresh_from_db()
    assert their_line.state == StatementLine.State.MATCHED  # untouched


# --- samples ----------------------------------------------------------------------------------


def _mapping_fields() -> dict[str, str]:
    return {
        "date_column": "Date",
        "amount_column": "Amount",
        "reference_column": "Reference",
        "description_column": "Details",
        "balance_column": "Balance",
        "date_format": "%Y-%m-%d",
        "delimiter": ",",
        "encoding": "utf-8",
        "save_mapping": "on",
    }


def camt053(iban: str, statement_id: str = "CAMT-FEB") -> bytes:
    """A camt.053.001.02 statement of February: 1,537.50 USD continued, 10.00 interest."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-03-01T08:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>{statement_id}</Id>
   <CreDtTm>2026-03-01T08:00:00</CreDtTm>
   <FrToDt><FrDtTm>2026-02-01T00:00:00</FrDtTm><ToDtTm>2026-02-28T23:59:59</ToDtTm></FrToDt>
   <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>USD</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">1537.50</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-02-01</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">1547.50</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-02-28</Dt></Dt></Bal>
   <Ntry>
    <Amt Ccy="USD">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2026-02-27</Dt></BookgDt><ValDt><Dt>2026-02-28</Dt></ValDt>
    <AcctSvcrRef>INT-2026-02</AcctSvcrRef>
    <BkTxCd><Domn><Cd>ACMT</Cd><Fmly><Cd>MDOP</Cd><SubFmlyCd>INTR</SubFmlyCd></Fmly></Domn></BkTxCd>
    <AddtlNtryInf>Interest February</AddtlNtryInf>
   </Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>
""".encode()


def test_a_receipt_recorded_from_a_line_is_matched_with_it(books: BankBooks) -> None:
    trustee = client(books.trustee_user)
    page = trustee.get(reverse("bank-line", args=[books.trust.pk, books.wire.pk]))
    link = page.context["links"]["receipt"]
    done = trustee.post(
        link,
        {
            "amount_0": "300.00",
            "amount_1": "USD",
            "received_on": "2026-01-25",
            "source": Receipt.Source.CLERK,
            "payer": "",
            "bank_reference": "WIRE-77",
            "memo": "Wire from the clerk",
            "idempotency_key": "from-the-line",
        },
    )
    assert done.status_code == 302, text(done)
    books.wire.refresh_from_db()
    assert books.wire.state == StatementLine.State.MATCHED
    receipt = Receipt.objects.get(idempotency_key="from-the-line")
    assert list(books.wire.match.entries.values_list("entry_id", flat=True)) == [receipt.entry_id]
