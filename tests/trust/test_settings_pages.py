"""A superuser creates a trust (and then appoints); its trustee closes a period (never backwards),
sets the two-approval threshold, who bears fees and care-plan budgets."""

from __future__ import annotations

import json
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


def test_a_trustee_changes_the_terms_and_the_trail_says_what_changed(w: World) -> None:
    from trust.models import AuditEvent

    trustee = client_for(w.trustee)
    url = reverse("trust-edit", args=[w.trust.pk])
    page = trustee.get(url).content.decode()
    assert w.trust.case_number in page and "Age of majority" in page
    data = {
        "caption": "United States v. Renamed Example",
        "court": w.trust.court,
        "case_number": w.trust.case_number,
        "majority_age": "21",
        "time_zone": "Asia/Manila",
    }
    assert trustee.post(url, data).status_code == 302
    w.trust.refresh_from_db()
    assert (w.trust.caption, w.trust.majority_age, w.trust.time_zone) == (
        "United States v. Renamed Example",
        21,
        "Asia/Manila",
    )
    event = AuditEvent.objects.filter(action="trust.updated").get()
    changes = json.loads(bytes(event.data))["changes"]
    assert set(changes) == {"caption", "majority_age", "time_zone"}
    assert changes["time_zone"] == {"before": "UTC", "after": "Asia/Manila"}
    # Saved unchanged: nothing written.
    assert trustee.post(url, data).status_code == 302
    assert AuditEvent.objects.filter(action="trust.updated").count() == 1
    # The trust's pages now show its zone.
    assert (
        "times in Asia/Manila"
        in trustee.get(reverse("trust-detail", args=[w.trust.pk])).content.decode()
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("caption", "  ", "This field is required"),
        ("majority_age", "13", "greater than or equal to 14"),
        ("majority_age", "eighteen", "whole number"),
        ("time_zone", "Mars/Olympus", "not one of the available choices"),
    ],
)
def test_bad_terms_are_refused_and_kept_and_change_nothing(
    w: World, field: str, value: str, message: str
) -> None:
    from trust.models import AuditEvent

    trustee = client_for(w.trustee)
    before = Trust.objects.values().get(pk=w.trust.pk)
    data = {
        "caption": "Kept caption",
        "court": w.trust.court,
        "case_number": w.trust.case_number,
        "majority_age": "18",
        "time_zone": "UTC",
        field: value,
    }
    response = trustee.post(reverse("trust-edit", args=[w.trust.pk]), data)
    body = response.content.decode()
    assert response.status_code == 400 and message in body
    assert "Kept caption" in body or field == "caption"
    assert Trust.objects.values().get(pk=w.trust.pk) == before
    assert not AuditEvent.objects.filter(action="trust.updated").exists()


def test_the_terms_service_refuses_who_may_not_and_what_is_not_a_term(w: World) -> None:
    from django.core.exceptions import ValidationError

    from trust.services.trusts import trust_update

    with pytest.raises(ValidationError, match="Only a trustee"):
        trust_update(trust=w.trust, actor=w.caseworker, caption="Taken over")
    with pytest.raises(ValidationError, match="Not a term"):
        trust_update(trust=w.trust, actor=w.trustee, base_currency="EUR")
    with pytest.raises(ValidationError, match="not a time zone"):
        trust_update(trust=w.trust, actor=w.trustee, time_zone="Nowhere/City")
    w.trust.refresh_from_db()
    assert w.trust.caption != "Taken over" and w.trust.base_currency == "USD"


def test_a_trusts_pages_show_times_in_its_zone(w: World) -> None:
    from trust.services.trusts import trust_update

    trust_update(trust=w.trust, actor=w.trustee, time_zone="Asia/Manila")
    trustee = client_for(w.trustee)
    assert (
        "times in Asia/Manila"
        in trustee.get(reverse("journal", args=[w.trust.pk])).content.decode()
    )
    # A page about no one trust is in the installation's zone again (nothing leaks across requests).
    assert "times in UTC" in trustee.get(reverse("report-list")).content.decode()
