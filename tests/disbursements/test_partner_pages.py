"""The care partners' pages: trustees add and vet partners, record payout details (encrypted, never
shown back) and place caseworkers; a caseworker sees their own partner only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from disbursements.models import CarePartner, Caseworker
from tests.disbursements.test_requests import World, make_world
from tests.factories import person

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(settings, tmp_path) -> World:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return make_world()


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_trustee_adds_vets_and_pays_a_partner_into_an_encrypted_account(w: World) -> None:
    trustee = client_for(w.trustee)
    response = trustee.post(
        reverse("partner-new"),
        {"name": "Invented Shelter Foundation", "country": "PH", "payout_currency": "PHP"},
    )
    partner = CarePartner.objects.get(name="Invented Shelter Foundation")
    assert response.status_code == 302
    today = timezone.localdate()
    vet = {
        "status": "approved",
        "vetted_on": today.isoformat(),
        "expires_on": (today + timedelta(days=365)).isoformat(),
    }
    assert trustee.post(reverse("partner-vet", args=[partner.pk]), vet).status_code == 302
    payout = {"currency": "PHP", "bank": "Invented Bank", "account_number": "000987654321"}
    assert trustee.post(reverse("partner-payout", args=[partner.pk]), payout).status_code == 302
    page = trustee.get(reverse("partner-detail", args=[partner.pk])).content.decode()
    assert "current" in page and "000987654321" not in page
    partner.refresh_from_db()
    assert "000987654321" not in partner.payout_token


def test_a_caseworker_is_placed_and_then_sees_only_that_partner(w: World) -> None:
    newcomer = person("new-caseworker")
    trustee = client_for(w.trustee)
    url = reverse("partner-caseworker", args=[w.other_partner.pk])
    assert trustee.post(url, {"username": "new-caseworker"}).status_code == 302
    assert Caseworker.objects.get(user=newcomer).partner == w.other_partner
    mine = client_for(newcomer)
    listing = mine.get(reverse("partner-list")).content.decode()
    assert w.other_partner.name in listing and w.partner.name not in listing
    assert mine.get(reverse("partner-detail", args=[w.partner.pk])).status_code == 404


def test_a_caseworker_may_not_vet_even_their_own_partner(w: World) -> None:
    caseworker = client_for(w.caseworker)
    today = timezone.localdate().isoformat()
    response = caseworker.post(
        reverse("partner-vet", args=[w.partner.pk]),
        {"status": "suspended", "vetted_on": today, "expires_on": today},
    )
    assert response.status_code == 400
    w.partner.refresh_from_db()
    assert w.partner.vetting_status == "approved"
