"""The auditor's pages: who may see them, filtering, a verification started and watched, the
bundle and the checkpoint downloads."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.test import Client

from tests.factories import TrustFactory, appoint
from trust.audit.checkpoints import audit_checkpoint
from trust.audit.keys import public_key_bytes
from trust.models import AuditEvent, AuditVerification, Trust
from trust.services.people import beneficiary_create

pytestmark = pytest.mark.django_db(transaction=True)


def person(django_user_model: Any, name: str, role: str | None) -> Client:
    """Signed in as ``name``, appointed as ``role`` to every trust there is (if a role)."""
    user = django_user_model.objects.create_user(name, is_staff=role is not None)
    if role:
        for trust in Trust.objects.all():
            appoint(user, trust, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _static(settings: Any, tmp_path: Any) -> None:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()


@pytest.fixture
def auditor(django_user_model: Any) -> Client:
    trust = TrustFactory()
    beneficiary_create(trust=trust, pseudonym="MV-9")
    audit_checkpoint()
    return person(django_user_model, "auditor-a", "auditor")


def test_the_log_is_shown_to_auditors_and_trustees_only(
    auditor: Client, django_user_model: Any
) -> None:
    page = auditor.get("/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "beneficiary.created" in html and "MV-9" in html
    assert public_key_bytes().hex() in html
    assert person(django_user_model, "trustee-a", "trustee").get("/audit/").status_code == 200
    assert person(django_user_model, "caseworker-a", None).get("/audit/").status_code == 403
    assert Client().get("/audit/").status_code == 302  # to the sign-in page


def test_filters(auditor: Client) -> None:
    html = auditor.get("/audit/", {"action": "trust.created"}).content.decode()
    assert "trust.created" in html and "beneficiary.created</code>" not in html
    html = auditor.get("/audit/", {"actor": "nobody-at-all"}).content.decode()
    assert "No events match" in html
    assert auditor.get("/audit/", {"since": "not-a-date", "trust": "x"}).status_code == 200


def test_a_verification_is_started_and_its_result_shown(
    auditor: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = auditor.post("/audit/verify/")
    assert response.status_code == 302
    run = AuditVerification.objects.get()
    page = auditor.get(response["Location"]).content.decode()
    assert "The audit trail verifies" in page
    status = auditor.get(response["Location"], HTTP_ACCEPT="application/json").json()
    assert status["status"] == "done" and status["ok"] is True and status["percent"] == 100
    assert AuditEvent.objects.filter(action="audit.verification_requested").count() == 1
    assert run.requested_by.username == "auditor-a"
    assert auditor.get("/audit/verify/").status_code == 405  # a GET starts nothing


def test_a_running_verification_refreshes_itself(auditor: Client) -> None:
    AuditVerification.objects.create(operation_id="op-1", status="running", done=5, total=20)
    html = auditor.get("/audit/verifications/op-1/").content.decode()
    assert 'http-equiv="refresh"' in html and 'value="25"' in html


def test_bundle_and_checkpoint_downloads(auditor: Client) -> None:
    response = auditor.get("/audit/bundle.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert {
        "audit-bundle/events.jsonl",
        "audit-bundle/verify_bundle.py",
        "audit-bundle/README.md",
    } <= names
    assert AuditEvent.objects.filter(action="audit.bundle_downloaded").exists()
    checkpoint = auditor.get("/audit/checkpoint.json")
    said = json.loads(b"".join([checkpoint.content]))
    assert said["size"] >= 1 and "statement" in said and "signature" in said
