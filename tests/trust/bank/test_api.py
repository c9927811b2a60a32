"""The bank through the API: the pages' rules (trustees write, auditors read and are refused with
403 ``not_trustee``, caseworkers and other trusts find nothing), a file previewed without writing
then imported whole, a malformed file refused with where it fails, matches made and undone,
lines explained, the reconciliation's figures exact to the cent and signed off."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.trust.bank.test_pages import (
    CSV_HEADER,
    IBAN,
    BankBooks,
    bank_books,
    camt053,
    other_trust_bank,
)
from trust.bank.models import BankMatch, Reconciliation, StatementImport, StatementLine
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def api(user: Any, scope: str = "write") -> Client:
    _, raw = token_create(actor=user, name=f"bank tests {scope}", scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Token {raw}")


def post(client: Client, url: str, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(url, body, content_type="application/json", **headers)


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


@pytest.fixture
def books(settings: Any, tmp_path: Any) -> BankBooks:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return bank_books()


def base(b: BankBooks) -> str:
    return f"/api/v1/trusts/{b.trust.pk}/bank/"


# --- reading ------------------------------------------------------------------------------------


def test_the_bank_accounts_are_listed_with_where_they_stand(books: BankBooks) -> None:
    body = api(books.trustee_user).get(base(books) + "accounts/").json()
    [row] = body["results"]
    assert row["number"] == IBAN and row["currency"] == "USD"
    assert row["last_closing"] == "1537.50" and row["last_statement_date"] == "2026-01-25"
    assert row["unmatched_lines"] == 2 and row["latest_signed_off"] is None


def test_statements_and_lines_of_an_account(books: BankBooks) -> None:
    reader = api(books.auditor_user)
    account = f"{base(books)}accounts/{books.bank.pk}/"
    [statement] = reader.get(account + "statements/").json()["results"]
    assert (statement["opening"], statement["closing"], statement["lines"]) == (
        "0.00",
        "1537.50",
        4,
    )
    assert statement["continuity"] == "first"
    waiting = reader.get(account + "lines/", {"state": "unmatched"}).json()["results"]
    assert [(line["amount"], line["state"]) for line in waiting] == [
        ("300.00", "unmatched"),
        ("-12.50", "unmatched"),
    ]
    found = reader.get(account + "lines/", {"q": "clerk of"}).json()["results"]
    assert [line["reference"] for line in found] == ["CLK-2026-0001"]
    refused(reader.get(account + "lines/", {"state": "lost"}), 400, "invalid")


def test_a_line_shows_its_match_with_its_entries(books: BankBooks) -> None:
    body = api(books.auditor_user).get(f"{base(books)}lines/{books.matched.pk}/").json()
    assert body["state"] == "matched" and body["match"]["method"] == "auto"
    [entry] = body["match"]["entries"]
    assert entry["amount"] == "250.00" and body["match"]["lines"] == [books.matched.pk]


# --- importing ----------------------------------------------------------------------------------


def _file(data: bytes, name: str = "february.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


MAPPING = {
    "date_column": "Date",
    "amount_column": "Amount",
    "reference_column": "Reference",
    "description_column": "Details",
    "balance_column": "Balance",
}


def test_a_preview_writes_nothing_and_the_import_records_the_file(books: BankBooks) -> None:
    trustee = api(books.trustee_user)
    url = f"{base(books)}accounts/{books.bank.pk}/imports/"
    data = camt053(IBAN)
    before = (StatementImport.objects.count(), StatementLine.objects.count())
    preview = trustee.post(url, {"file": _file(data, "feb.xml"), "preview": "true"})
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["preview"] is True and body["format"] == "camt.053"
    [statement] = body["statements"]
    assert (statement["opening"], statement["closing"], statement["continuity"]) == (
        "1537.50",
        "1547.50",
        "continues",
    )
    assert body["lines"][0]["amount"] == "10.00" and body["lines_new"] == 1
    assert (StatementImport.objects.count(), StatementLine.objects.count()) == before
    recorded = trustee.post(url, {"file": _file(data, "feb.xml")})
    assert recorded.status_code == 201, recorded.content
    assert (
        recorded.json()["lines"] == 1
        and "1 statement line(s) recorded" in recorded.json()["summary"]
    )
    again = trustee.post(url, {"file": _file(data, "feb.xml")})
    assert again.status_code == 200 and again.json()["already_imported"] is True


def test_a_csv_is_imported_with_the_columns_sent_and_kept(books: BankBooks) -> None:
    url = f"{base(books)}accounts/{books.bank.pk}/imports/"
    data = (CSV_HEADER + "\n2026-02-03,10.00,,Interest,1547.50\n").encode()
    response = api(books.trustee_user).post(
        url, {"file": _file(data), "format": "csv", "save_mapping": "true", **MAPPING}
    )
    assert response.status_code == 201, response.content
    books.bank.refresh_from_db()
    assert books.bank.csv_mapping["balance_column"] == "Balance"


def test_a_malformed_file_is_refused_with_where_and_nothing_is_written(books: BankBooks) -> None:
    url = f"{base(books)}accounts/{books.bank.pk}/imports/"
    bad = (CSV_HEADER + "\n2026-02-30,10.00,,Bad day,10.00\n").encode()
    before = (StatementImport.objects.count(), StatementLine.objects.count())
    for preview in ("true", "false"):
        body = refused(
            api(books.trustee_user).post(url, {"file": _file(bad), "preview": preview, **MAPPING}),
            400,
            "malformed",
        )
        assert "line 2" in body["detail"]
    assert (StatementImport.objects.count(), StatementLine.objects.count()) == before


def test_an_auditor_may_not_import_nor_preview(books: BankBooks) -> None:
    url = f"{base(books)}accounts/{books.bank.pk}/imports/"
    for preview in ("true", "false"):
        refused(
            api(books.auditor_user).post(url, {"file": _file(camt053(IBAN)), "preview": preview}),
            403,
            "not_trustee",
        )
    assert StatementImport.objects.count() == 1


# --- matching -----------------------------------------------------------------------------------


def test_a_trustee_matches_by_hand_and_undoes_it(books: BankBooks) -> None:
    trustee = api(books.trustee_user)
    entry = books.wire_receipt.entry_id
    unequal = post(
        trustee,
        base(books) + "matches/",
        {"lines": [books.wire.pk, books.fee.pk], "entries": [entry]},
    )
    refused(unequal, 400, "unequal")
    made = post(
        trustee,
        base(books) + "matches/",
        {"lines": [books.wire.pk], "entries": [entry], "note": "Late receipt"},
        HTTP_IDEMPOTENCY_KEY="match-1",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["method"] == "manual" and body["lines"] == [books.wire.pk]
    assert body["entries"][0]["entry"] == entry and body["entries"][0]["amount"] == "300.00"
    replay = post(
        trustee,
        base(books) + "matches/",
        {"lines": [books.wire.pk], "entries": [entry], "note": "Late receipt"},
        HTTP_IDEMPOTENCY_KEY="match-1",
    )
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    undo = f"{base(books)}matches/{body['id']}/undo/"
    refused(post(trustee, undo, {}), 400, "invalid")
    undone = post(trustee, undo, {"reason": "Wrong receipt"})
    assert undone.status_code == 200 and undone.json()[0]["state"] == "unmatched"
    assert not BankMatch.objects.filter(pk=body["id"]).exists()


def test_a_match_is_undone_with_delete(books: BankBooks) -> None:
    trustee = api(books.trustee_user)
    url = f"{base(books)}matches/{books.matched.match_id}/"
    refused(trustee.delete(url), 400, "invalid")
    assert trustee.delete(url + "?reason=Wrong%20receipt").status_code == 204
    books.matched.refresh_from_db()
    assert books.matched.state == "unmatched"


def test_a_trustee_explains_a_line(books: BankBooks) -> None:
    url = f"{base(books)}lines/{books.fee.pk}/explain/"
    done = post(api(books.trustee_user), url, {"explanation": "Monthly fee, to be booked"})
    assert done.status_code == 200 and done.json()["state"] == "explained"
    matched = f"{base(books)}lines/{books.matched.pk}/explain/"
    refused(post(api(books.trustee_user), matched, {"explanation": "x"}), 400, "line_matched")


def test_an_auditor_is_refused_every_write(books: BankBooks) -> None:
    auditor = api(books.auditor_user)
    b = base(books)
    for url, body in (
        (b + "matches/", {"lines": [books.wire.pk], "entries": [books.wire_receipt.entry_id]}),
        (f"{b}matches/{books.matched.match_id}/undo/", {"reason": "x"}),
        (f"{b}lines/{books.fee.pk}/explain/", {"explanation": "x"}),
        (f"{b}statements/{books.statement.pk}/sign-off/", {}),
    ):
        refused(post(auditor, url, body), 403, "not_trustee")
    refused(auditor.delete(f"{b}matches/{books.matched.match_id}/?reason=x"), 403, "not_trustee")
    assert Reconciliation.objects.count() == 0
    assert StatementLine.objects.filter(state="unmatched").count() == 2


# --- reconciliation -----------------------------------------------------------------------------


def test_the_figures_are_exact_and_the_reconciliation_is_signed_off(books: BankBooks) -> None:
    trustee = api(books.trustee_user)
    statement = f"{base(books)}statements/{books.statement.pk}/"
    figures = trustee.get(statement + "reconciliation/").json()
    assert figures["bank_closing"] == "1537.50" and figures["unexplained"] == "0.00"
    assert figures["ledger_bank"] == "1250.00"  # the wire's receipt is dated after the statement
    items = {(i["kind"], i["line"], i["amount"]) for i in figures["items"]}
    assert ("bank_only", books.fee.pk, "-12.50") in items
    assert ("bank_only", books.wire.pk, "300.00") in items
    signed = post(trustee, statement + "sign-off/", {"note": "January"})
    assert signed.status_code == 201, signed.content
    rec = signed.json()
    assert rec["status"] == "signed_off" and rec["figures"]["unexplained"] == "0.00"
    detail = trustee.get(f"{base(books)}reconciliations/{rec['id']}/").json()
    assert detail["drift"] == [] and detail["figures_sha256"] == rec["figures_sha256"]
    listed = trustee.get(base(books) + "accounts/").json()["results"][0]
    assert listed["latest_signed_off"] == rec["id"]


# --- who finds what -----------------------------------------------------------------------------


def test_caseworkers_and_other_trusts_find_nothing(books: BankBooks) -> None:
    _, their_bank, their_line, their_trustee = other_trust_bank()
    b = base(books)
    for who in (api(books.world.caseworker), api(their_trustee)):
        for url in (
            b + "accounts/",
            f"{b}accounts/{books.bank.pk}/lines/",
            f"{b}lines/{books.wire.pk}/",
            f"{b}statements/{books.statement.pk}/reconciliation/",
        ):
            refused(who.get(url), 404, "not_found")
    trustee = api(books.trustee_user)
    for url in (
        f"{b}accounts/{their_bank.pk}/statements/",
        f"{b}lines/{their_line.pk}/",
        f"{b}statements/{their_line.statement_id}/reconciliation/",
        f"{b}accounts/99999999999999999999999/lines/",
    ):
        refused(trustee.get(url), 404, "not_found")
    refused(
        post(trustee, f"{b}lines/{their_line.pk}/explain/", {"explanation": "x"}), 404, "not_found"
    )
    refused(
        post(trustee, b + "matches/", {"lines": [their_line.pk], "entries": [1]}), 404, "not_found"
    )


def test_a_read_only_token_writes_nothing(books: BankBooks) -> None:
    reader = api(books.trustee_user, "read")
    url = f"{base(books)}lines/{books.fee.pk}/explain/"
    refused(post(reader, url, {"explanation": "x"}), 403, "token_read_only")


def test_the_schema_describes_the_bank(books: BankBooks) -> None:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/trusts/{trust_id}/bank/accounts/{bank_id}/imports/" in paths
    assert "/api/v1/trusts/{trust_id}/bank/statements/{statement_id}/sign-off/" in paths
