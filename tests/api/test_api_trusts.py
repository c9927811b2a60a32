"""Trusts and appointments through the API: the same services and rules as the pages."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import TrustFactory, appoint, person
from trust.models import Appointment, Trust
from trust.roles import ADMINISTRATOR, AUDITOR
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db


def client(user, scope: str = "write") -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {token_create(actor=user, name='t', scope=scope)[1]}")


def test_a_system_administrator_creates_a_trust_and_a_trustee_cannot() -> None:
    root = person("api-root", is_superuser=True, is_staff=True)
    data = {
        "caption": "United States v. Api Created",
        "court": "Example District Court",
        "case_number": "1:26-cr-00777",
        "time_zone": "Asia/Manila",
    }
    made = client(root).post("/api/v1/trusts/", data, content_type="application/json")
    assert made.status_code == 201, made.content
    assert made.json()["time_zone"] == "Asia/Manila" and made.json()["base_currency"] == "USD"
    again = client(root).post("/api/v1/trusts/", data, content_type="application/json")
    assert again.status_code == 400 and again.json()["code"] == "duplicate"
    trustee = appoint(person("api-t"), TrustFactory())
    refused = client(trustee).post(
        "/api/v1/trusts/", {**data, "case_number": "x-2"}, content_type="application/json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"
    assert Trust.objects.filter(case_number="x-2").count() == 0


def test_terms_and_the_period_by_a_trustee_only() -> None:
    trust = TrustFactory()
    trustee = appoint(person("api-terms"), trust)
    auditor = person("api-terms-auditor", AUDITOR, trust)
    url = f"/api/v1/trusts/{trust.pk}/"
    changed = client(trustee).patch(url, {"majority_age": 21}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["majority_age"] == 21
    refused = client(auditor).patch(url, {"majority_age": 19}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "not_trustee"
    bad = client(trustee).patch(url, {"time_zone": "Mars/Base"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_time_zone"
    closed = client(trustee).post(
        f"{url}close-period/", {"lock_date": "2026-01-31"}, content_type="application/json"
    )
    assert closed.status_code == 200 and closed.json()["lock_date"] == "2026-01-31"
    back = client(trustee).post(
        f"{url}close-period/", {"lock_date": "2025-01-31"}, content_type="application/json"
    )
    assert back.status_code == 400 and back.json()["code"] == "lock_date_backwards"
    trust.refresh_from_db()
    assert trust.majority_age == 21 and str(trust.lock_date) == "2026-01-31"


def test_administrators_appoint_and_end() -> None:
    trust = TrustFactory()
    admin = person("api-admin", ADMINISTRATOR, trust)
    newcomer = person("api-newcomer")
    made = client(admin).post(
        "/api/v1/appointments/",
        {"trust": trust.pk, "username": "api-newcomer", "role": "auditor"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    ended = client(admin).post(
        f"/api/v1/appointments/{made.json()['id']}/end/", {}, content_type="application/json"
    )
    assert ended.status_code == 200 and ended.json()["ends_on"]
    unknown = client(admin).post(
        "/api/v1/appointments/",
        {"trust": trust.pk, "username": "nobody", "role": "auditor"},
        content_type="application/json",
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_user"
    trustee = appoint(person("api-not-admin"), trust)
    refused = client(trustee).post(
        "/api/v1/appointments/",
        {"trust": trust.pk, "username": newcomer.username, "role": "trustee"},
        content_type="application/json",
    )
    assert refused.status_code == 404  # administering is not theirs: the trust is "not found"
    assert Appointment.objects.filter(user=newcomer).count() == 1
