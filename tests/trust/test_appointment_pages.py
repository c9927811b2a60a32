"""The appointments page: an administrator of the trust appoints and ends appointments; nobody
else finds the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import TrustFactory, appoint, person
from trust import access
from trust.models import Appointment, AuditEvent
from trust.roles import ADMINISTRATOR, AUDITOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    trust = TrustFactory()
    admin = Client()
    admin.force_login(person("admin-page", ADMINISTRATOR, trust))
    return trust, admin


def test_an_administrator_appoints_an_auditor_and_ends_it(setup) -> None:
    trust, admin = setup
    newcomer = person("newcomer")
    url = reverse("appointments", args=[trust.pk])
    today = timezone.localdate()
    response = admin.post(
        url, {"username": "newcomer", "role": AUDITOR, "starts_on": today.isoformat()}
    )
    assert response.status_code == 302
    assert access.roles_in(newcomer, trust) == {AUDITOR}
    appointment = Appointment.objects.get(user=newcomer)
    end = reverse("appointment-end", args=[trust.pk, appointment.pk])
    yesterday = (today - timedelta(days=1)).isoformat()
    field = f"end-{appointment.pk}"  # each row's form has its own field names
    assert admin.post(end, {f"{field}-ends_on": yesterday}).status_code == 400  # before its start
    done = admin.post(end, {f"{field}-ends_on": today.isoformat(), f"{field}-reason": "Term over"})
    assert done.status_code == 302
    assert AuditEvent.objects.filter(action="appointment.ended", trust_id=trust.pk).exists()


def test_an_unknown_user_or_an_overlap_is_refused_on_the_form(setup) -> None:
    trust, admin = setup
    url = reverse("appointments", args=[trust.pk])
    today = timezone.localdate().isoformat()
    unknown = admin.post(url, {"username": "nobody-here", "role": AUDITOR, "starts_on": today})
    assert (
        unknown.status_code == 400 and "No user signs in with that name" in unknown.content.decode()
    )
    appoint(person("twice"), trust, AUDITOR)
    twice = admin.post(url, {"username": "twice", "role": AUDITOR, "starts_on": today})
    assert twice.status_code == 400
    assert Appointment.objects.filter(user__username="twice").count() == 1


def test_a_trustee_does_not_find_the_page(setup) -> None:
    trust, _ = setup
    trustee = Client()
    trustee.force_login(appoint(person("trustee-page"), trust))
    assert trustee.get(reverse("appointments", args=[trust.pk])).status_code == 404
