"""The ledger's API resources (defendants, orders, receipts, accounts, the journal) on a full trust:
figures exact to the cent against the database, refusals as problem details with the service's
code and nothing written, another trust's things not found, auditors and read-only tokens
refused, and a receipt POST replayed under its Idempotency-Key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.utils import timezone

from tests.disbursements.test_requests import usd
from tests.factories import TrustFactory, beneficiary, fund, person
from tests.reports.scenario import build_case
from trust.models import (
    Account,
    Allocation,
    AllocationShare,
    Defendant,
    JournalEntry,
    OrderLine,
    Posting,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import from_minor, to_minor
from trust.roles import AUDITOR
from trust.selectors import account_balance_as_of, trust_accounts
from trust.services.orders import LineSpec, order_create
from trust.services.people import defendant_create
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@dataclass
class Books:
    trust: Trust
    other: Trust
    trustee: Client
    auditor: Client
    reader: Client  # the trustee's read-only token
    caseworker: Client
    case: Any
    d1: Defendant
    d2: Defendant
    theirs: Defendant  # the other trust's
    their_child: Any


def api(user: Any, scope: str = "write") -> Client:
    _, raw = token_create(actor=user, name=f"tests {scope}", scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Token {raw}")


def post(client: Client, url: str, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(url, body, content_type="application/json", **headers)


def shown(minor: int, currency: str = "USD") -> str:
    """How the API shows an amount kept in minor units: its currency's own digits."""
    return f"{from_minor(int(minor), currency).amount:f}"


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def counts(*models: type[Model]) -> tuple[int, ...]:
    return tuple(model._default_manager.count() for model in models)


def pages(client: Client, url: str, **params: Any) -> Iterator[dict[str, Any]]:
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        yield from body["results"]
        if not body["next"]:
            return
        response = client.get(body["next"])


@pytest.fixture
def books() -> Books:
    case = build_case()
    trust = case.trust
    other = TrustFactory(caption="United States v. Elsewhere Invented")
    their_child, their_sub_ledger = beneficiary(other, "Victim-9")
    fund(other, their_sub_ledger, "777.77")
    theirs = defendant_create(trust=other, name="Invented Defendant Elsewhere")
    auditor = person("ledger-auditor", AUDITOR, trust)
    return Books(
        trust=trust,
        other=other,
        trustee=api(case.trustee),
        auditor=api(auditor),
        reader=api(case.trustee, "read"),
        caseworker=api(case.world.caseworker),
        case=case,
        d1=trust.defendants.get(name="Invented Defendant One"),
        d2=trust.defendants.get(name="Invented Defendant Two"),
        theirs=theirs,
        their_child=their_child,
    )


# --- defendants ---------------------------------------------------------------------------------


def test_defendants_are_listed_by_name_and_recorded_by_a_trustee(books: Books) -> None:
    listed = books.trustee.get("/api/v1/defendants/", {"trust": books.trust.pk}).json()
    assert [d["name"] for d in listed["results"]] == [
        "Invented Defendant One",
        "Invented Defendant Two",
    ]
    created = post(
        books.trustee,
        "/api/v1/defendants/",
        {"trust": books.trust.pk, "name": "  Invented   Defendant Three ", "reference": "Def. 3"},
    )
    assert created.status_code == 201, created.content
    row = Defendant.objects.get(pk=created.json()["id"])
    assert (row.trust_id, row.name, row.reference) == (
        books.trust.pk,
        "Invented Defendant Three",
        "Def. 3",
    )
    assert books.trustee.get(f"/api/v1/defendants/{row.pk}/").json()["name"] == row.name


def test_a_defendant_refused_writes_nothing(books: Books) -> None:
    before = counts(Defendant)
    url = "/api/v1/defendants/"
    body = refused(post(books.trustee, url, {"trust": books.trust.pk}), 400, "invalid")
    assert "name" in body["errors"]
    refused(
        post(books.trustee, url, {"trust": books.trust.pk, "name": "Invented Defendant One"}),
        400,
        "duplicate",
    )
    refused(post(books.trustee, url, {"trust": books.other.pk, "name": "X Y"}), 404, "not_found")
    refused(post(books.auditor, url, {"trust": books.trust.pk, "name": "X Y"}), 403, "not_trustee")
    refused(
        post(books.reader, url, {"trust": books.trust.pk, "name": "X Y"}), 403, "token_read_only"
    )
    assert counts(Defendant) == before
    refused(books.trustee.get(f"{url}{books.theirs.pk}/"), 404, "not_found")


# --- orders -------------------------------------------------------------------------------------


def test_an_order_is_shown_with_its_lines_exact_to_the_cent(books: Books) -> None:
    order = books.case.order  # the amended judgment (version 2)
    body = books.trustee.get(f"/api/v1/orders/{order.pk}/").json()
    assert body["version"] == 2 and body["status"] == "current"
    assert body["total"] == shown(order.total_minor) == "16000.00"
    assert body["supersedes"] == order.supersedes_id and body["superseded_by"] is None
    lines = list(OrderLine.objects.filter(order=order).order_by("position"))
    assert len(body["lines"]) == len(lines) == 2
    for shown_line, line in zip(body["lines"], lines, strict=True):
        assert shown_line["beneficiary"] == line.beneficiary_id
        assert shown_line["pseudonym"] == line.beneficiary.pseudonym
        assert shown_line["amount"] == shown(line.amount_minor)
        assert shown_line["collected"] == shown(line.collected_minor)
        assert shown_line["outstanding"] == shown(line.outstanding_minor)
        assert shown_line["currency"] == "USD" and shown_line["liability"] == line.liability
        assert shown_line["defendants"] == sorted(d.pk for d in line.defendants.all())
    first = books.trustee.get(f"/api/v1/orders/{order.supersedes_id}/").json()
    assert first["status"] == "superseded" and first["superseded_by"] == order.pk
    listed = books.trustee.get(
        "/api/v1/orders/", {"trust": books.trust.pk, "status": "superseded"}
    ).json()
    assert [o["id"] for o in listed["results"]] == [order.supersedes_id]


def _order(books: Books, **changes: Any) -> dict[str, Any]:
    mv1, mv2 = books.case.mv1, books.case.mv2
    return {
        "trust": books.trust.pk,
        "court": "District Court (example)",
        "case_number": "1:26-cr-00077",
        "judgment_date": str(timezone.localdate() - timedelta(days=3)),
        "total": "1500.50",
        "total_currency": "USD",
        "lines": [
            {
                "beneficiary": mv1.pk,
                "amount": "1000.00",
                "amount_currency": "USD",
                "defendants": [books.d1.pk],
            },
            {
                "beneficiary": mv2.pk,
                "amount": "500.50",
                "amount_currency": "USD",
                "defendants": [books.d1.pk, books.d2.pk],
                "liability": "joint",
            },
        ],
        **changes,
    }


def test_a_trustee_records_an_order(books: Books) -> None:
    response = post(books.trustee, "/api/v1/orders/", _order(books))
    assert response.status_code == 201, response.content
    body = response.json()
    order = RestitutionOrder.objects.get(pk=body["id"])
    assert (order.total_minor, order.currency, order.version) == (150050, "USD", 1)
    assert [(line["amount"], line["liability"]) for line in body["lines"]] == [
        ("1000.00", "several"),
        ("500.50", "joint"),
    ]
    assert list(order.lines.order_by("position").values_list("amount_minor", flat=True)) == [
        100000,
        50050,
    ]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"total": "1500.505"}, "bad_amount"),  # three decimals in USD
        ({"total_currency": "EUR"}, "currency_mismatch"),  # the lines are in USD
        ({"judgment_date": "2999-01-01"}, "date_future"),
        ({"total": "1500.00"}, "total_mismatch"),
        ({"lines": []}, "no_lines"),
    ],
)
def test_an_order_refused_writes_nothing(books: Books, change: dict[str, Any], code: str) -> None:
    before = counts(RestitutionOrder, OrderLine)
    refused(post(books.trustee, "/api/v1/orders/", _order(books, **change)), 400, code)
    assert counts(RestitutionOrder, OrderLine) == before


def test_an_order_naming_another_trusts_people_or_missing_fields_is_refused(books: Books) -> None:
    before = counts(RestitutionOrder, OrderLine)
    url = "/api/v1/orders/"
    foreign = _order(books)
    foreign["lines"][0]["beneficiary"] = books.their_child.pk
    refused(post(books.trustee, url, foreign), 400, "foreign_beneficiary")
    foreign = _order(books)
    foreign["lines"][1]["defendants"] = [books.d1.pk, books.theirs.pk]
    refused(post(books.trustee, url, foreign), 400, "foreign_defendant")
    wrong_line = _order(books)
    wrong_line["lines"][0]["amount"] = "1000.001"
    refused(post(books.trustee, url, wrong_line), 400, "bad_amount")
    missing = refused(post(books.trustee, url, {"trust": books.trust.pk}), 400, "invalid")
    assert {"court", "judgment_date", "total", "lines"} <= set(missing["errors"])
    refused(post(books.trustee, url, _order(books, trust=books.other.pk)), 404, "not_found")
    refused(post(books.auditor, url, _order(books)), 403, "not_trustee")
    refused(post(books.reader, url, _order(books)), 403, "token_read_only")
    assert counts(RestitutionOrder, OrderLine) == before


def test_an_amended_judgment_supersedes_the_current_version(books: Books) -> None:
    order = books.case.order
    old = {line.beneficiary_id: line for line in order.lines.all()}
    body = _order(books, reason="Amended judgment: re-assessed", total="16500.00")
    body["lines"] = [
        {
            "beneficiary": books.case.mv1.pk,
            "amount": "10500.00",
            "amount_currency": "USD",
            "defendants": [books.d1.pk, books.d2.pk],
        },
        {
            "beneficiary": books.case.mv2.pk,
            "amount": "6000.00",
            "amount_currency": "USD",
            "defendants": [books.d1.pk],
        },
    ]
    for name in ("trust", "court", "case_number"):
        body.pop(name)
    response = post(books.trustee, f"/api/v1/orders/{order.pk}/amend/", body)
    assert response.status_code == 201, response.content
    amended = response.json()
    assert amended["version"] == 3 and amended["supersedes"] == order.pk
    order.refresh_from_db()
    assert order.status == RestitutionOrder.Status.SUPERSEDED
    for line in amended["lines"]:  # what was collected is carried over, line by line
        assert line["collected"] == shown(old[line["beneficiary"]].collected_minor)
    before = counts(RestitutionOrder, OrderLine)
    refused(post(books.trustee, f"/api/v1/orders/{order.pk}/amend/", body), 400, "superseded")
    no_reason = {k: v for k, v in body.items() if k != "reason"}
    refused(
        post(books.trustee, f"/api/v1/orders/{amended['id']}/amend/", no_reason), 400, "invalid"
    )
    assert counts(RestitutionOrder, OrderLine) == before


def test_another_trusts_order_is_not_found(books: Books) -> None:
    order = order_create(
        trust=books.other,
        actor=None,
        court="District Court (example)",
        case_number="1:26-cr-00099",
        judgment_date=timezone.localdate(),
        total=usd("10.00"),
        lines=[
            LineSpec(beneficiary=books.their_child, amount=usd("10.00"), defendants=[books.theirs])
        ],
    )
    refused(books.trustee.get(f"/api/v1/orders/{order.pk}/"), 404, "not_found")
    before = counts(RestitutionOrder)
    body = {"reason": "r", "judgment_date": str(timezone.localdate()), "lines": []}
    refused(post(books.trustee, f"/api/v1/orders/{order.pk}/amend/", body), 404, "not_found")
    assert counts(RestitutionOrder) == before
    assert order.pk not in {o["id"] for o in pages(books.trustee, "/api/v1/orders/")}
    assert books.caseworker.get("/api/v1/orders/").json()["results"] == []


# --- receipts -----------------------------------------------------------------------------------


def _receipt(books: Books, **changes: Any) -> dict[str, Any]:
    return {
        "trust": books.trust.pk,
        "amount": "1000.00",
        "amount_currency": "USD",
        "received_on": str(timezone.localdate()),
        "source": "clerk",
        "payer": books.d1.pk,
        "bank_reference": "CLK-API-1",
        **changes,
    }


def _bank(books: Books) -> Account:
    return books.trust.accounts.get(role=Account.Role.BANK, currency="USD")


def _shares_match(shown_allocation: dict[str, Any], allocation: Allocation) -> None:
    rows = {
        (share.beneficiary_id, share.line_id): share
        for share in AllocationShare.objects.filter(allocation=allocation)
    }
    assert len(shown_allocation["shares"]) == len(rows)
    for share in shown_allocation["shares"]:
        row = rows[(share["beneficiary"], share["line"])]
        assert share["amount"] == shown(row.amount_minor) and share["currency"] == row.currency
    assert shown_allocation["unallocated_change"] == shown(allocation.unallocated_change_minor)
    assert shown_allocation["entry"] == allocation.entry_id


def test_a_receipt_is_shown_with_its_allocations_line_by_line(books: Books) -> None:
    receipt = books.trust.receipts.get(bank_reference="CLK-77")
    body = books.trustee.get(f"/api/v1/receipts/{receipt.pk}/").json()
    assert body["amount"] == "3000.00" and body["unallocated"] == shown(receipt.unallocated_minor)
    assert body["payer"] == books.d1.pk and body["payer_name"] == "Invented Defendant One"
    allocations = list(receipt.allocations.order_by("created_at", "pk"))
    assert [a["id"] for a in body["allocations"]] == [a.pk for a in allocations]
    for shown_allocation, allocation in zip(body["allocations"], allocations, strict=True):
        _shares_match(shown_allocation, allocation)
    total = sum(
        AllocationShare.objects.filter(allocation__receipt=receipt).values_list(
            "amount_minor", flat=True
        )
    )
    assert total + receipt.unallocated_minor == receipt.amount_minor == 300000
    listed = books.trustee.get("/api/v1/receipts/", {"trust": books.trust.pk, "q": "CLK-77"})
    assert [r["id"] for r in listed.json()["results"]] == [receipt.pk]
    waiting = Receipt.objects.filter(trust=books.trust, status="posted", unallocated_minor__gt=0)
    to_resolve = books.trustee.get("/api/v1/receipts/", {"to_resolve": "true"}).json()["results"]
    assert waiting.exists()
    assert {r["id"] for r in to_resolve} == set(waiting.values_list("pk", flat=True))
    assert all(r["unallocated"] != "0.00" for r in to_resolve)


def test_a_trustee_records_a_receipt_shared_out_pro_rata(books: Books) -> None:
    bank = _bank(books)
    before = bank.balance_minor
    response = post(books.trustee, "/api/v1/receipts/", _receipt(books))
    assert response.status_code == 201, response.content
    body = response.json()
    receipt = Receipt.objects.get(pk=body["id"])
    assert (receipt.amount_minor, receipt.currency, receipt.payer_id) == (
        100000,
        "USD",
        books.d1.pk,
    )
    assert body["amount"] == "1000.00" and body["unallocated"] == shown(receipt.unallocated_minor)
    assert body["entry"] == receipt.entry_id and body["bank_account"] == bank.pk
    [allocation] = receipt.allocations.all()
    assert response["Location"] == f"/api/v1/receipts/{receipt.pk}/"
    detail = books.trustee.get(response["Location"]).json()  # the shares, child by child
    _shares_match(detail["allocations"][0], allocation)
    shared = sum(share.amount_minor for share in allocation.shares.all())
    assert shared + receipt.unallocated_minor == 100000 and shared > 0
    bank.refresh_from_db()
    assert bank.balance_minor - before == 100000


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"amount": "10.005"}, 400, "bad_amount"),
        ({"amount": "0"}, 400, "not_positive"),
        ({"amount_currency": "EUR"}, 400, "no_bank_account"),
        ({"amount_currency": "XYZ"}, 400, "invalid"),
        ({"received_on": "2999-01-01"}, 400, "date_future"),
        ({"source": "lottery"}, 400, "invalid"),
        ({"amount": 1000.5}, 400, "invalid"),  # a float is not an amount
    ],
)
def test_a_receipt_refused_writes_nothing(
    books: Books, change: dict[str, Any], status: int, code: str
) -> None:
    before = counts(Receipt, JournalEntry, Posting)
    refused(post(books.trustee, "/api/v1/receipts/", _receipt(books, **change)), status, code)
    assert counts(Receipt, JournalEntry, Posting) == before


def test_a_receipt_naming_another_trusts_things_or_missing_fields_is_refused(books: Books) -> None:
    before = counts(Receipt, JournalEntry, Posting)
    url = "/api/v1/receipts/"
    refused(post(books.trustee, url, _receipt(books, payer=books.theirs.pk)), 400, "foreign_payer")
    their_bank = books.other.accounts.get(role=Account.Role.BANK)
    refused(
        post(books.trustee, url, _receipt(books, bank_account=their_bank.pk)),
        400,
        "foreign_account",
    )
    sub_ledger = books.case.mv1.accounts.get()
    refused(post(books.trustee, url, _receipt(books, bank_account=sub_ledger.pk)), 400, "not_bank")
    missing = refused(
        post(books.trustee, url, {"trust": books.trust.pk, "amount": "5.00"}), 400, "invalid"
    )
    assert {"amount_currency", "received_on", "source"} <= set(missing["errors"])
    refused(post(books.trustee, url, _receipt(books, trust=books.other.pk)), 404, "not_found")
    refused(post(books.auditor, url, _receipt(books)), 403, "not_trustee")
    refused(post(books.reader, url, _receipt(books)), 403, "token_read_only")
    assert counts(Receipt, JournalEntry, Posting) == before
    theirs = TrustFactory(caption="United States v. Receipts Elsewhere")
    their_receipt = post(
        api(person("their-trustee", "trustee", theirs)),
        url,
        _receipt(books, trust=theirs.pk, payer=None),
    ).json()
    refused(books.trustee.get(f"{url}{their_receipt['id']}/"), 404, "not_found")
    for step in ("reverse", "allocate"):
        refused(post(books.trustee, f"{url}{their_receipt['id']}/{step}/", {}), 404, "not_found")
    assert books.caseworker.get(url).json()["results"] == []


def test_a_receipt_post_is_replayed_under_its_idempotency_key(books: Books) -> None:
    body = _receipt(books, amount="250.00")
    first = post(books.trustee, "/api/v1/receipts/", body, HTTP_IDEMPOTENCY_KEY="receipt-1")
    again = post(books.trustee, "/api/v1/receipts/", body, HTTP_IDEMPOTENCY_KEY="receipt-1")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content and again["Idempotent-Replayed"] == "true"
    assert Receipt.objects.filter(trust=books.trust, amount_minor=25000).count() == 1
    before = counts(Receipt, JournalEntry)
    other = post(
        books.trustee,
        "/api/v1/receipts/",
        {**body, "amount": "260.00"},
        HTTP_IDEMPOTENCY_KEY="receipt-1",
    )
    refused(other, 422, "idempotency_key_reused")
    assert counts(Receipt, JournalEntry) == before


def _unallocated(books: Books, amount: str) -> dict[str, Any]:
    """A receipt of no payer: all of it waits unallocated."""
    response = post(books.trustee, "/api/v1/receipts/", _receipt(books, amount=amount, payer=None))
    assert response.status_code == 201, response.content
    assert response.json()["unallocated"] == amount
    return response.json()


def test_a_receipt_is_reversed_with_a_reason(books: Books) -> None:
    receipt = _unallocated(books, "75.00")
    url = f"/api/v1/receipts/{receipt['id']}/reverse/"
    before = counts(JournalEntry, Allocation)
    refused(post(books.trustee, url, {}), 400, "invalid")
    refused(post(books.auditor, url, {"reason": "Mistake"}), 403, "not_trustee")
    refused(post(books.reader, url, {"reason": "Mistake"}), 403, "token_read_only")
    assert counts(JournalEntry, Allocation) == before
    response = post(books.trustee, url, {"reason": "Recorded twice"})
    assert response.status_code == 200, response.content
    body = response.json()
    row = Receipt.objects.get(pk=receipt["id"])
    assert (
        row.status == body["status"] == "reversed" and body["reversal_reason"] == "Recorded twice"
    )
    assert body["unallocated"] == "0.00" == shown(row.unallocated_minor)
    assert [a["method"] for a in body["allocations"]] == ["pro_rata", "reversal"]
    assert [a["unallocated_change"] for a in body["allocations"]] == ["75.00", "-75.00"]
    reversal = JournalEntry.objects.get(pk=body["allocations"][1]["entry"])
    assert reversal.reverses_id == row.entry_id and reversal.reason == "Recorded twice"


def test_unallocated_money_is_allocated_pro_rata_to_what_the_payer_owes(books: Books) -> None:
    receipt = _unallocated(books, "300.00")
    url = f"/api/v1/receipts/{receipt['id']}/allocate/"
    refused(post(books.trustee, url, {}), 400, "invalid")  # say how
    refused(post(books.auditor, url, {"method": "pro_rata"}), 403, "not_trustee")
    refused(post(books.trustee, url, {"method": "pro_rata"}), 400, "payer_unknown")
    refused(
        post(books.trustee, url, {"method": "pro_rata", "payer": books.theirs.pk}),
        400,
        "foreign_payer",
    )
    assert Allocation.objects.filter(receipt_id=receipt["id"]).count() == 1
    body = {"method": "pro_rata", "payer": books.d2.pk}
    first = post(books.trustee, url, body, HTTP_IDEMPOTENCY_KEY="allocate-1")
    assert first.status_code == 200, first.content
    again = post(books.trustee, url, body, HTTP_IDEMPOTENCY_KEY="allocate-1")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    shown_receipt = first.json()
    row = Receipt.objects.get(pk=receipt["id"])
    assert row.payer_id == books.d2.pk and shown_receipt["unallocated"] == shown(
        row.unallocated_minor
    )
    allocations = list(row.allocations.order_by("created_at", "pk"))
    assert len(allocations) == len(shown_receipt["allocations"]) == 2
    later = shown_receipt["allocations"][1]
    assert later["from_unallocated"] is True and later["method"] == "pro_rata"
    _shares_match(later, allocations[1])
    # Co-defendant Two owes only on MV-1's joint line: all of it goes there.
    [share] = later["shares"]
    assert share["beneficiary"] == books.case.mv1.pk and share["amount"] == "300.00"
    refused(post(books.trustee, url, body), 400, "nothing_unallocated")


def test_unallocated_money_is_allocated_by_hand_with_the_court_document(books: Books) -> None:
    receipt = _unallocated(books, "100.00")
    url = f"/api/v1/receipts/{receipt['id']}/allocate/"
    line = books.case.order.lines.get(beneficiary=books.case.mv2)
    shares = [
        {"line": line.pk, "amount": "60.00", "amount_currency": "USD"},
        {"beneficiary": books.case.mv1.pk, "amount": "40.00", "amount_currency": "USD"},
    ]
    before = counts(JournalEntry, Allocation, AllocationShare)
    refused(post(books.trustee, url, {"method": "manual", "manual": shares}), 400, "reason_missing")
    foreign = [{**shares[1], "beneficiary": books.their_child.pk}]
    refused(
        post(books.trustee, url, {"method": "manual", "manual": foreign, "reason": "ECF 9"}),
        400,
        "foreign_beneficiary",
    )
    too_much = [{**shares[0], "amount": "100.01"}]
    refused(
        post(books.trustee, url, {"method": "manual", "manual": too_much, "reason": "ECF 9"}),
        400,
        "over_allocated",
    )
    three_decimals = [{**shares[0], "amount": "60.001"}]
    refused(
        post(books.trustee, url, {"method": "manual", "manual": three_decimals, "reason": "ECF 9"}),
        400,
        "bad_amount",
    )
    assert counts(JournalEntry, Allocation, AllocationShare) == before
    response = post(
        books.trustee, url, {"method": "manual", "manual": shares, "reason": "Order, ECF No. 91"}
    )
    assert response.status_code == 200, response.content
    later = response.json()["allocations"][-1]
    assert later["method"] == "manual" and later["reason"] == "Order, ECF No. 91"
    assert {(s["beneficiary"], s["line"], s["amount"]) for s in later["shares"]} == {
        (books.case.mv2.pk, line.pk, "60.00"),
        (books.case.mv1.pk, None, "40.00"),
    }
    assert response.json()["unallocated"] == "0.00"
    assert Receipt.objects.get(pk=receipt["id"]).unallocated_minor == 0


# --- accounts and the journal -------------------------------------------------------------------


def test_accounts_are_listed_in_natural_order_with_exact_balances(books: Books) -> None:
    accounts = list(trust_accounts(trust=books.trust))  # the balances page's order
    listed = list(pages(books.trustee, "/api/v1/accounts/", trust=books.trust.pk, page_size=3))
    assert [a["code"] for a in listed] == [a.code for a in accounts]
    for shown_account, account in zip(listed, accounts, strict=True):
        assert shown_account["balance"] == shown(account.balance_minor, account.currency)
        assert shown_account["currency"] == account.currency
    sub_ledgers = books.trustee.get(
        "/api/v1/accounts/", {"trust": books.trust.pk, "role": "sub_ledger"}
    ).json()["results"]
    assert {a["beneficiary"] for a in sub_ledgers} == {books.case.mv1.pk, books.case.mv2.pk}
    assert books.auditor.get("/api/v1/accounts/", {"trust": books.trust.pk}).json()["results"]
    assert books.caseworker.get("/api/v1/accounts/").json()["results"] == []


def test_an_accounts_balance_as_of_a_day_is_exact(books: Books) -> None:
    bank = _bank(books)
    as_of = books.case.period.start + timedelta(days=10)
    body = books.trustee.get(f"/api/v1/accounts/{bank.pk}/", {"as_of": str(as_of)}).json()
    moved = sum(
        Posting.objects.filter(account=bank, effective_date__lte=as_of).values_list(
            "amount_minor", flat=True
        )
    )
    assert body["as_of"] == str(as_of) and body["balance_as_of"] == shown(moved)
    assert body["balance_as_of"] == shown(
        to_minor(account_balance_as_of(account=bank, as_of=as_of))
    )
    assert body["balance"] == shown(bank.balance_minor)
    plain = books.trustee.get(f"/api/v1/accounts/{bank.pk}/").json()
    assert plain["as_of"] is None and plain["balance_as_of"] is None
    bad = refused(
        books.trustee.get(f"/api/v1/accounts/{bank.pk}/", {"as_of": "2026-02-30"}), 400, "invalid"
    )
    assert "as_of" in bad["errors"]
    their_bank = books.other.accounts.get(role=Account.Role.BANK)
    refused(books.trustee.get(f"/api/v1/accounts/{their_bank.pk}/"), 404, "not_found")
    refused(books.trustee.get(f"/api/v1/accounts/{their_bank.pk}/postings/"), 404, "not_found")


def test_an_accounts_history_pages_newest_first_with_running_balances(books: Books) -> None:
    for account in (_bank(books), books.case.mv1.accounts.get()):
        rows = list(Posting.objects.filter(account=account).order_by("effective_date", "id"))
        expected, balance = [], 0
        for posting in rows:  # oldest first, on the account's normal side
            balance += account.normal_sign * posting.amount_minor
            expected.append(
                (posting.pk, posting.entry_id, shown(posting.amount_minor), shown(balance))
            )
        expected.reverse()
        listed = list(pages(books.trustee, f"/api/v1/accounts/{account.pk}/postings/", page_size=4))
        assert len(listed) == len(rows) > 4
        assert [(p["id"], p["entry"], p["amount"], p["balance"]) for p in listed] == expected
        assert listed[0]["balance"] == shown(account.balance_minor)
        assert {p["side"] for p in listed if p["amount"].startswith("-")} <= {"credit"}


def test_the_journal_filters_as_its_page_and_shows_entries_with_their_postings(
    books: Books,
) -> None:
    trust = books.trust
    receipts = JournalEntry.objects.filter(trust=trust, kind="receipt").order_by(
        "-effective_date", "-id"
    )
    listed = list(
        pages(books.trustee, "/api/v1/entries/", trust=trust.pk, kind="receipt", page_size=2)
    )
    assert [e["id"] for e in listed] == [e.pk for e in receipts]
    since = books.case.period.start + timedelta(days=5)
    until = books.case.period.start + timedelta(days=25)
    dated = books.trustee.get(
        "/api/v1/entries/", {"trust": trust.pk, "since": str(since), "until": str(until)}
    ).json()["results"]
    assert dated and all(str(since) <= e["effective_date"] <= str(until) for e in dated)
    assert {e["id"] for e in dated} == set(
        JournalEntry.objects.filter(
            trust=trust, effective_date__gte=since, effective_date__lte=until
        ).values_list("pk", flat=True)
    )
    refused(books.trustee.get("/api/v1/entries/", {"since": "yesterday"}), 400, "invalid")
    refused(books.trustee.get("/api/v1/entries/", {"kind": "gift"}), 400, "invalid")

    bounced = books.case.bounced
    body = books.trustee.get(f"/api/v1/entries/{bounced.entry_id}/").json()
    reversal = JournalEntry.objects.get(reverses_id=bounced.entry_id)
    assert body["kind"] == "receipt" and body["reversed_by"] == reversal.pk
    postings = {p.pk: p for p in Posting.objects.filter(entry_id=bounced.entry_id)}
    assert {p["id"] for p in body["postings"]} == set(postings)
    for shown_posting in body["postings"]:
        row = postings[shown_posting["id"]]
        assert shown_posting["account_code"] == row.account.code
        assert shown_posting["amount"] == shown(row.amount_minor)
        assert shown_posting["side"] == ("debit" if row.amount_minor > 0 else "credit")
    assert sum(p.amount_minor for p in postings.values()) == 0
    undone = books.trustee.get(f"/api/v1/entries/{reversal.pk}/").json()
    assert undone["reverses"] == bounced.entry_id and undone["reason"]
    searched = books.trustee.get("/api/v1/entries/", {"trust": trust.pk, "q": "reversal of"})
    assert reversal.pk in {e["id"] for e in searched.json()["results"]}


def test_another_trusts_entries_are_not_there(books: Books) -> None:
    theirs = JournalEntry.objects.filter(trust=books.other).first()
    refused(books.trustee.get(f"/api/v1/entries/{theirs.pk}/"), 404, "not_found")
    mine = {e["id"] for e in pages(books.trustee, "/api/v1/entries/", page_size=500)}
    assert theirs.pk not in mine and mine
    assert books.caseworker.get("/api/v1/entries/").json()["results"] == []
    entry = JournalEntry.objects.filter(trust=books.trust).first()
    refused(books.caseworker.get(f"/api/v1/entries/{entry.pk}/"), 404, "not_found")


def test_the_fast_history_rows_say_what_their_declared_fields_say(books: Books) -> None:
    """AccountPostingSerializer writes its rows out by hand for speed: the same as its fields."""
    from rest_framework import serializers as drf

    from trust.api.ledger_serializers import AccountPostingSerializer
    from trust.selectors import account_postings, running_balances

    account = _bank(books)
    postings = list(account_postings(account=account)[:50])
    assert postings
    for posting, balance in running_balances(account=account, postings=postings):
        posting.balance_after = balance
        serializer = AccountPostingSerializer()
        assert serializer.to_representation(posting) == drf.ModelSerializer.to_representation(
            serializer, posting
        )
