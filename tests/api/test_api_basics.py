"""The API's common behaviour, on the beneficiaries resource: tokens (hashed, scoped, expiring,
revocable, attributed in the trail), problem details, idempotent replay, cursor pages."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import TrustFactory, appoint, person
from trust.models import ApiToken, AuditEvent, Beneficiary, IdempotencyRecord
from trust.roles import AUDITOR
from trust.services.people import beneficiary_create
from trust.services.tokens import token_create, token_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    trust = TrustFactory(caption="United States v. Api Example")
    other = TrustFactory(caption="United States v. Other Api")
    for n in range(1, 4):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}")
    beneficiary_create(trust=other, pseudonym="OT-1")
    trustee = appoint(person("api-trustee"), trust)
    auditor = person("api-auditor", AUDITOR, trust)
    return trust, other, trustee, auditor


def api(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def test_a_token_is_stored_hashed_scoped_and_attributed(world) -> None:
    trust, _, trustee, _ = world
    row, raw = token_create(actor=trustee, name="case system", scope="write", days=30)
    assert raw not in {row.digest, row.token_key} and row.digest != raw
    assert not ApiToken.objects.filter(digest__contains=raw).exists()
    client = api(raw)
    listed = client.get("/api/v1/beneficiaries/", {"trust": trust.pk})
    assert listed.status_code == 200
    assert [b["pseudonym"] for b in listed.json()["results"]] == ["MV-3", "MV-2", "MV-1"]
    created = client.post(
        "/api/v1/beneficiaries/",
        {"trust": trust.pk, "pseudonym": "MV-4"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["balance"] == "0.00" and created.json()["balance_currency"] == "USD"
    event = AuditEvent.objects.filter(action="beneficiary.created").order_by("-pk").first()
    actor = json.loads(bytes(event.data))["actor"]
    assert actor["username"] == "api-trustee" and actor["via"] == f"token:{row.token_key}"
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_a_read_only_token_and_an_auditor_cannot_write(world) -> None:
    trust, _, trustee, auditor = world
    _, reader = token_create(actor=trustee, name="reports", scope="read")
    refused = api(reader).post(
        "/api/v1/beneficiaries/",
        {"trust": trust.pk, "pseudonym": "MV-9"},
        content_type="application/json",
    )
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "token_read_only"
    _, audits = token_create(actor=auditor, name="audit scripts", scope="write")
    refused = api(audits).post(
        "/api/v1/beneficiaries/",
        {"trust": trust.pk, "pseudonym": "MV-9"},
        content_type="application/json",
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_trustee"
    assert not Beneficiary.objects.filter(pseudonym="MV-9").exists()


def test_expired_and_revoked_tokens_and_no_token_are_refused(world) -> None:
    _, _, trustee, _ = world
    row, raw = token_create(actor=trustee, name="old", scope="read")
    ApiToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert api(raw).get("/api/v1/trusts/").status_code == 401
    row, raw = token_create(actor=trustee, name="revoked", scope="read")
    assert api(raw).get("/api/v1/trusts/").status_code == 200
    token_revoke(actor=trustee, token=row)
    response = api(raw).get("/api/v1/trusts/")
    assert response.status_code == 401 and response.json()["code"] in {
        "authentication_failed",
        "not_authenticated",
    }
    assert Client().get("/api/v1/trusts/").status_code in (401, 403)
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_another_trusts_beneficiary_is_not_found(world) -> None:
    _, other, trustee, _ = world
    _, raw = token_create(actor=trustee, name="x", scope="write")
    theirs = Beneficiary.objects.get(trust=other)
    assert api(raw).get(f"/api/v1/beneficiaries/{theirs.pk}/").status_code == 404
    created = api(raw).post(
        "/api/v1/beneficiaries/",
        {"trust": other.pk, "pseudonym": "OT-2"},
        content_type="application/json",
    )
    assert created.status_code == 404 and created["Content-Type"] == "application/problem+json"
    assert "OT-1" not in api(raw).get("/api/v1/beneficiaries/").content.decode()


def test_bad_input_is_a_problem_with_field_errors_and_writes_nothing(world) -> None:
    trust, _, trustee, _ = world
    _, raw = token_create(actor=trustee, name="x", scope="write")
    before = Beneficiary.objects.count()
    missing = api(raw).post(
        "/api/v1/beneficiaries/", {"trust": trust.pk}, content_type="application/json"
    )
    assert missing.status_code == 400 and "pseudonym" in missing.json()["errors"]
    duplicate = api(raw).post(
        "/api/v1/beneficiaries/",
        {"trust": trust.pk, "pseudonym": "MV-1"},
        content_type="application/json",
    )
    body = duplicate.json()
    assert duplicate.status_code == 400 and body["code"] != "invalid" and body["status"] == 400
    junk = api(raw).post("/api/v1/beneficiaries/", "{not json", content_type="application/json")
    assert junk.status_code == 400 and junk["Content-Type"] == "application/problem+json"
    assert Beneficiary.objects.count() == before


def test_an_idempotency_key_replays_the_first_response_and_refuses_another_body(world) -> None:
    trust, _, trustee, _ = world
    _, raw = token_create(actor=trustee, name="x", scope="write")
    client = api(raw)
    body = {"trust": trust.pk, "pseudonym": "MV-7"}
    first = client.post(
        "/api/v1/beneficiaries/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = client.post(
        "/api/v1/beneficiaries/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == again.status_code == 201
    assert first.content == again.content and again["Idempotent-Replayed"] == "true"
    assert Beneficiary.objects.filter(pseudonym="MV-7").count() == 1
    other = client.post(
        "/api/v1/beneficiaries/",
        {**body, "pseudonym": "MV-8"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert not Beneficiary.objects.filter(pseudonym="MV-8").exists()
    # A refused call keeps nothing, its key neither: corrected, the key works.
    bad = client.post(
        "/api/v1/beneficiaries/",
        {"trust": trust.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )
    assert bad.status_code == 400 and not IdempotencyRecord.objects.filter(key="k-2").exists()


def test_lists_page_with_a_cursor(world) -> None:
    _, _, trustee, _ = world
    _, raw = token_create(actor=trustee, name="x", scope="read")
    first = api(raw).get("/api/v1/beneficiaries/", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = api(raw).get(first["next"]).json()
    assert len(second["results"]) == 1 and not second["next"]


def test_the_schema_and_the_docs_are_served(world) -> None:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/v1/beneficiaries/" in schema.content.decode()
    docs = Client().get("/api/docs/").content.decode()
    assert "redoc.standalone.js" in docs and "googleapis" not in docs  # nothing from elsewhere
    assert Client().get("/api/swagger/").status_code == 200


def test_a_token_and_an_address_are_throttled_with_a_problem_and_retry_after(
    world, monkeypatch
) -> None:
    from django.core.cache import cache

    from trust.api.throttles import AddressRateThrottle, TokenRateThrottle

    cache.clear()
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    monkeypatch.setattr(AddressRateThrottle, "THROTTLE_RATES", {"address": "5/min"})
    _, _, trustee, auditor = world
    _, first = token_create(actor=trustee, name="busy", scope="read")
    _, second = token_create(actor=auditor, name="other", scope="read")
    answers = [api(first).get("/api/v1/trusts/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = api(first).get("/api/v1/trusts/")
    assert limited["Content-Type"] == "application/problem+json"
    assert limited.json()["code"] == "throttled" and int(limited["Retry-After"]) > 0
    # Another token has its own count, until the address's count (5 a minute) runs out.
    assert api(second).get("/api/v1/trusts/").status_code == 429  # 6th call from this address
    cache.clear()
    assert api(second).get("/api/v1/trusts/").status_code == 200


def test_ids_no_row_can_have_are_not_found_or_refused_never_a_server_error(world) -> None:
    _, _, trustee, _ = world
    _, raw = token_create(actor=trustee, name="x", scope="read")
    huge = "9" * 30
    for url in (
        f"/api/v1/beneficiaries/{huge}/",
        f"/api/v1/trusts/{huge}/",
        f"/api/v1/accounts/{huge}/postings/",
        f"/api/v1/audit/events/{huge}/",
        f"/api/v1/requests/{huge}/",
    ):
        response = api(raw).get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/problem+json", url
    for url in ("/api/v1/beneficiaries/", "/api/v1/reports/", "/api/v1/appointments/"):
        response = api(raw).get(url, {"trust": huge})
        assert response.status_code == 400 and "trust" in response.json()["errors"], url
