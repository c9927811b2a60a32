"""The reports pages: ask, watch, download, check a code; and who may see which document (a
caseworker sees only their partner's, and gets the same 404 for another's as for none)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from reports.models import Kind, Report
from reports.services import report_generate, report_request
from tests.disbursements.test_requests import user
from tests.reports.scenario import Case, build_case
from trust.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def case() -> Case:
    return build_case()


def client_for(person) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(person)
    return client


def made(case: Case, kind: str = Kind.BENEFICIARY_STATEMENT, **subject) -> Report:  # type: ignore[no-untyped-def]
    if kind == Kind.BENEFICIARY_STATEMENT and not subject:
        subject = {"beneficiary": case.mv1}
    period = case.period if kind in (Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT) else None
    report = report_request(
        kind=kind, trust=case.trust, actor=case.trustee, period=period, enqueue=False, **subject
    )
    return report_generate(report_id=report.pk)


def test_trustee_asks_for_a_statement_and_downloads_it(
    case: Case, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    client = client_for(case.trustee)
    assert client.get(reverse("report-list")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("report-create"),
            {"kind": Kind.BENEFICIARY_STATEMENT, "trust": case.trust.pk,
             "beneficiary": case.mv1.pseudonym, "period": case.period.key, "token": "t-1"},
        )  # fmt: skip
    report = Report.objects.get()
    assert response.status_code == 302 and str(report.uid) in response["Location"]
    assert report.status == Report.Status.DONE  # the task ran (inline in tests)
    page = client.get(reverse("report-detail", args=[report.uid]))
    assert report.code_display in page.content.decode()
    pdf = client.get(reverse("report-download", args=[report.uid]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    assert "MV-1" in pdf["Content-Disposition"]
    assert AuditEvent.objects.filter(action="report.downloaded").count() == 1
    # The same form submitted twice (double click): one report.
    client.post(reverse("report-create"), {"kind": Kind.BENEFICIARY_STATEMENT,
                "trust": case.trust.pk, "beneficiary": case.mv1.pseudonym, "period": case.period.key,
                "token": "t-1"})  # fmt: skip
    assert Report.objects.count() == 1


def test_batch_page_shows_progress(case: Case) -> None:
    client = client_for(case.trustee)
    response = client.post(
        reverse("report-create"),
        {"kind": Kind.BENEFICIARY_STATEMENT, "trust": case.trust.pk, "beneficiary": "all",
         "period": case.period.key},
    )  # fmt: skip
    assert response.status_code == 302
    batch_url = response["Location"]
    page = client.get(batch_url)
    assert "<progress" in page.content.decode()
    progress = client.get(batch_url, HTTP_ACCEPT="application/json").json()
    assert progress["total"] == 2 and progress["finished"] is False
    for report in Report.objects.all():
        report_generate(report_id=report.pk)
    progress = client.get(batch_url, HTTP_ACCEPT="application/json").json()
    assert (progress["done"], progress["percent"], progress["finished"]) == (2, 100, True)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"kind": Kind.COURT_ACCOUNT, "period": "next year"}, "is not a period"),
        ({"kind": Kind.BENEFICIARY_STATEMENT, "beneficiary": "MV-99", "period": "2026-Q1"},
         "No beneficiary &#x27;MV-99&#x27; in this trust"),
        ({"kind": "everything", "period": "2026-Q1"}, "unknown kind"),
    ],
)  # fmt: skip
def test_bad_forms_say_why_and_write_nothing(case: Case, form: dict, message: str) -> None:
    client = client_for(case.trustee)
    response = client.post(reverse("report-create"), {"trust": case.trust.pk, **form}, follow=True)
    assert message in response.content.decode()
    assert not Report.objects.exists()


def test_caseworkers_see_only_their_partners_documents(case: Case) -> None:
    own = made(case)  # MV-1 is in the caseworker's partner's care
    other = made(case, beneficiary=case.mv2)  # MV-2 is another partner's
    account = made(case, Kind.COURT_ACCOUNT)
    advice = made(case, Kind.REMITTANCE_ADVICE, payment=case.paid)
    client = client_for(case.world.caseworker)
    assert client.get(reverse("report-download", args=[own.uid])).status_code == 200
    assert client.get(reverse("report-download", args=[advice.uid])).status_code == 200
    for hidden in (other, account):
        assert client.get(reverse("report-download", args=[hidden.uid])).status_code == 404
        assert client.get(reverse("report-detail", args=[hidden.uid])).status_code == 404
    listing = client.get(reverse("report-list")).content.decode()
    assert str(own.uid) in listing and str(other.uid) not in listing
    assert client.post(reverse("report-create"), {"kind": Kind.ORDER_STATUS,
                       "trust": case.trust.pk}).status_code == 403  # fmt: skip
    stranger = client_for(user("nobody"))
    assert stranger.get(reverse("report-download", args=[own.uid])).status_code == 404


def test_verify_page_checks_a_code(case: Case) -> None:
    report = made(case, Kind.ORDER_STATUS)
    client = client_for(case.trustee)
    page = client.post(reverse("report-verify"), {"code": report.code_display}).content.decode()
    assert "match the books" in page
    page = client.post(reverse("report-verify"), {"code": "f" * 64}).content.decode()
    assert "No document with this code" in page
    assert client_for(case.world.caseworker).get(reverse("report-verify")).status_code == 403


def test_anonymous_users_are_sent_to_sign_in(case: Case) -> None:
    report = made(case)
    response = Client().get(reverse("report-download", args=[report.uid]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_trustee_asks_for_a_payments_advice(case: Case) -> None:
    client = client_for(case.trustee)
    response = client.post(reverse("payment-advice", args=[case.paid.pk]))
    report = Report.objects.get()
    assert response.status_code == 302 and str(report.uid) in response["Location"]
    assert (report.kind, report.payment_id) == (Kind.REMITTANCE_ADVICE, case.paid.pk)
    client.post(reverse("payment-advice", args=[case.paid.pk]))
    assert Report.objects.count() == 1  # asked again: the same advice
    caseworker = client_for(case.world.caseworker)
    assert caseworker.post(reverse("payment-advice", args=[case.paid.pk])).status_code == 403
    assert client.post(reverse("payment-advice", args=[999999])).status_code == 404
