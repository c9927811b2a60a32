"""A superuser creates a trust (and then appoints); its trustee closes a period (never backwards),
sets the two-approval threshold, who bears fees and care-plan budgets."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from moneyed import Money

from disbursements.models import Budget
from disbursements.services import policy_for
from tests.disbursements.test_requests import World, make_world
from tests.factories import person
from trust.models import Trust

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(settings, tmp_path) -> World:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return make_world()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_superuser_creates_a_trust_then_appoints_its_trustees(w: World) -> None:
    root = client_for(person("root", is_superuser=True, is_staff=True))
    data = {
        "caption": "United States v. Invented Newcase",
        "court": "Invented District Court",
        "case_number": "1:26-cr-00001",
        "base_currency": "USD",
    }
    response = root.post(reverse("trust-new"), data)
    trust = Trust.objects.get(case_number="1:26-cr-00001")
    assert response.status_code == 302 and response["Location"].endswith(
        f"/trusts/{trust.pk}/appointments/"
    )
    assert root.post(reverse("trust-new"), data).status_code == 400  # the same case again
    assert client_for(w.trustee).get(reverse("trust-new")).status_code == 403


def test_a_period_closes_and_never_reopens(w: World) -> None:
    trustee = client_for(w.trustee)
    url = reverse("trust-close", args=[w.trust.pk])
    assert trustee.post(url, {"lock_date": "2026-01-31"}).status_code == 302
    w.trust.refresh_from_db()
    assert w.trust.lock_date == date(2026, 1, 31)
    back = trustee.post(url, {"lock_date": "2025-12-31"})
    assert back.status_code == 400 and "cannot move back" in back.content.decode()


def test_threshold_fees_and_a_budget(w: World) -> None:
    trustee = client_for(w.trustee)
    base = [w.trust.pk]
    threshold = {"threshold_0": "250.00", "threshold_1": "USD"}
    assert trustee.post(reverse("policy-threshold", args=base), threshold).status_code == 302
    assert policy_for(w.trust).dual_approval_minor == 250_00
    fees = {"bearer": "administration"}
    assert trustee.post(reverse("policy-fees", args=base), fees).status_code == 302
    budget = {
        "pseudonym": "MV-1",
        "category": "education",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "amount_0": "500.00",
        "amount_1": "USD",
    }
    assert trustee.post(reverse("budget-new", args=base), budget).status_code == 302
    assert Budget.objects.get().amount == Money("500.00", "USD")
    unknown = trustee.post(reverse("budget-new", args=base), {**budget, "pseudonym": "MV-99"})
    assert unknown.status_code == 400 and Budget.objects.count() == 1


def test_defendants_are_recorded_and_an_implicated_persons_name_is_never_shown(w: World) -> None:
    from trust.models import Defendant, ImplicatedPerson

    trustee = client_for(w.trustee)
    base = [w.trust.pk]
    name = {"name": "Invented Defendant Three", "reference": ""}
    assert trustee.post(reverse("defendant-new", args=base), name).status_code == 302
    assert Defendant.objects.filter(trust=w.trust, name="Invented Defendant Three").exists()
    secret = "Invented Uncle Name"
    implicated = {"reference": "Facilitator 1", "name": secret, "note": ""}
    assert trustee.post(reverse("implicated-new", args=base), implicated).status_code == 302
    page = trustee.get(reverse("people", args=base)).content.decode()
    assert "Facilitator 1" in page and secret not in page
    assert secret not in ImplicatedPerson.objects.get().token
    auditor = client_for(person("auditor-people", "auditor", w.trust))
    refused = auditor.post(reverse("defendant-new", args=base), {"name": "Someone Else"})
    assert refused.status_code == 400
    assert not Defendant.objects.filter(name="Someone Else").exists()
