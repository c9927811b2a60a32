"""The disbursement pages, as their users go through them with the test client: a caseworker asks
for money and attaches an invoice, trustees decide (two above the threshold), a trustee records
the payment, the caseworker says what arrived. Refusals keep what was typed and say why."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from disbursements.models import DisbursementRequest, RequestDocument, Status
from disbursements.services import policy_set_dual_approval
from tests.disbursements.test_requests import World, make_world, submitted
from tests.factories import clean_pdf

pytestmark = pytest.mark.django_db
PDF = clean_pdf()


@pytest.fixture
def w(settings: Any, tmp_path: Any) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    world = make_world()
    world.partner.payout_currency = "USD"  # paid in the trust's currency: simpler forms
    world.partner.save(update_fields=["payout_currency"])
    return world


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def ask(client: Client, w: World, **overrides: str) -> Any:
    data = {
        "beneficiary": str(w.mv1.pk),
        "category": "education",
        "amount_0": "120.00",
        "amount_1": "USD",
        "purpose": "School fees, second term",
        "justification": "",
        "idempotency_key": "page-1",
        "submit": "1",
        **overrides,
    }
    return client.post(reverse("request-new"), data)


def test_a_caseworker_asks_for_money_and_the_trustees_see_it_waiting(w: World) -> None:
    caseworker = signed_in(w.caseworker)
    form = caseworker.get(reverse("request-new"))
    assert form.status_code == 200
    assert "MV-1" in text(form) and "MV-2" not in text(form)  # only their partner's child
    response = ask(caseworker, w)
    made = DisbursementRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{made.pk}/"
    assert made.status == Status.SUBMITTED and made.amount == Money("120.00", "USD")
    page = text(caseworker.get(response["Location"]))
    assert "submitted: the trustees are told" in page
    assert "Waits for a trustee" in page
    waiting = text(signed_in(w.trustee).get(reverse("request-list")))
    assert "Waiting for your decision" in waiting and f"#{made.pk}" in waiting


def test_a_refused_request_keeps_what_was_typed_and_says_why(w: World) -> None:
    caseworker = signed_in(w.caseworker)
    response = ask(caseworker, w, category="other", purpose="Bicycle for the school run")
    assert response.status_code == 400
    page = text(response)
    assert "Bicycle for the school run" in page  # kept
    assert "justification" in page.lower()
    assert not DisbursementRequest.objects.exists()


def test_the_same_form_sent_twice_makes_one_request(w: World) -> None:
    caseworker = signed_in(w.caseworker)
    ask(caseworker, w)
    ask(caseworker, w)
    assert DisbursementRequest.objects.count() == 1


def test_only_caseworkers_get_the_request_form(w: World) -> None:
    assert signed_in(w.trustee).get(reverse("request-new")).status_code == 403


def test_an_invoice_is_attached_and_a_wrong_file_is_refused(w: World) -> None:
    request = submitted(w)
    caseworker = signed_in(w.caseworker)
    url = reverse("request-document-add", args=[request.pk])
    bad = caseworker.post(url, {"kind": "invoice", "file": _upload("notes.pdf", b"not a pdf")})
    assert bad.status_code == 400 and not RequestDocument.objects.exists()
    good = caseworker.post(url, {"kind": "invoice", "file": _upload("invoice.pdf", PDF)})
    assert good.status_code == 302
    document = RequestDocument.objects.get()
    page = text(caseworker.get(reverse("request-detail", args=[request.pk])))
    assert "Invoice: invoice.pdf" in page
    download = signed_in(w.trustee).get(reverse("document-download", args=[document.uid]))
    assert b"".join(download.streaming_content) == PDF


def _upload(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/pdf")


def test_lack_of_funds_is_refused_on_the_page(w: World) -> None:
    request = submitted(w, "5000.00", key="big")  # MV-1 holds 1,000.00
    response = signed_in(w.trustee).post(reverse("request-approve", args=[request.pk]), {})
    assert response.status_code == 400
    assert "available" in text(response).lower()
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED


def test_two_trustees_approve_above_the_threshold_then_pay_then_the_partner_confirms(
    w: World,
) -> None:
    policy_set_dual_approval(trust=w.trust, actor=w.trustee, threshold=Money("100", "USD"))
    request = submitted(w, "300.00", key="dual")
    first = signed_in(w.trustee).post(reverse("request-approve", args=[request.pk]), {})
    assert first.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED  # one of two
    # The first trustee is not asked again; the second is.
    waiting = signed_in(w.trustee).get(reverse("request-list")).context["waiting"]
    assert request not in list(waiting)
    second = signed_in(w.trustee2)
    assert second.post(reverse("request-approve", args=[request.pk]), {}).status_code == 302
    request.refresh_from_db()
    assert request.status == Status.APPROVED

    payment = {
        "sent_0": "300.00",
        "sent_1": "USD",
        "payout_0": "300.00",
        "payout_1": "USD",
        "fee_0": "",
        "fee_1": "USD",
        "value_date": timezone.localdate().isoformat(),
        "reference": "TRF-PAGE-1",
    }
    paid = second.post(reverse("payment-record", args=[request.pk]), payment)
    assert paid.status_code == 302, paid.context["payment_form"].errors
    request.refresh_from_db()
    assert request.status == Status.PAID

    caseworker = signed_in(w.caseworker)
    short = {
        "arrived_0": "290.00",
        "arrived_1": "USD",
        "received_on": timezone.localdate().isoformat(),
        "note": "",
    }
    refused = caseworker.post(reverse("payment-acknowledge", args=[request.pk]), short)
    assert refused.status_code == 400  # less arrived: a note is needed
    assert "290.00" in text(refused)  # kept
    short["note"] = "The correspondent bank kept 10.00"
    done = caseworker.post(reverse("payment-acknowledge", args=[request.pk]), short)
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.ACKNOWLEDGED
    page = text(caseworker.get(reverse("request-detail", args=[request.pk])))
    assert "short by 10.00 USD" in page


def test_the_children_page_shows_what_is_available(w: World) -> None:
    submitted_request = submitted(w, "300.00", key="c")
    signed_in(w.trustee).post(reverse("request-approve", args=[submitted_request.pk]), {})
    page = text(signed_in(w.caseworker).get(reverse("children")))
    assert "MV-1" in page and "MV-2" not in page
    assert "1,000.00 USD" in page and "300.00 USD" in page and "700.00 USD" in page


def test_the_request_forms_title_is_a_title(w: World) -> None:
    page = signed_in(w.caseworker).get(reverse("request-new")).content.decode()
    title = page[page.index("<title>") : page.index("</title>")]
    assert title == "<title>Ask for money · Restitution Trust Ledger"
    assert page.count('id="funds-data"') == 1


def test_the_request_list_costs_the_same_queries_for_one_waiting_request_or_many(w: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    trustee = signed_in(w.trustee)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert trustee.get(reverse("request-list")).status_code == 200
        return len(captured.captured_queries)

    submitted(w, "10.00", key="one")
    one = queries()
    for n in range(5):
        submitted(w, "10.00", key=f"more-{n}")
    assert queries() == one
