"""``manage.py demo_disbursements``: the demo partners vetted, the caseworker placed, requests in
each state; a second run changes nothing; refused outside the demo."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from moneyed import Money

from disbursements.models import (
    Approval,
    CarePartner,
    Caseworker,
    DisbursementRequest,
    Payment,
    RequestEvent,
)
from disbursements.services import vetting_current
from trust.demo import seed_demo_trust
from trust.invariants import ledger_violations
from trust.models import JournalEntry

pytestmark = pytest.mark.django_db


def state() -> dict[str, Any]:
    return {
        "requests": sorted(DisbursementRequest.objects.values_list("idempotency_key", "status")),
        "approvals": Approval.objects.count(),
        "events": RequestEvent.objects.count(),
        "entries": JournalEntry.objects.count(),
        "caseworkers": list(Caseworker.objects.values_list("user__username", "partner__name")),
    }


def test_demo_disbursements_twice_gives_the_same_demo(settings: Any) -> None:
    settings.DEMO_ALLOWED = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_demo_trust(beneficiaries=4, months=3, seed=7)
    call_command("demo_users", stdout=StringIO())
    call_command("demo_disbursements", stdout=StringIO())
    first = state()
    assert all(vetting_current(p) for p in CarePartner.objects.all())
    assert first["caseworkers"] and first["caseworkers"][0][0] == "caseworker"
    statuses = dict(first["requests"])
    assert statuses.get("demo-1") == "approved"
    assert statuses.get("demo-2") == "submitted"
    assert statuses.get("demo-3") == "rejected"
    assert statuses.get("demo-4") == "acknowledged"  # paid in PHP, with a shortfall
    assert statuses.get("demo-5") == "paid"  # in transit
    # Above the demo threshold: one approval given, the second trustee's awaited.
    assert statuses.get("demo-6") == "submitted"
    waiting = DisbursementRequest.objects.get(idempotency_key="demo-6")
    assert list(waiting.approvals.values_list("trustee__username", flat=True)) == ["trustee"]
    # The two caseworkers work for different partners.
    partners = dict(Caseworker.objects.values_list("user__username", "partner_id"))
    assert partners["caseworker"] != partners["caseworker2"]
    shortfall = Payment.objects.get(request__idempotency_key="demo-4").shortfall
    assert shortfall == Money("250.00", "PHP")
    assert ledger_violations().ok
    call_command("demo_disbursements", stdout=StringIO())
    assert state() == first


def test_demo_disbursements_is_refused_outside_the_demo(settings: Any) -> None:
    settings.DEMO_ALLOWED = False
    with pytest.raises(CommandError, match="demo only"):
        call_command("demo_disbursements", stdout=StringIO())
    assert not DisbursementRequest.objects.exists()


def test_demo_trustee_and_auditor_can_look_in_the_admin_and_the_caseworker_cannot(
    settings: Any, tmp_path: Any
) -> None:
    settings.DEMO_ALLOWED = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    seed_demo_trust(beneficiaries=4, months=3, seed=7)
    call_command("demo_users", stdout=StringIO())
    call_command("demo_disbursements", stdout=StringIO())
    pages = ["/admin/disbursements/disbursementrequest/", "/admin/trust/journalentry/"]
    for username, allowed in (("trustee", True), ("auditor", True), ("caseworker", False)):
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        for page in pages:
            response = client.get(page)
            assert (response.status_code == 200) is allowed, (username, page)
        if allowed:
            page = client.get(pages[0]).content.decode()
            assert "School fees" in page or "Education" in page
            assert client.get("/admin/disbursements/disbursementrequest/add/").status_code == 403
