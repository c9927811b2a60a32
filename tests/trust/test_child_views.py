"""Who saw this child (trust/services/child_views.py, trust/audit/selectors.py, the page and the
PDF): each view of a child's page, sub-ledger, statement, documents or identity by a person is
one audit event; a trustee or an auditor reads them per child; the responsible caseworker may
reveal the identity, recorded, and nobody else outside the trustees."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pypdf
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from disbursements.services import caseworker_add, request_document_add
from reports.models import Kind
from reports.periods import Period
from reports.services import report_generate, report_request
from tests.disbursements.test_requests import World, make_world, submitted
from tests.factories import clean_pdf, person
from tests.trust.test_second_factor import enrol
from trust.access import grants, grants_cached
from trust.audit.events import audit_record_many
from trust.audit.selectors import WHAT_LABELS, child_view_list, child_view_rows
from trust.models import AuditEvent, IdentityReveal
from trust.roles import ADMINISTRATOR, AUDITOR
from trust.services.child_views import WHAT, child_view_record, child_view_spec
from trust.services.people import beneficiary_identity_reveal, beneficiary_identity_set
from trust.services.tokens import token_create
from trust.twofactor import VERIFIED_AT

pytestmark = pytest.mark.django_db

LEGAL_NAME = "Invented Childname Hiddensurname"
PURPOSE = "Confirm the payee for the school"


@pytest.fixture
def w(settings: Any, tmp_path: Any) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return make_world()


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def views(w: World) -> list[dict[str, Any]]:
    """The recorded views of MV-1, oldest first, as their hashed bytes say."""
    events = AuditEvent.objects.filter(
        action="beneficiary.viewed", object_type="beneficiary", object_id=str(w.mv1.pk)
    ).order_by("id")
    return [json.loads(bytes(event.data)) for event in events]


def seen(w: World) -> list[tuple[str, str, str, str]]:
    """(username, what, via, role) of each recorded view of MV-1."""
    return [
        (
            view["actor"]["username"],
            view["changes"]["what"],
            view["changes"]["via"],
            view["changes"]["role"],
        )
        for view in views(w)
    ]


def identified(w: World) -> None:
    beneficiary_identity_set(beneficiary=w.mv1, actor=w.trustee, legal_name=LEGAL_NAME)


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def stranger(w: World) -> Any:
    """A caseworker of the other care partner (MV-2's): MV-1 is not theirs."""
    user = person("stranger-cw")
    caseworker_add(partner=w.other_partner, user=user, actor=w.trustee)
    return user


def detail_url(w: World, name: str = "beneficiary-detail") -> str:
    return reverse(name, args=[w.trust.pk, w.mv1.pk])


# --- what is recorded ------------------------------------------------------------------------


def test_the_beneficiary_page_is_recorded_once_with_who_and_what(w: World) -> None:
    assert client_for(w.trustee).get(detail_url(w)).status_code == 200
    assert seen(w) == [(w.trustee.username, "page", "web", "trustee")]
    (view,) = views(w)
    assert view["changes"]["detail"] == "" and view["trust"] == w.trust.pk


def test_the_childs_sub_ledger_page_is_a_view_but_the_bank_account_is_not(w: World) -> None:
    auditor = person("auditor-cv", AUDITOR, w.trust)
    client = client_for(auditor)
    sub_ledger = reverse("account-detail", args=[w.trust.pk, w.sub1.pk])
    assert client.get(sub_ledger).status_code == 200
    bank = w.trust.accounts.filter(beneficiary__isnull=True).order_by("pk").first()
    assert client.get(reverse("account-detail", args=[w.trust.pk, bank.pk])).status_code == 200
    assert seen(w) == [(auditor.username, "account", "web", "auditor")]
    assert views(w)[0]["changes"]["detail"] == w.sub1.code


def test_a_statement_download_is_a_view_and_the_download_event_stays(w: World) -> None:
    today = timezone.localdate()
    statement = report_generate(
        report_id=report_request(
            kind=Kind.BENEFICIARY_STATEMENT,
            trust=w.trust,
            actor=w.trustee,
            period=Period(today - timedelta(days=30), today),
            beneficiary=w.mv1,
            enqueue=False,
        ).pk
    )
    page = client_for(w.caseworker).get(reverse("report-download", args=[statement.uid]))
    assert page.status_code == 200
    api = client_for(w.trustee).get(reverse("api-report-download", args=[statement.uid]))
    assert api.status_code == 200
    assert seen(w) == [
        (w.caseworker.username, "statement", "web", "caseworker"),
        (w.trustee.username, "statement", "api", "trustee"),
    ]
    assert {view["changes"]["detail"] for view in views(w)} == {str(statement.uid)}
    assert AuditEvent.objects.filter(action="report.downloaded").count() == 2


def test_a_report_about_no_child_is_no_view_of_one(w: World) -> None:
    report = report_generate(
        report_id=report_request(
            kind=Kind.ORDER_STATUS, trust=w.trust, actor=w.trustee, enqueue=False
        ).pk
    )
    response = client_for(w.trustee).get(reverse("report-download", args=[report.uid]))
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="beneficiary.viewed").exists()


def test_a_document_download_is_a_view_and_the_download_event_stays(w: World) -> None:
    document = request_document_add(
        request=submitted(w), actor=w.caseworker, kind="quote", content=clean_pdf()
    )
    page = client_for(w.caseworker).get(reverse("document-download", args=[document.uid]))
    assert page.status_code == 200
    api = client_for(w.trustee).get(reverse("api-document-detail", args=[document.uid]))
    assert api.status_code == 200
    assert seen(w) == [
        (w.caseworker.username, "document", "web", "caseworker"),
        (w.trustee.username, "document", "api", "trustee"),
    ]
    assert {view["changes"]["detail"] for view in views(w)} == {str(document.uid)}
    downloads = AuditEvent.objects.filter(action="document.downloaded", object_id=document.uid)
    assert downloads.count() == 2


def test_the_api_detail_and_the_sub_ledger_history_are_views_via_the_api(w: World) -> None:
    _, raw = token_create(actor=w.trustee, name="case system", scope="read")
    api = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    assert api.get(reverse("api-beneficiary-detail", args=[w.mv1.pk])).status_code == 200
    assert api.get(reverse("api-account-postings", args=[w.sub1.pk])).status_code == 200
    assert api.get(reverse("api-beneficiary-list")).status_code == 200  # a list is no view
    assert seen(w) == [
        (w.trustee.username, "api", "api", "trustee"),
        (w.trustee.username, "account", "api", "trustee"),
    ]


def test_a_caseworker_of_another_partner_finds_nothing_and_nothing_is_recorded(w: World) -> None:
    identified(w)
    client = client_for(stranger(w))
    assert client.get(detail_url(w)).status_code == 404
    assert client.get(detail_url(w, "beneficiary-views")).status_code == 404
    assert client.get(detail_url(w, "beneficiary-views-pdf")).status_code == 404
    assert client.get(reverse("api-beneficiary-detail", args=[w.mv1.pk])).status_code == 404
    assert client.post(detail_url(w, "beneficiary-reveal"), {"purpose": PURPOSE}).status_code == 404
    api_reveal = client.post(
        reverse("api-beneficiary-reveal", args=[w.mv1.pk]),
        {"purpose": PURPOSE},
        content_type="application/json",
    )
    assert api_reveal.status_code == 404
    assert not AuditEvent.objects.filter(
        action__in=("beneficiary.viewed", "beneficiary.identity_revealed")
    ).exists()
    assert not IdentityReveal.objects.exists()


@pytest.mark.parametrize("actor", [None, AnonymousUser()], ids=["system", "anonymous"])
def test_no_person_no_record(w: World, actor: Any) -> None:
    child_view_record(beneficiary=w.mv1, actor=actor, what="page")
    assert not AuditEvent.objects.filter(action="beneficiary.viewed").exists()


@pytest.mark.parametrize(
    "bad",
    [{"what": "everything"}, {"what": "page", "via": "fax"}, {"what": "page", "detail": "x" * 101}],
    ids=["what", "via", "detail"],
)
def test_a_view_outside_the_fixed_sets_is_refused(w: World, bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        child_view_record(beneficiary=w.mv1, actor=w.trustee, **bad)
    assert not AuditEvent.objects.filter(action="beneficiary.viewed").exists()


def test_every_kind_of_view_has_a_label_in_the_log() -> None:
    assert set(WHAT) == set(WHAT_LABELS)


def test_a_view_costs_one_insert_and_no_read_in_a_request(w: World) -> None:
    with grants_cached():
        grants(w.trustee)  # what the page's access check has read already
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            child_view_record(beneficiary=w.mv1, actor=w.trustee, what="page")
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements.count("INSERT") == 1 and "SELECT" not in statements, statements


# --- revealing the identity --------------------------------------------------------------------


def test_the_responsible_caseworker_reveals_and_it_is_in_the_log_once(w: World) -> None:
    identified(w)
    client = client_for(w.caseworker)
    page = client.get(detail_url(w))
    assert page.status_code == 200 and "Show them" in page.content.decode()
    shown = client.post(detail_url(w, "beneficiary-reveal"), {"purpose": PURPOSE})
    assert shown.status_code == 200 and LEGAL_NAME in shown.content.decode()
    reveal = IdentityReveal.objects.get()
    assert reveal.actor == w.caseworker and reveal.purpose == PURPOSE
    rows = child_view_rows(child_view_list(beneficiary=w.mv1, trust=w.trust), trust=w.trust)
    assert [(r.username, r.what, r.role, r.via) for r in rows] == [
        (w.caseworker.username, "identity", "caseworker", "web"),
        (w.caseworker.username, "page", "caseworker", "web"),
    ]
    assert rows[0].detail == "legal name" and rows[0].purpose == PURPOSE
    everything = b"".join(bytes(d) for d in AuditEvent.objects.values_list("data", flat=True))
    assert LEGAL_NAME.encode() not in everything


def test_the_responsible_caseworker_reveals_through_the_api(w: World) -> None:
    identified(w)
    _, raw = token_create(actor=w.caseworker, name="ngo system", scope="write")
    api = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    response = api.post(
        reverse("api-beneficiary-reveal", args=[w.mv1.pk]),
        {"purpose": PURPOSE},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["legal_name"] == LEGAL_NAME
    (row,) = child_view_rows(child_view_list(beneficiary=w.mv1, trust=w.trust), trust=w.trust)
    assert (row.what, row.via, row.role) == ("identity", "api", "caseworker")


def test_an_auditor_and_an_administrator_may_not_reveal(w: World) -> None:
    identified(w)
    auditor = person("auditor-rv", AUDITOR, w.trust)
    with pytest.raises(ValidationError) as refused:
        beneficiary_identity_reveal(beneficiary=w.mv1, actor=auditor, purpose=PURPOSE)
    assert refused.value.code == "not_allowed" and "caseworker" in refused.value.messages[0]
    page = client_for(auditor).post(detail_url(w, "beneficiary-reveal"), {"purpose": PURPOSE})
    assert page.status_code == 400 and LEGAL_NAME not in page.content.decode()
    _, raw = token_create(actor=auditor, name="audit", scope="write")
    api = Client(HTTP_AUTHORIZATION=f"Token {raw}").post(
        reverse("api-beneficiary-reveal", args=[w.mv1.pk]),
        {"purpose": PURPOSE},
        content_type="application/json",
    )
    assert api.status_code == 403 and api.json()["code"] == "not_allowed"
    administrator = person("admin-rv", ADMINISTRATOR, w.trust)
    with pytest.raises(ValidationError):
        beneficiary_identity_reveal(beneficiary=w.mv1, actor=administrator, purpose=PURPOSE)
    assert not IdentityReveal.objects.exists()


@pytest.mark.second_factor
def test_a_caseworkers_reveal_asks_a_fresh_second_factor_where_the_trust_does(w: World) -> None:
    identified(w)
    w.trust.caseworker_second_factor = True
    w.trust.save(update_fields=["caseworker_second_factor"])
    client = client_for(w.caseworker)
    enrol(client)
    session = client.session
    session[VERIFIED_AT] = (timezone.now() - timedelta(minutes=16)).isoformat()
    session.save()
    stale = client.post(detail_url(w, "beneficiary-reveal"), {"purpose": PURPOSE})
    assert stale.status_code == 302 and "fresh=1" in stale["Location"]
    assert not IdentityReveal.objects.exists()


# --- the log: who may read it, what it says ------------------------------------------------------


def test_an_auditor_reads_the_log_newest_first_and_reading_it_is_no_view(w: World) -> None:
    identified(w)
    client_for(w.caseworker).get(detail_url(w))
    beneficiary_identity_reveal(beneficiary=w.mv1, actor=w.trustee, purpose=PURPOSE)
    auditor = person("auditor-log", AUDITOR, w.trust)
    client = client_for(auditor)
    page = client.get(detail_url(w, "beneficiary-views"))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    rows = page.context["rows"]
    assert [(r.username, r.what) for r in rows] == [
        (w.trustee.username, "identity"),
        (w.caseworker.username, "page"),
    ]
    text = page.content.decode()
    assert "Identifying details (revealed)" in text and "Beneficiary page" in text
    assert PURPOSE in text and LEGAL_NAME not in text
    assert client.get(detail_url(w, "beneficiary-views-pdf")).status_code == 200
    assert len(views(w)) == 1  # the caseworker's look at the page; the log itself adds nothing


def test_the_beneficiary_page_links_the_log_for_trustees_and_auditors_only(w: World) -> None:
    link = detail_url(w, "beneficiary-views")
    assert link in client_for(w.trustee).get(detail_url(w)).content.decode()
    assert link not in client_for(w.caseworker).get(detail_url(w)).content.decode()


def test_the_childs_caseworker_and_an_administrator_may_not_read_the_log(w: World) -> None:
    caseworker = client_for(w.caseworker)
    assert caseworker.get(detail_url(w, "beneficiary-views")).status_code == 403
    assert caseworker.get(detail_url(w, "beneficiary-views-pdf")).status_code == 403
    administrator = client_for(person("admin-log", ADMINISTRATOR, w.trust))
    assert administrator.get(detail_url(w, "beneficiary-views")).status_code == 404


def test_the_log_filters_by_person_and_by_the_trusts_days(w: World) -> None:
    w.trust.time_zone = "Asia/Manila"  # UTC+8
    w.trust.save(update_fields=["time_zone"])
    auditor = person("auditor-days", AUDITOR, w.trust)
    # 2026-03-01 20:00 UTC is 2026-03-02 04:00 in Manila.
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    with transaction.atomic():
        for actor, at in ((w.trustee, late), (w.caseworker, late - timedelta(days=2))):
            spec = child_view_spec(
                beneficiary_id=w.mv1.pk, trust_id=w.trust.pk, actor=actor, what="page"
            )
            audit_record_many([spec], at=at)

    def listed(**filters: Any) -> list[str]:
        found = child_view_list(beneficiary=w.mv1, trust=w.trust, **filters)
        return [row.username for row in child_view_rows(found, trust=w.trust)]

    assert listed() == [w.trustee.username, w.caseworker.username]
    assert listed(since=date(2026, 3, 2)) == [w.trustee.username]
    assert listed(until=date(2026, 3, 1)) == [w.caseworker.username]
    assert listed(person=w.caseworker.username.upper()) == [w.caseworker.username]
    assert listed(person="nobody-at-all") == []
    (row,) = child_view_rows(
        child_view_list(beneficiary=w.mv1, trust=w.trust, since=date(2026, 3, 2)), trust=w.trust
    )
    assert (row.at.date(), row.at.hour) == (date(2026, 3, 2), 4)
    page = client_for(auditor).get(
        detail_url(w, "beneficiary-views"), {"since": "2026-03-02", "person": w.trustee.username}
    )
    assert page.status_code == 200 and "2026-03-02 04:00:00" in page.content.decode()


def test_the_log_pages_by_fifty(w: World) -> None:
    with transaction.atomic():
        spec = child_view_spec(
            beneficiary_id=w.mv1.pk, trust_id=w.trust.pk, actor=w.trustee, what="page"
        )
        audit_record_many([spec] * 55)
    client = client_for(w.trustee)
    first = client.get(detail_url(w, "beneficiary-views"))
    second = client.get(detail_url(w, "beneficiary-views"), {"page": "2"})
    assert len(first.context["rows"]) == 50 and len(second.context["rows"]) == 5


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"since": "2026-13-01"}, "year-month-day"),
        ({"until": "yesterday"}, "year-month-day"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "before it starts"),
    ],
    ids=["bad-month", "not-a-date", "backwards"],
)
def test_a_filter_that_is_not_understood_is_refused_saying_why(
    w: World, given: dict[str, str], message: str
) -> None:
    client = client_for(w.trustee)
    page = client.get(detail_url(w, "beneficiary-views"), given)
    assert page.status_code == 400 and message in page.content.decode()
    assert 'role="alert"' in page.content.decode()
    pdf = client.get(detail_url(w, "beneficiary-views-pdf"), given)
    assert pdf.status_code == 400 and message in pdf.content.decode()
    # The live filter swaps in only a 200: the same refusal, in place of the rows.
    live = client.get(detail_url(w, "beneficiary-views"), given, HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and message in live.content.decode()
    assert "rows" not in live.context


def test_the_pdf_is_a_real_pdf_with_the_pseudonym_and_the_viewers_only(w: World) -> None:
    identified(w)
    client_for(w.caseworker).get(detail_url(w))
    beneficiary_identity_reveal(beneficiary=w.mv1, actor=w.caseworker, purpose=PURPOSE)
    client_for(w.trustee).get(detail_url(w))
    auditor = person("auditor-pdf", AUDITOR, w.trust)
    response = client_for(auditor).get(detail_url(w, "beneficiary-views-pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith("attachment")
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    assert "Who saw this child" in text and "MV-1" in text
    assert w.caseworker.username in text and w.trustee.username in text
    assert "Caseworker" in text and "Trustee" in text
    for secret in (LEGAL_NAME, "Hiddensurname", PURPOSE, "MV-2"):
        assert secret not in text
    assert LEGAL_NAME.encode() not in response.content
    filtered = client_for(auditor).get(
        detail_url(w, "beneficiary-views-pdf"), {"person": w.trustee.username}
    )
    assert w.caseworker.username not in pdf_text(filtered.content)
