"""Queueing work by task name after commit (trust.background): the one way services hand work to
Celery without importing a tasks module. The outbox itself: tests/trust/test_outbox.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from celery import shared_task
from django.db import transaction

from trust.background import task_enqueue

pytestmark = pytest.mark.django_db

RAN: list[tuple[int, str]] = []


@shared_task(name="tests.trust.test_background.remember_task")
def remember_task(number: int, *, word: str = "") -> None:
    RAN.append((number, word))


NAME = "tests.trust.test_background.remember_task"


@pytest.fixture(autouse=True)
def _forget() -> None:
    RAN.clear()


def test_task_enqueue_sends_only_after_the_transaction_commits(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        task_enqueue(NAME, 7, word="seven")
        assert RAN == []  # not while the transaction is open
    assert len(callbacks) == 1
    assert RAN == [(7, "seven")]


def test_task_enqueue_sends_nothing_when_the_transaction_rolls_back(
    django_capture_on_commit_callbacks,
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        task_enqueue(NAME, 1)
        raise RuntimeError("the change fails")
    assert callbacks == []
    assert RAN == []


def test_task_enqueue_refuses_an_unknown_task_name_at_once() -> None:
    with pytest.raises(KeyError), transaction.atomic():
        task_enqueue("trust.tasks.no_such_task")


def test_task_enqueue_finds_every_apps_tasks_by_name() -> None:
    from trust.background import _task

    assert _task("reports.tasks.generate_report_task").name == "reports.tasks.generate_report_task"
    assert _task("disbursements.tasks.notify_request_event").name.endswith("notify_request_event")


@pytest.fixture
def sent_to_the_broker() -> Iterator[None]:
    """Tasks go to the broker, as in production (the suite runs them inline)."""
    from config.celery import app

    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True


@pytest.mark.usefixtures("sent_to_the_broker")
def test_task_enqueue_keeps_the_message_when_the_broker_refuses_it(
    django_capture_on_commit_callbacks, monkeypatch, caplog
) -> None:
    from kombu.exceptions import OperationalError

    from trust.background import outbox_drain
    from trust.models import OutboxMessage

    sent: list[tuple[object, object]] = []

    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("broker down")

    monkeypatch.setattr(remember_task, "apply_async", refuse)
    caplog.set_level(logging.WARNING, logger="trust.background")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        task_enqueue(NAME, 3)
    message = OutboxMessage.objects.get()
    assert message.state == OutboxMessage.State.PENDING and message.attempts == 1
    assert message.last_error == "kombu.exceptions.OperationalError"
    assert "could not send tests.trust.test_background.remember_task" in caplog.text

    # The broker is back: the drain sends it, under its own id, once.
    monkeypatch.setattr(remember_task, "apply_async", lambda *a, **k: sent.append((a, k)))
    OutboxMessage.objects.update(next_attempt_at=message.created_at)  # its backoff is over
    assert outbox_drain() == 1
    assert outbox_drain() == 0
    assert len(sent) == 1 and sent[0][0] == ([3], {})
    assert sent[0][1]["task_id"] == str(message.uid)
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT and message.sent_at is not None
