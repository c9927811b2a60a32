"""The beneficiary pages: a trustee adds a child by pseudonym, places them with a partner, records
identifying details (encrypted, never shown back) and reveals them only with a purpose, each look
recorded; an auditor never sees them, the child's caseworker only through a recorded reveal."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from disbursements.services import caseworker_add
from tests.disbursements.test_requests import World, make_world
from tests.factories import person
from trust.models import AuditEvent, Beneficiary, BeneficiaryIdentity, IdentityReveal
from trust.roles import AUDITOR

pytestmark = pytest.mark.django_db
NAME = "Invented Legal Name For Test"


@pytest.fixture
def w(settings, tmp_path) -> World:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return make_world()


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def test_a_trustee_adds_a_beneficiary_with_a_sub_ledger(w: World) -> None:
    trustee = client_for(w.trustee)
    url = reverse("beneficiary-new", args=[w.trust.pk])
    data = {"pseudonym": "MV-7", "kind": "individual", "country": "PH", "care_partner": ""}
    response = trustee.post(url, data)
    child = Beneficiary.objects.get(pseudonym="MV-7")
    assert response.status_code == 302
    assert child.accounts.count() == 1
    again = trustee.post(url, data)  # the pseudonym is taken: refused, typed data kept
    assert again.status_code == 400 and "MV-7" in text(again)


def test_identifying_details_are_recorded_and_shown_only_through_a_recorded_reveal(
    w: World,
) -> None:
    trustee = client_for(w.trustee)
    base = [w.trust.pk, w.mv1.pk]
    response = trustee.post(reverse("beneficiary-identity", args=base), {"legal_name": NAME})
    assert response.status_code == 302
    assert NAME not in text(trustee.get(reverse("beneficiary-detail", args=base)))
    assert NAME not in BeneficiaryIdentity.objects.get().token  # encrypted
    no_reason = trustee.post(reverse("beneficiary-reveal", args=base), {"purpose": ""})
    assert no_reason.status_code == 400 and NAME not in text(no_reason)
    shown = trustee.post(
        reverse("beneficiary-reveal", args=base), {"purpose": "Court asked to confirm identity"}
    )
    assert shown.status_code == 200 and NAME in text(shown)
    assert shown["Cache-Control"] == "private, no-store"
    reveal = IdentityReveal.objects.get()
    assert reveal.actor == w.trustee and "confirm identity" in reveal.purpose
    assert AuditEvent.objects.filter(action__contains="reveal").exists()
    assert NAME not in str(list(AuditEvent.objects.values_list("data", flat=True)))


def test_an_empty_identity_form_replaces_nothing(w: World) -> None:
    trustee = client_for(w.trustee)
    base = [w.trust.pk, w.mv1.pk]
    trustee.post(reverse("beneficiary-identity", args=base), {"legal_name": NAME})
    token = BeneficiaryIdentity.objects.get().token
    assert trustee.post(reverse("beneficiary-identity", args=base), {}).status_code == 400
    assert BeneficiaryIdentity.objects.get().token == token


def test_an_auditor_never_sees_or_reveals_identifying_details(w: World) -> None:
    client_for(w.trustee).post(
        reverse("beneficiary-identity", args=[w.trust.pk, w.mv1.pk]), {"legal_name": NAME}
    )
    auditor = client_for(person("auditor-ids", AUDITOR, w.trust))
    base = [w.trust.pk, w.mv1.pk]
    page = auditor.get(reverse("beneficiary-detail", args=base))
    assert page.status_code == 200 and NAME not in text(page)
    assert "Show them" not in text(page)
    refused = auditor.post(reverse("beneficiary-reveal", args=base), {"purpose": "Curious!"})
    assert refused.status_code == 400 and NAME not in text(refused)
    assert not IdentityReveal.objects.exists()


def test_the_childs_caseworker_sees_the_details_only_through_a_recorded_reveal(w: World) -> None:
    client_for(w.trustee).post(
        reverse("beneficiary-identity", args=[w.trust.pk, w.mv1.pk]), {"legal_name": NAME}
    )
    caseworker = client_for(w.caseworker)
    base = [w.trust.pk, w.mv1.pk]
    page = caseworker.get(reverse("beneficiary-detail", args=base))
    assert page.status_code == 200 and NAME not in text(page) and "Show them" in text(page)
    no_reason = caseworker.post(reverse("beneficiary-reveal", args=base), {"purpose": ""})
    assert no_reason.status_code == 400 and NAME not in text(no_reason)
    assert not IdentityReveal.objects.exists()


def test_another_partners_child_is_not_found_for_a_caseworker(w: World) -> None:
    stranger = person("stranger-ids")
    caseworker_add(partner=w.other_partner, user=stranger, actor=w.trustee)
    url = reverse("beneficiary-detail", args=[w.trust.pk, w.mv1.pk])
    assert client_for(stranger).get(url).status_code == 404


def test_a_trustee_places_a_child_with_another_partner(w: World) -> None:
    url = reverse("beneficiary-edit", args=[w.trust.pk, w.mv2.pk])
    response = client_for(w.trustee).post(url, {"country": "PH", "care_partner": str(w.partner.pk)})
    assert response.status_code == 302
    w.mv2.refresh_from_db()
    assert w.mv2.care_partner == w.partner
