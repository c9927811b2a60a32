"""The order pages: a trustee records an order from a CSV of its lines, checked first (nothing
written; the bad row named) and recorded exactly as checked; an amended judgment keeps the first."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import TrustFactory, appoint, person
from tests.trust.test_imports import CASE, COURT, D1, D2, EXAMPLES
from trust.models import OrderLine, RestitutionOrder
from trust.services.people import beneficiary_create, defendant_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(settings, tmp_path) -> Any:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    trust = TrustFactory()
    defendant_create(trust=trust, name=D1)
    defendant_create(trust=trust, name=D2)
    for n in (1, 2, 3):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}")
    trustee = Client()
    trustee.force_login(appoint(person("trustee-orders"), trust))
    return trust, trustee


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("lines.csv", text.encode(), content_type="text/csv")


def judgment(text: str, total: str = "17500.00") -> dict[str, Any]:
    return {
        "file": upload(text),
        "court": COURT,
        "case_number": CASE,
        "judgment_date": "2025-03-01",
        "total_0": total,
        "total_1": "USD",
        "document_reference": "ECF 88",
        "reason": "",
        "check": "1",
    }


def test_an_order_is_checked_then_recorded_as_checked(setup) -> None:
    trust, trustee = setup
    url = reverse("order-import", args=[trust.pk])
    checked = trustee.post(url, judgment((EXAMPLES / "order_lines.csv").read_text()))
    assert checked.status_code == 200
    page = " ".join(checked.content.decode().split())
    assert "3 line(s) would be recorded" in page and "10,000.00 USD" in page
    assert not RestitutionOrder.objects.exists()  # the check wrote nothing
    done = trustee.post(url, {"record": "1", "sha256": checked.context["sha256"]})
    order = RestitutionOrder.objects.get()
    assert done.status_code == 302 and done["Location"].endswith(f"/orders/{order.pk}/")
    assert OrderLine.objects.filter(order=order).count() == 3


def test_a_bad_row_or_a_wrong_total_is_named_and_nothing_written(setup) -> None:
    trust, trustee = setup
    url = reverse("order-import", args=[trust.pk])
    bad = "beneficiary,amount,currency,defendants,liability\nMV-9,100.00,USD,Nobody Known,\n"
    response = trustee.post(url, judgment(bad, total="100.00"))
    assert response.status_code == 400 and "row 2" in response.content.decode()
    wrong_total = trustee.post(
        url, judgment((EXAMPLES / "order_lines.csv").read_text(), total="1.00")
    )
    assert wrong_total.status_code == 400
    assert not RestitutionOrder.objects.exists() and not OrderLine.objects.exists()


def test_only_a_trustee_records_orders(setup) -> None:
    trust, _ = setup
    auditor = Client()
    auditor.force_login(person("auditor-orders", "auditor", trust))
    assert auditor.get(reverse("order-import", args=[trust.pk])).status_code == 403
    assert auditor.get(reverse("order-list", args=[trust.pk])).status_code == 200


def test_every_bad_line_of_an_order_file_is_shown(setup) -> None:
    trust, trustee = setup
    url = reverse("order-import", args=[trust.pk])
    bad = (
        "beneficiary,amount,currency,defendants,liability\n"
        "MV-9,100.00,USD,Nobody,\n"
        f"MV-1,-5,USD,{D1},\n"
    )
    response = trustee.post(url, judgment(bad, total="100.00"))
    page = response.content.decode()
    assert response.status_code == 400
    assert "row 2" in page and "row 3" in page
    assert not RestitutionOrder.objects.exists()
