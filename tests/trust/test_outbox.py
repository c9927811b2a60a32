"""No lost work (trust.background): the transactional outbox, the drain, bounded retries and the
failed jobs trustees see and retry. The broker tests run a real ``redis-server`` this test starts
and stops, and a real Celery worker."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import kombu.pools
import pytest
from celery import shared_task
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.celery import app
from reports.models import Kind, Report
from reports.services import report_request
from tests.conftest import CI, wait_for
from tests.disbursements.test_requests import make_world
from tests.factories import TrustFactory, appoint, person
from trust.audit.runs import audit_verification_start
from trust.background import (
    JobTask,
    failed_job_record,
    outbox_drain,
    outbox_pending,
    outbox_purge,
    outbox_send,
    task_enqueue,
)
from trust.models import AuditEvent, FailedJob, OutboxMessage
from trust.roles import AUDITOR, TRUSTEE

CHILD = "Invented Maria Childname"  # what a careless exception might quote
TRIES: list[int] = []


@shared_task(base=JobTask, name="tests.trust.test_outbox.always_failing_task")
def always_failing_task(report_id: int) -> None:
    TRIES.append(report_id)
    raise ConnectionError(f"the mail server refused the message about {CHILD}")


@shared_task(base=JobTask, name="tests.trust.test_outbox.buggy_task")
def buggy_task(report_id: int) -> None:
    TRIES.append(report_id)
    raise ValueError(f"cannot read {CHILD}")


@pytest.fixture(autouse=True)
def _forget() -> None:
    TRIES.clear()


@pytest.fixture
def sent_to_the_broker() -> Iterator[None]:
    """Tasks go to the broker, as in production (the suite runs them inline)."""
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True


# --- the outbox ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_outbox_row_and_sends_nothing(
    django_capture_on_commit_callbacks,
) -> None:
    w = make_world()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        report_request(kind=Kind.ORDER_STATUS, trust=w.trust, actor=w.trustee)
        assert OutboxMessage.objects.count() == 1  # written in the transaction
        raise RuntimeError("the request fails after asking")
    assert callbacks == []
    assert not OutboxMessage.objects.exists()
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_a_committed_request_is_sent_at_commit_and_marked_sent(
    django_capture_on_commit_callbacks,
) -> None:
    w = make_world()
    with django_capture_on_commit_callbacks(execute=True):
        report = report_request(kind=Kind.ORDER_STATUS, trust=w.trust, actor=w.trustee)
    message = OutboxMessage.objects.get()
    assert message.state == OutboxMessage.State.SENT and message.attempts == 1
    assert message.task_name == "reports.tasks.generate_report_task"
    assert message.args == [report.pk, None] and message.trust_id == w.trust.pk
    report.refresh_from_db()
    assert report.status == Report.Status.DONE  # eager here: the task ran at commit


@pytest.mark.django_db
@pytest.mark.usefixtures("sent_to_the_broker")
def test_a_claimed_row_is_not_sent_by_another_sender_until_its_lease_ends(
    monkeypatch, django_capture_on_commit_callbacks
) -> None:
    published: list[str] = []
    monkeypatch.setattr("trust.background._publish", lambda m: published.append(str(m.uid)))
    with django_capture_on_commit_callbacks(execute=True):
        message = task_enqueue("trust.tasks.idempotency_purge_task")
    assert published == [str(message.uid)]
    # A sender claimed this one and died before publishing it.
    stuck = OutboxMessage.objects.create(task_name="trust.tasks.idempotency_purge_task")
    OutboxMessage.objects.filter(pk=stuck.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=60), attempts=1
    )
    assert outbox_send([stuck.pk, message.pk]) == 0 and outbox_drain() == 0
    OutboxMessage.objects.filter(pk=stuck.pk).update(next_attempt_at=timezone.now())
    assert outbox_drain() == 1
    assert published == [str(message.uid), str(stuck.uid)]
    assert outbox_pending() == 0


@pytest.mark.django_db
def test_the_purge_deletes_only_rows_sent_long_ago(settings) -> None:
    settings.OUTBOX_KEEP_DAYS = 7
    old = timezone.now() - timedelta(days=8)
    sent_long_ago = OutboxMessage.objects.create(task_name="x", state="sent", sent_at=old)
    sent_lately = OutboxMessage.objects.create(task_name="x", state="sent", sent_at=timezone.now())
    waiting = OutboxMessage.objects.create(task_name="x")
    OutboxMessage.objects.filter(pk=waiting.pk).update(created_at=old)
    assert outbox_purge() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {sent_lately.pk, waiting.pk}
    assert not OutboxMessage.objects.filter(pk=sent_long_ago.pk).exists()


@pytest.mark.usefixtures("postgres_tx", "sent_to_the_broker")
def test_two_drains_at_once_send_each_row_once(monkeypatch) -> None:
    messages = OutboxMessage.objects.bulk_create(
        OutboxMessage(task_name="trust.tasks.idempotency_purge_task") for _ in range(200)
    )
    published: list[str] = []
    lock = threading.Lock()

    def publish(message: OutboxMessage) -> None:
        with lock:
            published.append(str(message.uid))

    monkeypatch.setattr("trust.background._publish", publish)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            barrier.wait()
            while outbox_drain(limit=7):
                pass
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(published) == sorted(str(m.uid) for m in messages)  # each once
    assert outbox_pending() == 0


# --- bounded retries and failed jobs ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_task_that_always_fails_stops_after_max_tries_and_leaves_one_failed_job() -> None:
    w = make_world()
    with transaction.atomic():
        task_enqueue("tests.trust.test_outbox.always_failing_task", 41, trust=w.trust)
    assert TRIES == [41] * (always_failing_task.max_retries + 1) == [41] * 6
    job = FailedJob.objects.get()
    assert (job.task_name, job.args, job.trust_id, job.state) == (
        "tests.trust.test_outbox.always_failing_task",
        [41],
        w.trust.pk,
        FailedJob.State.FAILED,
    )
    assert job.attempts == 6 and job.error_class == "builtins.ConnectionError"
    assert CHILD not in job.summary and "refused" not in job.summary
    assert OutboxMessage.objects.get().state == OutboxMessage.State.SENT  # it was delivered

    # It fails again later (a schedule, another request): the open job counts it.
    with transaction.atomic():
        task_enqueue("tests.trust.test_outbox.always_failing_task", 41, trust=w.trust)
    job.refresh_from_db()
    assert FailedJob.objects.count() == 1 and job.occurrences == 2


@pytest.mark.django_db(transaction=True)
def test_a_task_failing_on_a_bug_is_not_retried() -> None:
    with transaction.atomic():
        task_enqueue("tests.trust.test_outbox.buggy_task", 7)
    assert TRIES == [7]
    job = FailedJob.objects.get()
    assert job.trust_id is None and job.attempts == 1 and job.error_class == "builtins.ValueError"
    assert CHILD not in job.summary


@pytest.mark.django_db(transaction=True)
def test_retry_from_the_page_sends_the_task_again_through_the_outbox() -> None:
    w = make_world()
    with transaction.atomic():
        task_enqueue("tests.trust.test_outbox.always_failing_task", 5, trust=w.trust)
    job = FailedJob.objects.get()
    TRIES.clear()
    client = Client()
    client.force_login(w.trustee)
    page = client.get(reverse("failed-jobs", kwargs={"trust_id": w.trust.pk}))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Always failing" in text and "builtins.ConnectionError" in text and CHILD not in text

    response = client.post(reverse("failed-job-retry", kwargs={"job_id": job.pk}))
    assert response.status_code == 302
    assert response["Location"] == reverse("failed-jobs", kwargs={"trust_id": w.trust.pk})
    job.refresh_from_db()
    assert job.state == FailedJob.State.RETRIED and job.resolved_by == w.trustee
    again = OutboxMessage.objects.get(uid=job.retry_task_id)
    assert (again.task_name, again.args, again.trust_id) == (job.task_name, [5], w.trust.pk)
    assert TRIES == [5] * 6  # sent at commit, and failed again: a new open job
    assert FailedJob.objects.filter(state=FailedJob.State.FAILED).count() == 1
    event = AuditEvent.objects.get(action="job.retried")
    assert event.trust_id == w.trust.pk and event.object_id == str(job.pk)

    # Retried twice (a double click): nothing more is sent.
    client.post(reverse("failed-job-retry", kwargs={"job_id": job.pk}))
    assert OutboxMessage.objects.count() == 2 and TRIES == [5] * 6


@pytest.mark.django_db
def test_dismissing_closes_the_job_without_running_it() -> None:
    w = make_world()
    job = _failed_job(w.trust)
    client = Client()
    client.force_login(w.trustee)
    response = client.post(reverse("failed-job-dismiss", kwargs={"job_id": job.pk}))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == FailedJob.State.DISMISSED and not OutboxMessage.objects.exists()
    assert AuditEvent.objects.filter(action="job.dismissed", trust_id=w.trust.pk).count() == 1


def _failed_job(
    trust: Any, task: str = "reports.tasks.generate_report_task", args: Any = (999, None)
) -> FailedJob:
    return failed_job_record(
        task_name=task,
        task_id="abc",
        args=list(args),
        kwargs={},
        error=OperationalError(f"server closed the connection while reading {CHILD}"),
        attempts=6,
        trust=trust,
    )


def test_every_task_of_the_apps_has_bounded_retries_and_records_failures() -> None:
    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if name.split(".")[0] in APPS]
    assert len(ours) >= 12
    for task in ours:
        assert isinstance(task, JobTask), task.name
        assert task.max_retries is not None and task.max_retries <= 5, task.name
        assert task.acks_late, task.name


APPS = ("trust", "disbursements", "reports")


# --- who sees and acts --------------------------------------------------------------------------


@pytest.mark.django_db
def test_caseworkers_find_no_failed_jobs_and_auditors_cannot_retry_them() -> None:
    w = make_world()
    job = _failed_job(w.trust)
    auditor = person("auditor-jobs", AUDITOR, w.trust)
    other_trustee = person("trustee-elsewhere", TRUSTEE, TrustFactory())
    page = reverse("failed-jobs", kwargs={"trust_id": w.trust.pk})
    retry = reverse("failed-job-retry", kwargs={"job_id": job.pk})
    dismiss = reverse("failed-job-dismiss", kwargs={"job_id": job.pk})

    def as_user(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    caseworker = as_user(w.caseworker)
    assert caseworker.get(page).status_code == 404
    assert caseworker.post(retry).status_code == 404
    assert caseworker.get(reverse("failed-jobs-all")).status_code == 403

    auditor_client = as_user(auditor)
    seen = auditor_client.get(page)
    assert seen.status_code == 200 and "Retry</button>" not in seen.content.decode()
    assert auditor_client.post(retry).status_code == 403
    assert auditor_client.post(dismiss).status_code == 403

    elsewhere = as_user(other_trustee)
    assert elsewhere.get(page).status_code == 404 and elsewhere.post(retry).status_code == 404
    listing = elsewhere.get(reverse("failed-jobs-all"))
    assert listing.status_code == 200 and "No failed jobs." in listing.content.decode()

    job.refresh_from_db()
    assert job.state == FailedJob.State.FAILED and not OutboxMessage.objects.exists()
    assert "Retry</button>" in as_user(w.trustee).get(page).content.decode()


@pytest.mark.django_db
def test_a_job_of_no_trust_is_for_who_holds_the_role_in_every_trust() -> None:
    w = make_world()
    job = _failed_job(None, task="trust.tasks.check_ledger_task", args=())
    other = TrustFactory()
    retry = reverse("failed-job-retry", kwargs={"job_id": job.pk})
    client = Client()
    client.force_login(w.trustee)  # a trustee of one trust of two
    assert client.get(reverse("failed-jobs-all")).status_code == 200
    assert "Check ledger" not in client.get(reverse("failed-jobs-all")).content.decode()
    assert client.post(retry).status_code == 404

    auditor_all = appoint(person("auditor-all-jobs", AUDITOR, w.trust), other, AUDITOR)
    client.force_login(auditor_all)
    listing = client.get(reverse("failed-jobs-all"))
    assert listing.status_code == 200 and "Check ledger" in listing.content.decode()
    assert client.post(retry).status_code == 403  # reads them all, retries none

    appoint(w.trustee, other, TRUSTEE)  # now a trustee of every trust
    client.force_login(w.trustee)
    assert client.post(retry).status_code == 302
    job.refresh_from_db()
    assert job.state == FailedJob.State.RETRIED
    assert OutboxMessage.objects.get().task_name == "trust.tasks.check_ledger_task"


# --- the real broker and worker -----------------------------------------------------------------


def _redis_server_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if found is None:
        message = "needs redis-server (apt-get install redis-server): it is started by the test"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


class RedisServer:
    """A ``redis-server`` of this test alone, on a free port, started and stopped at will."""

    def __init__(self, binary: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self.answers, timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None
        assert not self.answers()


def _use_broker(url: str) -> None:
    """Point this process's Celery app at ``url`` (its connection pools start over: kombu keeps
    them by broker, so they are all closed and forgotten, as after a fork)."""
    app.conf.broker_url = url
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis_server(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    server = RedisServer(_redis_server_binary())
    server.start()
    before = app.conf.broker_url
    settings.CELERY_BROKER_URL = server.url  # what the ``celery_worker`` fixture is given
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)  # Celery reads it before its settings
    _use_broker(server.url)
    try:
        yield server
    finally:
        _use_broker(before)
        server.stop()


# The worker's line for a task run that ended (config/logs.py), or Celery's own.
_finished = re.compile(r"\b(SUCCESS|FAILURE|RETRY|succeeded|raised|retry)\b")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_work_asked_for_while_the_broker_is_down_is_done_once_when_it_is_back(
    redis_server: RedisServer, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_world()
    redis_server.stop()
    # Requests that enqueue work, each committing while the broker is unreachable.
    reports = [
        report_request(kind=Kind.ORDER_STATUS, trust=w.trust, actor=w.trustee) for _ in range(4)
    ]
    verification = audit_verification_start(actor=None)
    messages = list(OutboxMessage.objects.order_by("pk"))
    assert len(messages) == 5
    assert all(m.state == OutboxMessage.State.PENDING and m.attempts == 1 for m in messages), [
        (m.state, m.attempts, m.last_error) for m in messages
    ]
    assert all(m.last_error.startswith("kombu.exceptions.") for m in messages), messages
    assert outbox_drain() == 0  # still down (or backing off): nothing sent, nothing lost
    assert {r.status for r in Report.objects.all()} == {Report.Status.QUEUED}

    redis_server.start()
    monkeypatch.setenv("LOG_FORMAT", "json")  # the worker's line per task run names its id
    worker = request.getfixturevalue("celery_worker")
    app.conf.task_default_queue = worker.queue
    try:
        wait_for(lambda: outbox_drain() is not None and outbox_pending() == 0, timeout=30)
    finally:
        app.conf.task_default_queue = "celery"
    wait_for(lambda: not Report.objects.exclude(status=Report.Status.DONE).exists(), timeout=120)
    wait_for(lambda: type(verification).objects.get(pk=verification.pk).status == "done", 60)
    assert Report.objects.count() == len(reports)
    assert AuditEvent.objects.filter(action="report.generated").count() == len(reports)
    # Each message was run by the worker once, under its outbox id, and never retried.
    log = worker.output().splitlines()
    for message in messages:
        runs = [line for line in log if str(message.uid) in line and _finished.search(line)]
        assert len(runs) == 1 and "SUCCESS" in runs[0], (message.task_name, runs)
    assert not FailedJob.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_records_a_task_that_fails_as_a_failed_job(celery_worker) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    app.conf.task_default_queue = celery_worker.queue
    try:
        task_enqueue("disbursements.tasks.notify_request_event", 987654, trust=w.trust)
    finally:
        app.conf.task_default_queue = "celery"
    try:
        job = wait_for(lambda: FailedJob.objects.first(), timeout=60)
    except pytest.fail.Exception:
        pytest.fail(f"no failed job recorded; the worker said:\n{celery_worker.output()[-3000:]}")
    assert job.task_name == "disbursements.tasks.notify_request_event" and job.args == [987654]
    assert job.trust_id == w.trust.pk and job.attempts == 1  # not found: no use retrying
    assert job.error_class.endswith("DoesNotExist")
