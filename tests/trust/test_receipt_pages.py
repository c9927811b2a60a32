"""The receipt pages: a trustee records a receipt (shared out at once), imports a CSV after a check
that writes nothing and names the bad row, allocates what was left, reverses with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import TrustFactory, appoint, person
from tests.trust.test_imports import D1, D2, GOOD_ROW, import_example_order, receipt_rows
from trust.models import JournalEntry, Receipt
from trust.roles import AUDITOR
from trust.services.people import beneficiary_create, defendant_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(settings, tmp_path) -> Any:
    """The trust of docs/imports.md with its order recorded, a trustee and an auditor."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    trust = TrustFactory()
    d1 = defendant_create(trust=trust, name=D1)
    defendant_create(trust=trust, name=D2)
    for n in (1, 2, 3):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}")
    import_example_order(trust)
    trustee = Client()
    trustee.force_login(appoint(person("trustee-receipts"), trust))
    auditor = Client()
    auditor.force_login(person("auditor-receipts", AUDITOR, trust))
    return trust, d1, trustee, auditor


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def record(client: Client, trust: Any, **overrides: Any) -> Any:
    data = {
        "received_on": "2025-06-02",
        "amount_0": "100.00",
        "amount_1": "USD",
        "source": "clerk",
        "payer": "",
        "bank_reference": "WIRE-1",
        "memo": "",
        "idempotency_key": "page-receipt-1",
        **overrides,
    }
    return client.post(reverse("receipt-new", args=[trust.pk]), data)


def test_a_receipt_from_a_payer_is_shared_out_at_once(setup) -> None:
    trust, d1, trustee, _ = setup
    response = record(trustee, trust, payer=str(d1.pk))
    receipt = Receipt.objects.get(trust=trust)
    assert response.status_code == 302
    page = text(trustee.get(response["Location"]))
    assert "Receipt of 100.00 USD recorded" in page
    assert "How it was shared" in page and "MV-1" in page
    assert receipt.unallocated_minor == 0


def test_a_bad_receipt_keeps_what_was_typed_and_writes_nothing(setup) -> None:
    trust, _, trustee, _ = setup
    before = JournalEntry.objects.count()
    response = record(trustee, trust, amount_0="100.001", bank_reference="WIRE-KEEP")
    assert response.status_code == 400
    assert "WIRE-KEEP" in text(response)
    assert JournalEntry.objects.count() == before and not Receipt.objects.exists()


def test_an_auditor_reads_receipts_and_may_not_record(setup) -> None:
    trust, d1, trustee, auditor = setup
    record(trustee, trust, payer=str(d1.pk))
    assert auditor.get(reverse("receipt-list", args=[trust.pk])).status_code == 200
    assert auditor.get(reverse("receipt-new", args=[trust.pk])).status_code == 403
    assert "Record a receipt" not in text(auditor.get(reverse("receipt-list", args=[trust.pk])))


def test_unallocated_money_is_allocated_later_to_the_payer_named(setup) -> None:
    trust, d1, trustee, _ = setup
    record(trustee, trust)  # no payer: all unallocated
    receipt = Receipt.objects.get()
    assert receipt.unallocated_minor == 100_00
    url = reverse("receipt-allocate", args=[trust.pk, receipt.pk])
    response = trustee.post(url, {"payer": str(d1.pk), "idempotency_key": "alloc-1"})
    assert response.status_code == 302
    receipt.refresh_from_db()
    assert receipt.unallocated_minor == 0


def test_a_reversal_needs_a_reason(setup) -> None:
    trust, d1, trustee, _ = setup
    record(trustee, trust, payer=str(d1.pk))
    receipt = Receipt.objects.get()
    url = reverse("receipt-reverse", args=[trust.pk, receipt.pk])
    assert trustee.post(url, {"reason": ""}).status_code == 400
    assert trustee.post(url, {"reason": "The cheque bounced"}).status_code == 302
    receipt.refresh_from_db()
    assert receipt.status == Receipt.Status.REVERSED


def _csv(content: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("receipts.csv", content.encode(), content_type="text/csv")


def test_a_csv_with_a_bad_row_is_refused_naming_it_and_writes_nothing(setup) -> None:
    trust, _, trustee, _ = setup
    url = reverse("receipt-import", args=[trust.pk])
    response = trustee.post(
        url, {"file": _csv(receipt_rows(GOOD_ROW, "2025-06-02,-5,USD,clerk,,,,,"))}
    )
    assert response.status_code == 400
    assert "row 3, amount" in text(response)
    assert not Receipt.objects.exists()


def test_a_csv_is_checked_then_recorded_exactly_as_checked(setup) -> None:
    trust, _, trustee, _ = setup
    url = reverse("receipt-import", args=[trust.pk])
    checked = trustee.post(url, {"file": _csv(receipt_rows(GOOD_ROW))})
    assert checked.status_code == 200
    assert "1 receipts would be recorded" in text(checked)
    assert not Receipt.objects.exists()  # the check writes nothing
    sha256 = checked.context["sha256"]
    assert trustee.post(url, {"record": "1", "sha256": "0" * 64}).status_code == 302
    assert not Receipt.objects.exists()  # not what was checked: check again
    done = trustee.post(url, {"record": "1", "sha256": sha256})
    assert done.status_code == 302 and Receipt.objects.filter(trust=trust).count() == 1


def test_every_bad_row_of_a_csv_is_shown_before_anything_is_written(setup) -> None:
    trust, _, trustee, _ = setup
    url = reverse("receipt-import", args=[trust.pk])
    rows = receipt_rows(
        GOOD_ROW,
        "2025-06-02,-5,USD,clerk,,,,,",
        "2025-06-03,10.00,XXX,clerk,,,,,",
        "2099-01-01,10.00,USD,clerk,,,,,",
    )
    response = trustee.post(url, {"file": _csv(rows)})
    page = " ".join(response.content.decode().split())
    assert response.status_code == 400
    assert "row 3, amount" in page and "row 4, currency" in page and "row 5, received_on" in page
    assert not Receipt.objects.exists()
