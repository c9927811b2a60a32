"""The disbursements admin only looks, and never shows an encrypted field or its plain text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from disbursements.models import CarePartner, DisbursementRequest
from disbursements.services import Payee, care_partner_set_payout, request_approve
from tests.disbursements.test_requests import make_world, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(settings: Any, tmp_path: Path) -> Client:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return Client()


def signed_in_trustee(client: Client, w: Any) -> None:
    """The world's trustee, with the admin's staff flag: the admin shows a trustee their trust."""
    w.trustee.is_staff = True
    w.trustee.save(update_fields=["is_staff"])
    client.force_login(w.trustee)


def test_requests_and_partners_are_shown_read_only_without_secrets(admin_client_: Client) -> None:
    w = make_world()
    signed_in_trustee(admin_client_, w)
    care_partner_set_payout(
        partner=w.partner,
        actor=w.trustee,
        currency="PHP",
        details={"bank": "Invented Bank", "account_number": "000123456789"},
    )
    request = submitted(
        w, payee=Payee(kind="provider", name="Invented Clinic Owner", court_authorisation="")
    )
    request_approve(request=request, actor=w.trustee)
    pages = [
        "/admin/disbursements/carepartner/",
        f"/admin/disbursements/carepartner/{w.partner.pk}/change/",
        "/admin/disbursements/disbursementrequest/",
        f"/admin/disbursements/disbursementrequest/{request.pk}/change/",
        "/admin/disbursements/caseworker/",
        "/admin/disbursements/budget/",
    ]
    stored = DisbursementRequest.objects.get(pk=request.pk)
    partner = CarePartner.objects.get(pk=w.partner.pk)
    for page in pages:
        response = admin_client_.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for secret in (
            "000123456789",
            "Invented Clinic Owner",
            partner.payout_token[:20],
            stored.payee_token[:20],
            stored.payee_index,
        ):
            assert secret not in html, (page, secret)
    assert "approved" in admin_client_.get(pages[3]).content.decode().lower()
    for page in (
        "/admin/disbursements/disbursementrequest/add/",
        "/admin/disbursements/carepartner/add/",
    ):
        assert admin_client_.get(page).status_code == 403
    response = admin_client_.post(pages[3], {"status": "paid"})
    assert response.status_code == 403
    assert DisbursementRequest.objects.get(pk=request.pk).status == "approved"


def test_payments_are_listed_read_only_with_their_figures(admin_client_: Client) -> None:
    from django.utils import timezone
    from moneyed import Money

    from disbursements.models import Payment
    from disbursements.services.payments import Transfer, payment_record

    w = make_world()
    signed_in_trustee(admin_client_, w)
    request = request_approve(request=submitted(w), actor=w.trustee)
    payment = payment_record(
        request=request,
        actor=w.trustee,
        transfer=Transfer(
            sent=Money("300.00", "USD"),
            payout=Money("16800.00", "PHP"),
            fee=Money("4.00", "USD"),
            value_date=timezone.localdate(),
            reference="ADMIN-TRF-1",
        ),
    )
    listing = admin_client_.get("/admin/disbursements/payment/").content.decode()
    assert "ADMIN-TRF-1" in listing and "16,800.00 PHP" in listing and "56.000000" in listing
    page = f"/admin/disbursements/payment/{payment.pk}/change/"
    assert "4.00 USD" in admin_client_.get(page).content.decode()
    assert admin_client_.post(page, {"transfer_reference": "X"}).status_code == 403
    assert admin_client_.get("/admin/disbursements/payment/add/").status_code == 403
    assert Payment.objects.get().transfer_reference == "ADMIN-TRF-1"
