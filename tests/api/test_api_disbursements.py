"""The disbursements API with tokens: a request from draft to acknowledgement (figures to the cent),
refusals that write nothing, another partner's caseworker finding nothing, read-only tokens and
auditors refused, idempotent replay of a draft, and care partners whose bank details never show."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from disbursements.models import (
    Approval,
    CarePartner,
    DisbursementRequest,
    Payment,
    RequestDocument,
    RequestEvent,
    Status,
)
from disbursements.services import caseworker_add, policy_set_dual_approval
from tests.disbursements.test_requests import World, make_world, submitted, usd
from tests.factories import clean_pdf, person
from trust.invariants import ledger_violations
from trust.models import AuditEvent, IdempotencyRecord
from trust.roles import AUDITOR
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db

PDF = clean_pdf()
JSON = "application/json"


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    w = make_world()
    policy_set_dual_approval(trust=w.trust, actor=w.trustee, threshold=usd("500.00"))
    return w


def api(user: Any, scope: str = "write") -> Client:
    _, raw = token_create(actor=user, name="api test", scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Token {raw}")


def post(client: Client, url: str, data: dict[str, Any] | None = None, **extra: Any) -> Any:
    return client.post(url, data or {}, content_type=JSON, **extra)


def other_caseworker(w: World) -> Any:
    """A caseworker of the other partner (MV-2's), who must find nothing of MV-1's."""
    someone = person("other-caseworker")
    caseworker_add(partner=w.other_partner, user=someone, actor=w.trustee)
    return someone


def writes(w: World) -> tuple[int, ...]:
    return (
        DisbursementRequest.objects.count(),
        RequestEvent.objects.count(),
        Approval.objects.count(),
        RequestDocument.objects.count(),
        Payment.objects.count(),
        AuditEvent.objects.count(),
    )


def draft_body(w: World, **overrides: Any) -> dict[str, Any]:
    return {
        "beneficiary": w.mv1.pk,
        "category": "education",
        "amount": "42000.00",
        "amount_currency": "PHP",
        "purpose": "School fees, second term",
        **overrides,
    }


def test_a_request_from_draft_to_acknowledgement_exact_to_the_cent(world: World) -> None:
    w = world
    caseworker, trustee, trustee2 = api(w.caseworker), api(w.trustee), api(w.trustee2)
    today = timezone.localdate().isoformat()

    drafted = post(caseworker, "/api/v1/requests/", draft_body(w))
    assert drafted.status_code == 201, drafted.content
    made = drafted.json()
    assert (made["status"], made["amount"], made["amount_currency"]) == ("draft", "42000.00", "PHP")
    assert made["beneficiary_pseudonym"] == "MV-1" and made["reserve"] is None
    base = f"/api/v1/requests/{made['id']}"
    invoice = SimpleUploadedFile("invoice.pdf", PDF, content_type="application/pdf")
    uploaded = caseworker.post(f"{base}/documents/", {"kind": "invoice", "file": invoice})
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["content_type"] == "application/pdf"
    assert post(caseworker, f"{base}/submit/").json()["status"] == "submitted"

    # Above the threshold (500.00 USD): the first approval holds 760.00 USD, the second decides.
    first = post(trustee, f"{base}/approve/", {"reserve": "760.00", "reserve_currency": "USD"})
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "submitted" and len(first.json()["approvals"]) == 1
    second = post(trustee2, f"{base}/approve/")
    assert second.status_code == 200, second.content
    body = second.json()
    assert (body["status"], body["reserve"], body["reserve_currency"]) == (
        "approved",
        "760.00",
        "USD",
    )
    assert body["funds"] == {
        "balance": "1000.00",
        "balance_currency": "USD",
        "available": "1000.00",  # the page's figure: less what *other* approvals hold
        "available_currency": "USD",
        "dual_approval_above": "500.00",
        "dual_approval_above_currency": "USD",
    }

    paid = post(
        trustee,
        f"{base}/payment/",
        {
            "transfer_reference": "TRF-API-1",
            "value_date": today,
            "sent": "748.53",
            "sent_currency": "USD",
            "payout": "42000.00",
            "payout_currency": "PHP",
            "fee": "12.50",
            "fee_currency": "USD",
        },
    )
    assert paid.status_code == 201, paid.content
    payment = paid.json()
    assert (payment["sent"], payment["fee"], payment["payout"]) == ("748.53", "12.50", "42000.00")
    assert payment["rate"] == "56.109976" and payment["in_transit"] is True
    funds = caseworker.get(f"{base}/").json()["funds"]
    assert (funds["balance"], funds["available"]) == ("238.97", "238.97")  # 1000 - 748.53 - 12.50

    acknowledged = post(
        caseworker,
        f"{base}/acknowledge/",
        {
            "arrived": "41650.00",
            "arrived_currency": "PHP",
            "received_on": today,
            "note": "The intermediary bank deducted PHP 350.00",
        },
    )
    assert acknowledged.status_code == 200, acknowledged.content
    cleared = acknowledged.json()
    assert (cleared["arrived"], cleared["shortfall"], cleared["shortfall_currency"]) == (
        "41650.00",
        "350.00",
        "PHP",
    )
    assert cleared["in_transit"] is False

    shown = caseworker.get(f"{base}/").json()
    assert shown["status"] == "acknowledged" and shown["waits_for"] == ""
    assert [e["action"] for e in shown["events"]] == [
        "drafted",
        "document_invoice",
        "submitted",
        "first_approval",
        "approved",
        "paid",
        "acknowledged",
    ]
    assert [a["trustee"] for a in shown["approvals"]] == [w.trustee.username, w.trustee2.username]
    assert shown["payment"]["arrived"] == "41650.00" and shown["funds"]["balance"] == "238.97"
    download = caseworker.get(shown["documents"][0]["download"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment")
    listed = caseworker.get("/api/v1/payments/").json()["results"]
    assert [p["transfer_reference"] for p in listed] == ["TRF-API-1"]
    assert ledger_violations(trust_id=w.trust.pk).ok


def test_a_returned_transfer_credits_the_beneficiary(world: World) -> None:
    w = world
    request = submitted(w, amount="100.00")
    trustee = api(w.trustee)
    base = f"/api/v1/requests/{request.pk}"
    assert post(trustee, f"{base}/approve/").json()["status"] == "approved"
    today = timezone.localdate().isoformat()
    paid = post(
        trustee,
        f"{base}/payment/",
        {
            "transfer_reference": "TRF-API-2",
            "value_date": today,
            "sent": "100.00",
            "sent_currency": "USD",
            "payout": "5600.00",
            "payout_currency": "PHP",
        },
    )
    assert paid.status_code == 201, paid.content
    back = post(
        trustee,
        f"{base}/return/",
        {"returned": "97.25", "returned_currency": "USD", "reason": "Account closed"},
    )
    assert back.status_code == 200, back.content
    assert back.json()["returned"] == "97.25" and back.json()["in_transit"] is False
    shown = trustee.get(f"{base}/").json()
    assert shown["status"] == "returned" and shown["funds"]["balance"] == "997.25"


def test_more_than_is_available_is_refused_with_the_services_code_and_writes_nothing(
    world: World,
) -> None:
    w = world
    request = submitted(w, amount="1200.00")
    trustee = api(w.trustee)
    before = writes(w)
    refused = post(trustee, f"/api/v1/requests/{request.pk}/approve/")
    assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "insufficient_funds"
    assert writes(w) == before
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED and request.reserve_minor is None


def test_a_draft_in_another_currency_or_without_one_is_refused(world: World) -> None:
    w = world
    caseworker = api(w.caseworker)
    before = writes(w)
    wrong = post(caseworker, "/api/v1/requests/", draft_body(w, amount_currency="EUR"))
    assert wrong.status_code == 400 and wrong.json()["code"] == "currency_mismatch"
    assert "amount" in wrong.json()["errors"]
    missing = post(caseworker, "/api/v1/requests/", draft_body(w, amount_currency=None))
    assert missing.status_code == 400 and "amount_currency" in missing.json()["errors"]
    decimals = post(caseworker, "/api/v1/requests/", draft_body(w, amount="10.001"))
    assert decimals.status_code == 400 and decimals.json()["code"] == "bad_amount"
    assert writes(w) == before


def test_a_rejection_or_cancellation_without_a_reason_is_refused(world: World) -> None:
    w = world
    request = submitted(w)
    trustee, caseworker = api(w.trustee), api(w.caseworker)
    before = writes(w)
    for step, client in (("reject", trustee), ("cancel", caseworker)):
        refused = post(client, f"/api/v1/requests/{request.pk}/{step}/", {"reason": " "})
        assert refused.status_code == 400 and "reason" in refused.json()["errors"], step
    assert writes(w) == before
    rejected = post(trustee, f"/api/v1/requests/{request.pk}/reject/", {"reason": "No quote"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["events"][-1]["reason"] == "No quote"


def test_an_upload_that_is_not_a_pdf_jpeg_or_png_is_refused(world: World) -> None:
    w = world
    request = submitted(w)
    script = SimpleUploadedFile(
        "invoice.pdf", b"#!/bin/sh\necho hello\n", content_type="application/pdf"
    )
    refused = api(w.caseworker).post(
        f"/api/v1/requests/{request.pk}/documents/", {"kind": "invoice", "file": script}
    )
    assert refused.status_code == 400 and refused.json()["code"] == "bad_type"
    assert not RequestDocument.objects.exists()
    as_json = post(
        api(w.caseworker), f"/api/v1/requests/{request.pk}/documents/", {"kind": "quote"}
    )
    assert as_json.status_code == 415


def test_another_partners_caseworker_finds_none_of_it(world: World) -> None:
    w = world
    request = submitted(w, amount="100.00")
    trustee = api(w.trustee)
    post(trustee, f"/api/v1/requests/{request.pk}/approve/")
    post(
        trustee,
        f"/api/v1/requests/{request.pk}/payment/",
        {
            "transfer_reference": "TRF-API-3",
            "value_date": timezone.localdate().isoformat(),
            "sent": "100.00",
            "sent_currency": "USD",
            "payout": "5600.00",
            "payout_currency": "PHP",
        },
    )
    invoice = SimpleUploadedFile("invoice.pdf", PDF, content_type="application/pdf")
    document = api(w.caseworker).post(
        f"/api/v1/requests/{request.pk}/documents/", {"kind": "invoice", "file": invoice}
    )
    assert document.status_code == 201, document.content
    payment = Payment.objects.get()
    stranger = api(other_caseworker(w))
    before = writes(w)
    base = f"/api/v1/requests/{request.pk}"
    for url in (
        f"{base}/",
        f"/api/v1/documents/{document.json()['uid']}/",
        f"/api/v1/payments/{payment.pk}/",
        f"/api/v1/partners/{w.partner.pk}/",
    ):
        found = stranger.get(url)
        assert found.status_code == 404 and found["Content-Type"] == "application/problem+json", url
    for step in ("submit", "approve", "reject", "cancel", "payment", "acknowledge", "return"):
        assert post(stranger, f"{base}/{step}/", {"reason": "x"}).status_code == 404, step
    upload = SimpleUploadedFile("proof.pdf", clean_pdf("proof"), content_type="application/pdf")
    assert stranger.post(f"{base}/documents/", {"kind": "proof", "file": upload}).status_code == 404
    theirs = post(
        stranger, "/api/v1/requests/", draft_body(w, amount="1.00", amount_currency="USD")
    )
    assert theirs.status_code == 404  # MV-1 is not in their partner's care
    for listing in ("/api/v1/requests/", "/api/v1/payments/"):
        assert stranger.get(listing).json()["results"] == [], listing
    assert [p["id"] for p in stranger.get("/api/v1/partners/").json()["results"]] == [
        w.other_partner.pk
    ]
    assert writes(w) == before


def test_an_auditor_and_a_read_only_token_cannot_write(world: World) -> None:
    w = world
    request = submitted(w, amount="100.00")
    auditor = api(person("api-auditor", AUDITOR, w.trust))
    reader, trustee_reader = api(w.caseworker, scope="read"), api(w.trustee, scope="read")
    before = writes(w)
    refused = post(auditor, f"/api/v1/requests/{request.pk}/approve/")
    assert refused.status_code == 403 and refused.json()["code"] == "not_trustee"
    refused = post(auditor, "/api/v1/requests/", draft_body(w))
    assert refused.status_code == 403 and refused.json()["code"] == "not_caseworker"
    refused = post(auditor, "/api/v1/partners/", {"name": "Example Care Partner", "country": "PH"})
    assert refused.status_code == 403 and refused.json()["code"] == "not_trustee"
    assert auditor.get(f"/api/v1/requests/{request.pk}/").status_code == 200  # reads, though
    refused = post(reader, "/api/v1/requests/", draft_body(w))
    assert refused.status_code == 403 and refused.json()["code"] == "token_read_only"
    refused = post(trustee_reader, f"/api/v1/requests/{request.pk}/approve/")
    assert refused.status_code == 403 and refused.json()["code"] == "token_read_only"
    assert writes(w) == before


def test_a_draft_replayed_with_its_key_is_one_request(world: World) -> None:
    w = world
    caseworker = api(w.caseworker)
    body = draft_body(w)
    first = post(caseworker, "/api/v1/requests/", body, HTTP_IDEMPOTENCY_KEY="draft-1")
    again = post(caseworker, "/api/v1/requests/", body, HTTP_IDEMPOTENCY_KEY="draft-1")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content and again["Idempotent-Replayed"] == "true"
    assert DisbursementRequest.objects.count() == 1
    other = post(
        caseworker,
        "/api/v1/requests/",
        {**body, "amount": "41000.00"},
        HTTP_IDEMPOTENCY_KEY="draft-1",
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert DisbursementRequest.objects.count() == 1
    # Without a key each call is its own draft.
    post(caseworker, "/api/v1/requests/", body)
    assert DisbursementRequest.objects.count() == 2
    assert IdempotencyRecord.objects.filter(key="draft-1").count() == 1


def test_empty_steps_on_an_approved_request_change_nothing(world: World) -> None:
    """Every step POSTed empty by everyone who may see the request is refused or is a retry."""
    w = world
    request = submitted(w, amount="100.00")
    post(api(w.trustee), f"/api/v1/requests/{request.pk}/approve/")
    clients = [api(u) for u in (w.caseworker, w.trustee, w.trustee2)]
    before = writes(w)
    steps = ("submit", "approve", "reject", "cancel", "payment", "acknowledge", "return")
    for client in clients:
        for step in steps:
            assert post(client, f"/api/v1/requests/{request.pk}/{step}/").status_code in (
                200,
                400,
                403,
            ), step
        assert client.post(f"/api/v1/requests/{request.pk}/documents/", {}).status_code == 400
    request.refresh_from_db()
    assert request.status == Status.APPROVED and writes(w) == before


def test_a_trustee_manages_care_partners_whose_bank_details_never_show(world: World) -> None:
    w = world
    trustee = api(w.trustee)
    created = post(
        trustee,
        "/api/v1/partners/",
        {"name": "Example Care Partner", "country": "ph", "payout_currency": "PHP"},
    )
    assert created.status_code == 201, created.content
    partner = created.json()
    assert (partner["country"], partner["vetting_status"], partner["vetting_current"]) == (
        "PH",
        "pending",
        False,
    )
    base = f"/api/v1/partners/{partner['id']}"
    today = timezone.localdate()
    vetted = post(
        trustee,
        f"{base}/vet/",
        {
            "status": "approved",
            "vetted_on": today.isoformat(),
            "expires_on": (today + timedelta(days=365)).isoformat(),
        },
    )
    assert vetted.status_code == 200 and vetted.json()["vetting_current"] is True
    no_expiry = post(trustee, f"{base}/vet/", {"status": "approved"})
    assert no_expiry.status_code == 400 and no_expiry.json()["code"] == "required"
    payout = post(
        trustee,
        f"{base}/payout/",
        {"currency": "PHP", "bank": "Example Bank", "account_number": "1234-5678-90"},
    )
    assert payout.status_code == 200 and payout.json()["payout_details_on_file"] is True
    assert CarePartner.objects.get(pk=partner["id"]).payout_token
    for response in (payout, trustee.get(f"{base}/"), trustee.get("/api/v1/partners/")):
        assert b"1234-5678-90" not in response.content and b"payout_token" not in response.content
    assert b"1234-5678-90" not in b"".join(
        bytes(e.data) for e in AuditEvent.objects.filter(action="care_partner.payout_set")
    )
    refused = post(api(w.caseworker), f"{base}/vet/", {"status": "suspended"})
    assert refused.status_code == 404  # another partner, to a caseworker
    refused = post(
        api(w.caseworker), f"/api/v1/partners/{w.partner.pk}/vet/", {"status": "suspended"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_trustee"
