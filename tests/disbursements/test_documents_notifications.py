"""Supporting documents (recognised by content, size-limited, served only to those who may see
the request) and notifications (once per person and event, however often the task runs)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from moneyed import Money

from disbursements.models import Notification, RequestDocument, RequestEvent
from disbursements.services import (
    caseworker_add,
    policy_set_dual_approval,
    request_approve,
    request_document_add,
    request_event_notify,
    request_reject,
)
from disbursements.services.payments import payment_acknowledge
from disbursements.tasks import notify_request_event
from tests.conftest import wait_for
from tests.disbursements.test_requests import World, make_world, submitted, user
from tests.factories import TrustFactory, clean_image, clean_pdf, stored_plaintext

pytestmark = pytest.mark.django_db

PDF = clean_pdf()
PNG = clean_image("PNG")
JPEG = clean_image("JPEG")


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"  # an empty one of its own, as in test_web
    settings.STATIC_ROOT.mkdir()
    settings.UPLOAD_MAX_BYTES = 1024
    return make_world()


def add(w: World, content: bytes, actor: Any = None, kind: str = "quote", **extra: Any) -> Any:
    request = extra.pop("request", None) or submitted(w)
    return request_document_add(
        request=request, actor=actor or w.caseworker, kind=kind, content=content, **extra
    )


@pytest.mark.parametrize(
    ("content", "mime"), [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg")]
)
def test_pdf_jpeg_and_png_are_stored_under_a_random_name(
    world: World, content: bytes, mime: str
) -> None:
    document = add(world, content, title="Quote from Invented School")
    assert document.content_type == mime
    stored = Path(document.file.path)
    plain = stored_plaintext(document)
    # A PDF is stored as sent, an image as re-encoded (test_upload_safety), both sealed: the
    # file on disk is ciphertext; the size and the hash are of the plaintext.
    if mime == "application/pdf":
        assert plain == content
    assert stored.read_bytes().startswith(b"TLSEAL1\n")
    assert content[:64] not in stored.read_bytes()
    assert document.size == len(plain)
    assert document.sha256 == hashlib.sha256(plain).hexdigest()
    assert "School" not in stored.name and "MV" not in stored.name
    assert document.title == "Quote from Invented School"
    assert (
        "School"
        not in RequestDocument.objects.filter(pk=document.pk)
        .values_list("title_token", flat=True)
        .get()
    )
    assert document.request.events.filter(action="document_quote").exists()


@pytest.mark.parametrize(
    "content",
    [b"MZ\x90\x00" + b"\x00" * 60, b"plain text pretending to be a PDF", b"GIF89a" + b"\x00" * 20],
    ids=["exe", "text", "gif"],
)
def test_other_files_are_refused_whatever_their_name(world: World, content: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        add(world, content, title="invoice.pdf")
    assert info.value.error_dict["file"][0].code == "bad_type"
    assert not RequestDocument.objects.exists()
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.*"))


def test_too_large_and_empty_files_are_refused(world: World) -> None:
    with pytest.raises(ValidationError) as info:
        add(world, PDF + b"\x00" * 1024)
    assert info.value.error_dict["file"][0].code == "too_large"
    with pytest.raises(ValidationError):
        add(world, b"")
    assert not RequestDocument.objects.exists()


def test_the_same_file_twice_is_stored_once(world: World) -> None:
    request = submitted(world)
    first = add(world, PDF, request=request)
    again = add(world, PDF, request=request)
    assert again.pk == first.pk
    assert RequestDocument.objects.count() == 1


def test_proof_of_use_waits_for_the_payment(world: World) -> None:
    with pytest.raises(ValidationError) as info:
        add(world, PDF, kind="proof")
    assert info.value.error_dict["kind"][0].code == "not_paid"


def test_another_partners_caseworker_cannot_add_documents(world: World) -> None:
    stranger = user("stranger")
    caseworker_add(partner=world.other_partner, user=stranger, actor=world.trustee)
    with pytest.raises(ValidationError) as info:
        add(world, PDF, actor=stranger)
    assert info.value.code == "not_allowed"


def test_documents_are_served_only_to_those_who_may_see_the_request(world: World) -> None:
    document = add(world, PDF)
    url = reverse("document-download", args=[document.uid])
    stranger = user("stranger")
    caseworker_add(partner=world.other_partner, user=stranger, actor=world.trustee)
    auditor = user("auditor", "auditor", world.trust)
    outsider = user("outsider")

    def fetch(who: Any) -> Any:
        client = Client()
        if who is not None:
            client.force_login(who)
        return client.get(url)

    for allowed in (world.caseworker, world.trustee, auditor):
        response = fetch(allowed)
        assert response.status_code == 200, allowed
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "attachment" in response["Content-Disposition"]
    assert fetch(stranger).status_code == 404
    assert fetch(outsider).status_code == 404
    assert fetch(None).status_code == 302  # to the login page
    client = Client()
    client.force_login(world.trustee)
    assert client.get(reverse("document-download", args=[uuid.uuid4()])).status_code == 404


# --- notifications --------------------------------------------------------------------------


def emails(w: World) -> None:
    for n, person in enumerate((w.caseworker, w.trustee, w.trustee2)):
        person.email = f"person{n}@example.invalid"
        person.save()


def test_submission_tells_the_trustees_once(world: World) -> None:
    emails(world)
    request = submitted(world)
    event = request.events.get(action="submitted")
    assert request_event_notify(event_id=event.pk) == 2
    assert request_event_notify(event_id=event.pk) == 0  # the task ran twice: nothing new
    assert sorted(m.to[0] for m in mail.outbox) == [
        "person1@example.invalid",
        "person2@example.invalid",
    ]
    assert "MV-1" in mail.outbox[0].body
    assert Notification.objects.filter(event=event).count() == 2


def test_a_decision_tells_the_requester(world: World) -> None:
    emails(world)
    rejected = request_reject(request=submitted(world), actor=world.trustee, reason="Duplicate")
    event = rejected.events.get(action="rejected")
    assert request_event_notify(event_id=event.pk) == 1
    assert mail.outbox[-1].to == ["person0@example.invalid"]
    # What a trustee typed about a child stays in the application: e-mail only points to it.
    assert "Duplicate" not in mail.outbox[-1].body
    assert "reason is on the request's page" in mail.outbox[-1].body


def test_first_approval_tells_the_other_trustees_only(world: World) -> None:
    emails(world)

    policy_set_dual_approval(trust=world.trust, actor=world.trustee, threshold=Money("100", "USD"))
    request = request_approve(request=submitted(world), actor=world.trustee)
    event = RequestEvent.objects.get(request=request, action="first_approval")
    assert request_event_notify(event_id=event.pk) == 1
    assert mail.outbox[-1].to == ["person2@example.invalid"]


def test_submission_tells_only_the_trustees_of_that_trust(world: World) -> None:
    emails(world)
    elsewhere = user("trustee-elsewhere", "trustee", TrustFactory())
    elsewhere.email = "elsewhere@example.invalid"
    elsewhere.save()
    event = submitted(world).events.get(action="submitted")
    request_event_notify(event_id=event.pk)
    assert "elsewhere@example.invalid" not in [m.to[0] for m in mail.outbox]


def test_an_acknowledgement_tells_the_trustees(world: World) -> None:
    from tests.disbursements.test_payments import approved, pay, php

    emails(world)
    request = approved(world, php("10000.00"), reserve="210.00")
    pay(world, request, "200.00", "10000.00")
    payment_acknowledge(
        request=request, actor=world.caseworker, arrived=php("9900.00"), note="Bank charge"
    )
    event = RequestEvent.objects.get(request=request, action="acknowledged")
    assert request_event_notify(event_id=event.pk) == 2  # both trustees, approvers included
    assert sorted(m.to[0] for m in mail.outbox[-2:]) == [
        "person1@example.invalid",
        "person2@example.invalid",
    ]
    assert "acknowledged" in mail.outbox[-1].subject


def test_a_failed_send_is_sent_again_by_the_retry(world: World, monkeypatch: Any) -> None:
    emails(world)
    request = submitted(world)
    event = request.events.get(action="submitted")
    calls = {"n": 0}
    real = mail.send_mail

    def flaky(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("SMTP server went away")
        return real(*args, **kwargs)

    monkeypatch.setattr("disbursements.services.notifications.send_mail", flaky)
    with pytest.raises(ConnectionError):
        request_event_notify(event_id=event.pk)
    assert Notification.objects.filter(event=event).count() == 0
    assert request_event_notify(event_id=event.pk) == 2


@pytest.mark.worker
def test_a_real_worker_sends_each_notification_once(
    celery_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task run twice by a real worker process: two trustees told, once each."""
    w = make_world("worker")
    emails(w)
    # The submission's own message would go to the default queue, which this worker does not
    # read (and the demo's worker does): queue nothing, send the task to this worker twice.
    with monkeypatch.context() as patch:
        patch.setattr(
            "disbursements.services.requests.request_event_notify_later", lambda event: None
        )
        event = submitted(w).events.get(action="submitted")
    sent = [
        notify_request_event.apply_async(args=[event.pk], queue=celery_worker.queue)
        for _ in range(2)
    ]
    for message in sent:
        wait_for(
            lambda m=message: f"notify_request_event[{m.id}] succeeded" in celery_worker.output(),
            timeout=60,
        )
    assert Notification.objects.filter(event=event).count() == 2
    assert celery_worker.output().count("awaits your decision") == 2  # the console backend
    assert "ERROR" not in celery_worker.output()


def test_a_committed_submission_queues_its_notifications(
    transactional_db: None, settings: Any, tmp_path: Path
) -> None:
    """After the commit the service queues the task (run inline in tests); a transition rolled
    back tells no one."""
    w = make_world("commit")
    emails(w)
    submitted(w)
    assert sorted(m.to[0] for m in mail.outbox) == [
        "person1@example.invalid",
        "person2@example.invalid",
    ]
    with pytest.raises(ValidationError):
        request_reject(request=submitted(w, key="k2"), actor=w.trustee, reason="")
    assert len(mail.outbox) == 4  # the second submission only; the refusal sent nothing
