"""The API's reports, audit trail and CSV imports: the pages' rules (another trust's object is
404, a refused actor 403), documents asked for, made by the (inline) worker and downloaded, the
audit log scoped to the caller's trusts, imports checked without writing and then recorded
exactly as checked."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.test import Client

from reports.models import Kind, Report
from tests.factories import TrustFactory, appoint, beneficiary, fund, person
from tests.reports.scenario import Case, build_case
from tests.trust.test_imports import (
    D1,
    D2,
    GOOD_ROW,
    counts,
    import_example_order,
    order_rows,
    receipt_rows,
)
from trust.audit.checkpoints import audit_checkpoint
from trust.models import AuditEvent, AuditVerification, OrderLine, Receipt, RestitutionOrder
from trust.roles import AUDITOR
from trust.services.people import beneficiary_create, defendant_create
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db


def api(user: Any, scope: str = "write") -> Client:
    _, raw = token_create(actor=user, name="tests", scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Token {raw}")


# --- reports ---------------------------------------------------------------------------------


@pytest.fixture
def case(settings: Any, tmp_path: Path) -> Case:
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_case()


def test_a_statement_is_asked_for_made_and_downloaded(
    case: Case, django_capture_on_commit_callbacks: Any
) -> None:
    client = api(case.trustee)
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(
            "/api/v1/reports/",
            {
                "trust": case.trust.pk,
                "kind": Kind.BENEFICIARY_STATEMENT,
                "beneficiary": case.mv1.pk,
                "period": case.period.key,
            },
            content_type="application/json",
        )
    assert asked.status_code == 202, asked.content
    body = asked.json()
    report = Report.objects.get(uid=body["id"])
    assert body["status"] == "queued" and body["sha256"] is None
    assert asked["Location"].endswith(f"/api/v1/reports/{report.uid}/")
    shown = client.get(asked["Location"]).json()  # the task ran (inline in tests)
    assert shown["status"] == "done" and shown["kind"] == Kind.BENEFICIARY_STATEMENT
    assert shown["trust"] == case.trust.pk and shown["period"] == case.period.key
    report.refresh_from_db()
    assert shown["sha256"] == report.sha256 and len(report.sha256) == 64
    pdf = client.get(shown["download"], HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    assert AuditEvent.objects.filter(action="report.downloaded").count() == 1
    listed = client.get("/api/v1/reports/", {"trust": case.trust.pk, "status": "done"}).json()
    assert [r["id"] for r in listed["results"]] == [str(report.uid)]


def test_a_report_not_made_yet_is_a_conflict_and_a_bad_request_writes_nothing(
    case: Case,
) -> None:
    client = api(case.trustee)
    asked = client.post(  # the task is queued after commit: not run here
        "/api/v1/reports/",
        {"trust": case.trust.pk, "kind": Kind.ORDER_STATUS},
        content_type="application/json",
    )
    assert asked.status_code == 202
    waiting = client.get(f"/api/v1/reports/{asked.json()['id']}/download/")
    assert waiting.status_code == 409 and waiting.json()["code"] == "not_ready"
    before = Report.objects.count()
    no_period = client.post(
        "/api/v1/reports/",
        {"trust": case.trust.pk, "kind": Kind.COURT_ACCOUNT, "period": "2026-Q9"},
        content_type="application/json",
    )
    assert no_period.status_code == 400 and "period" in no_period.json()["errors"]
    assert Report.objects.count() == before


def test_another_trusts_report_is_not_found_and_an_auditor_may_ask(case: Case) -> None:
    report = Report.objects.create(
        operation_id="r-1",
        kind=Kind.ORDER_STATUS,
        trust=case.trust,
        period_start=case.period.start,
        period_end=case.period.end,
    )
    other = TrustFactory()
    stranger = api(appoint(person("trustee-elsewhere"), other))
    assert stranger.get(f"/api/v1/reports/{report.uid}/").status_code == 404
    assert stranger.get(f"/api/v1/reports/{report.uid}/download/").status_code == 404
    assert stranger.get("/api/v1/reports/not-a-uuid/").status_code == 404
    assert stranger.get("/api/v1/reports/").json()["results"] == []
    refused = stranger.post(
        "/api/v1/reports/",
        {"trust": case.trust.pk, "kind": Kind.ORDER_STATUS},
        content_type="application/json",
    )
    assert refused.status_code == 404
    auditor = api(person("auditor-reports", AUDITOR, case.trust))
    asked = auditor.post(
        "/api/v1/reports/",
        {"trust": case.trust.pk, "kind": Kind.ORDER_STATUS},
        content_type="application/json",
    )
    assert asked.status_code == 202
    caseworker = api(case.world.caseworker)
    refused = caseworker.post(
        "/api/v1/reports/",
        {"trust": case.trust.pk, "kind": Kind.ORDER_STATUS},
        content_type="application/json",
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"


# --- the audit trail -------------------------------------------------------------------------


@pytest.fixture
def trail() -> dict[str, Any]:
    mine, theirs = TrustFactory(), TrustFactory()
    beneficiary_create(trust=mine, pseudonym="Victim-7")
    beneficiary_create(trust=theirs, pseudonym="Victim-9")
    audit_checkpoint()
    return {
        "mine": mine,
        "theirs": theirs,
        "trustee": appoint(person("trustee-mine"), mine),
        "auditor_all": appoint(person("auditor-all", AUDITOR, mine), theirs, AUDITOR),
        "nobody": person("no-role"),
    }


def test_the_audit_log_lists_only_the_callers_trusts_events(trail: dict[str, Any]) -> None:
    listed = api(trail["trustee"]).get("/api/v1/audit/events/", {"page_size": 500})
    assert listed.status_code == 200
    events = listed.json()["results"]
    assert events and {e["trust"] for e in events} == {trail["mine"].pk}
    assert "Victim-9" not in listed.content.decode()
    created = next(e for e in events if e["action"] == "beneficiary.created")
    assert created["chain"] == f"trust:{trail['mine'].pk}" and created["object"]["type"]
    assert all({"label", "value"} == set(line) for line in created["changes"])
    theirs = AuditEvent.objects.filter(trust_id=trail["theirs"].pk).first()
    assert api(trail["trustee"]).get(f"/api/v1/audit/events/{theirs.pk}/").status_code == 404
    whole = api(trail["auditor_all"]).get(f"/api/v1/audit/events/{theirs.pk}/").json()
    assert whole["record"]["action"] == theirs.action and whole["id"] == theirs.pk
    everything = api(trail["auditor_all"]).get("/api/v1/audit/events/", {"page_size": 500})
    assert {e["trust"] for e in everything.json()["results"]} >= {
        trail["mine"].pk,
        trail["theirs"].pk,
    }
    filtered = api(trail["auditor_all"]).get(
        "/api/v1/audit/events/", {"trust": trail["theirs"].pk, "action": "beneficiary."}
    )
    assert [e["action"] for e in filtered.json()["results"]] == ["beneficiary.created"]
    bad_date = api(trail["trustee"]).get("/api/v1/audit/events/", {"since": "yesterday"})
    assert bad_date.status_code == 400


def test_the_bundle_is_for_one_who_audits_everything(trail: dict[str, Any]) -> None:
    bundle = api(trail["auditor_all"]).get("/api/v1/audit/bundle/")
    assert bundle.status_code == 200 and bundle["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(bundle.streaming_content))).namelist()
    assert "audit-bundle/events.jsonl" in names
    assert AuditEvent.objects.filter(action="audit.bundle_downloaded").count() == 1
    assert api(trail["trustee"]).get("/api/v1/audit/bundle/").status_code == 404
    refused = api(trail["nobody"]).get("/api/v1/audit/bundle/")
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"
    assert api(trail["nobody"]).get("/api/v1/audit/events/").status_code == 403


def test_a_verification_is_started_and_its_result_read(
    trail: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = api(trail["trustee"])
    checkpoint = client.get("/api/v1/audit/checkpoint/").json()
    assert checkpoint["size"] >= 2 and checkpoint["public_key"] in checkpoint["trusted_keys"]
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/v1/audit/verifications/")
    assert started.status_code == 202, started.content
    run = client.get(started["Location"]).json()
    assert run["id"] == started.json()["id"] and run["status"] == "done" and run["ok"] is True
    assert AuditVerification.objects.get(operation_id=run["id"]).requested_by == trail["trustee"]
    _, reader = token_create(actor=trail["trustee"], name="read", scope="read")
    refused = Client(HTTP_AUTHORIZATION=f"Token {reader}").post("/api/v1/audit/verifications/")
    assert refused.status_code == 403 and refused.json()["code"] == "token_read_only"


# --- CSV imports -----------------------------------------------------------------------------


@pytest.fixture
def books() -> dict[str, Any]:
    """The trust of docs/imports.md: three beneficiaries, two defendants, a trustee, an auditor."""
    trust = TrustFactory()
    defendant_create(trust=trust, name=D1)
    defendant_create(trust=trust, name=D2)
    for n in (1, 2, 3):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}")
    return {
        "trust": trust,
        "trustee": appoint(person("trustee-imports"), trust),
        "auditor": person("auditor-imports", AUDITOR, trust),
    }


def csv_file(text: str, name: str = "rows.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def order_form(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "file": csv_file(text),
        "court": "District Court for the Fictional District",
        "case_number": "1:25-cr-00042",
        "judgment_date": "2025-03-01",
        "total": "15000.01",
        "total_currency": "USD",
        **extra,
    }


LINES = (f"MV-1,10000.00,USD,{D1};{D2},joint", f"MV-2,5000.01,USD,{D1},")


def test_an_order_with_bad_rows_is_refused_listing_each_and_writes_nothing(books) -> None:
    url = f"/api/v1/trusts/{books['trust'].pk}/imports/orders/"
    before = counts()
    bad = order_rows("MV-1,1.005,USD,Nobody,", "MV-2,5000.01,USD,,", "MV-9,1.00,USD,x,")
    for dry_run in ("true", "false"):
        refused = api(books["trustee"]).post(url, order_form(bad, dry_run=dry_run))
        assert refused.status_code == 400
        assert refused["Content-Type"] == "application/problem+json"
        problem = refused.json()
        assert [(r["row"], r["column"]) for r in problem["rows"]] == [
            (2, "amount"),
            (3, "defendants"),
            (4, "beneficiary"),
        ]
        assert problem["errors"]["file"][0]["message"].startswith("row 2, amount")
    assert counts() == before


def test_an_order_is_checked_then_recorded_exactly_as_checked(books) -> None:
    url = f"/api/v1/trusts/{books['trust'].pk}/imports/orders/"
    client = api(books["trustee"])
    before = counts()
    checked = client.post(url, order_form(order_rows(*LINES)))  # dry_run left out: a check
    assert checked.status_code == 200, checked.content
    would = checked.json()
    assert would["dry_run"] is True and would["created"] == 2 and would["order"]["id"] is None
    assert counts() == before and not AuditEvent.objects.filter(action__startswith="order.")
    recorded = client.post(url, order_form(order_rows(*LINES), dry_run="false"))
    assert recorded.status_code == 201, recorded.content
    done = recorded.json()
    order = RestitutionOrder.objects.get(trust=books["trust"])
    assert done["order"]["id"] == order.pk and done["dry_run"] is False
    assert {k: v for k, v in done["order"].items() if k != "id"} == {
        k: v for k, v in would["order"].items() if k != "id"
    }
    assert [line["amount"] for line in done["order"]["lines"]] == ["10000.00", "5000.01"]
    assert order.total_minor == 1500001
    stored = OrderLine.objects.filter(order=order).order_by("position")
    assert [line.amount_minor for line in stored] == [1000000, 500001]
    again = client.post(url, order_form(order_rows(*LINES), dry_run="false"))
    assert again.status_code == 200 and again.json()["already_recorded"] == 2
    assert RestitutionOrder.objects.filter(trust=books["trust"]).count() == 1


def test_only_a_trustee_imports_and_only_with_a_read_write_token(books) -> None:
    trust = books["trust"]
    before = counts()
    for kind, form in (
        ("orders", lambda: order_form(order_rows(*LINES), dry_run="false")),
        ("receipts", lambda: {"file": csv_file(receipt_rows(GOOD_ROW)), "dry_run": "false"}),
    ):
        url = f"/api/v1/trusts/{trust.pk}/imports/{kind}/"
        refused = api(books["auditor"]).post(url, form())
        assert refused.status_code == 403 and refused.json()["code"] == "not_trustee"
        read_only = api(books["trustee"], scope="read").post(url, form())
        assert read_only.status_code == 403 and read_only.json()["code"] == "token_read_only"
        stranger = api(appoint(person(f"trustee-other-{kind}"), TrustFactory()))
        assert stranger.post(url, form()).status_code == 404
    assert counts() == before


def test_receipts_are_checked_then_recorded_exactly_as_checked(books) -> None:
    trust = books["trust"]
    import_example_order(trust)
    url = f"/api/v1/trusts/{trust.pk}/imports/receipts/"
    client = api(books["trustee"])
    rows = receipt_rows(GOOD_ROW, f"2025-06-16,1234.57,USD,clerk,{D2},,CLK-2,,")
    bad = client.post(
        url, {"file": csv_file(receipt_rows(GOOD_ROW, "2025-06-02,-5,USD,clerk,,,,,"))}
    )
    assert bad.status_code == 400 and bad.json()["rows"][0]["row"] == 3
    before = counts()
    checked = client.post(url, {"file": csv_file(rows)})
    assert checked.status_code == 200, checked.content
    would = checked.json()
    assert would["dry_run"] is True and would["created"] == 2
    assert would["received"] == [{"amount": "1334.57", "currency": "USD"}]
    assert counts() == before
    recorded = client.post(url, {"file": csv_file(rows), "dry_run": "false"})
    assert recorded.status_code == 201, recorded.content
    done = recorded.json()
    assert {k: v for k, v in done.items() if k not in ("dry_run", "summary")} == {
        k: v for k, v in would.items() if k not in ("dry_run", "summary")
    }
    receipts = Receipt.objects.filter(trust=trust)
    assert receipts.count() == 2
    assert receipts.aggregate(total=Sum("amount_minor"))["total"] == 133457
    assert Decimal(done["received"][0]["amount"]) == Decimal("1334.57")
    again = client.post(url, {"file": csv_file(rows), "dry_run": "false"})
    assert again.status_code == 200 and again.json()["already_recorded"] == 2
    assert receipts.count() == 2
    ids = sorted(receipts.values_list("pk", flat=True))
    held = again.json()["recorded_before"]
    assert (held["first_receipt"], held["last_receipt"], held["count"]) == (ids[0], ids[1], 2)
    assert held["recorded_by"] == books["trustee"].username
    assert done["recorded_before"] is None


@pytest.mark.django_db(transaction=True)
def test_a_receipt_import_commits_its_own_transaction_and_keeps_its_key() -> None:
    """Outside a test's transaction, as in production: the importer's durable transaction is not
    nested in the API's, and an Idempotency-Key replays the answer."""
    trust = TrustFactory()
    defendant_create(trust=trust, name=D1)
    sub = beneficiary(trust, "Victim-7")[1]
    fund(trust, sub, "1.00", on=date(2025, 1, 2))
    client = api(appoint(person("trustee-durable"), trust))
    url = f"/api/v1/trusts/{trust.pk}/imports/receipts/"
    first = client.post(
        url,
        {"file": csv_file(receipt_rows(GOOD_ROW)), "dry_run": "false"},
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert first.status_code == 201, first.content
    again = client.post(
        url,
        {"file": csv_file(receipt_rows(GOOD_ROW)), "dry_run": "false"},
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert Receipt.objects.filter(trust=trust).count() == 1
