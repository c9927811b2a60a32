"""Queueing work by task name after commit (trust.background): the one way services hand work to
Celery without importing a tasks module."""

from __future__ import annotations

import logging

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


def test_task_enqueue_logs_a_broker_failure_and_keeps_the_change(
    django_capture_on_commit_callbacks, monkeypatch, caplog
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(remember_task, "apply_async", refuse)
    caplog.set_level(logging.ERROR, logger="trust.background")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        task_enqueue(NAME, 3)
    assert RAN == []
    assert "could not queue tests.trust.test_background.remember_task" in caplog.text
