"""Workers killed with SIGKILL at random moments, again and again, while they generate reports and
send notifications: afterwards every requested document exists once, every notification was
delivered once, and the ledger check and the audit verification pass (issue 24).

Real processes on the real services: four ``celery -A config worker`` (prefork, one pool process
each) on PostgreSQL and Redis, fed by a thread that keeps a backlog of reports and submitted
requests. A kill takes either the pool process in the middle of a task (the worker puts the
message back: ``acks_late`` with ``reject_on_worker_lost``) or, one time in ten, the whole worker,
which is started again (no one puts its message back: Redis redelivers it after the visibility
timeout, seconds here: tests/fault_settings.py). The random moments come from a seed printed on
failure; ``TEST_KILL_SEED`` replays the choices and ``TEST_KILL_SECONDS`` sets the time budget.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from disbursements.models import Notification, RequestEvent
from disbursements.services import request_draft, request_event_notify, request_submit
from disbursements.services.notifications import notification_message_id
from reports.models import Kind, Report
from reports.periods import Period
from reports.services import report_request
from tests.conftest import service_missing
from tests.disbursements.test_requests import make_world, submitted, usd, user
from tests.factories import appoint
from tests.fault_mailbox import mailbox
from tests.processes import CeleryWorker, broker_unfinished, private_queue, process_env
from trust.audit.checkpoints import audit_checkpoint
from trust.models import AuditEvent, FailedJob, OutboxMessage

KILLS = 50  # at least this many, within the time budget
BUDGET = float(os.environ.get("TEST_KILL_SECONDS", "75"))
DRAIN = 60  # seconds for the workers to finish once the kills stop
BACKLOG = 6  # messages kept waiting during the kills
TRUSTEES = 8  # each submitted request tells every one: a message and a transaction each
NOTIFY = "disbursements.tasks.notify_request_event"
GENERATE = "reports.tasks.generate_report_task"


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("TEST_KILL_SEED", str(time.time_ns() % 10**9)))


@pytest.fixture
def queue(broker: str, seed: int) -> Iterator[tuple[redis.Redis, str]]:
    """The test's own queue on Redis (redelivery after a kill is Redis's, not the filesystem
    transport's), sent to by this process, and nothing of it left afterwards."""
    if not broker.startswith("redis://"):
        service_missing("redis", "CELERY_BROKER_URL=redis://127.0.0.1:6379/10 (redelivery)")
    client = redis.Redis.from_url(broker)
    with private_queue(client, f"test-kills-{seed}") as name:
        yield client, name
    client.close()


@pytest.mark.postgres
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_killed_workers_make_each_document_and_send_each_notification_once(
    postgres_tx: None,
    queue: tuple[redis.Redis, str],
    seed: int,
    settings: Any,
    tmp_path: Path,
) -> None:
    client, name = queue
    rng = random.Random(seed)
    settings.MEDIA_ROOT = tmp_path / "media"
    letters = tmp_path / "mailbox"
    letters.mkdir()

    w = make_world("kills")
    trustees = [w.trustee, w.trustee2] + [
        appoint(user(f"trustee{n}kills"), w.trust) for n in range(3, TRUSTEES + 1)
    ]
    for n, person in enumerate(trustees):
        person.email = f"trustee{n}@example.invalid"
        person.save(update_fields=["email"])
    # Documents of an open period are built on the latest checkpoint: sign one now, so that the
    # workers only read checkpoints (signing one under faults is the witness's business).
    audit_checkpoint()
    today = timezone.localdate()
    period = Period(today - timedelta(days=30), today)
    asks = [
        {"kind": Kind.BENEFICIARY_STATEMENT, "beneficiary": w.mv1, "period": period},
        {"kind": Kind.COURT_ACCOUNT, "period": period},
        {"kind": Kind.ORDER_STATUS},
        {"kind": Kind.AUDIT_CERTIFICATE},
    ]
    reports: list[int] = []
    requests: list[int] = []

    def ask() -> None:
        """One document and one submitted disbursement request (its notifications): each is
        queued through the outbox when its transaction commits."""
        n = len(reports)
        reports.append(report_request(trust=w.trust, actor=w.trustee, **asks[n % len(asks)]).pk)
        draft = request_draft(
            actor=w.caseworker,
            beneficiary=w.mv1,
            category="education",
            amount=usd("1.00"),
            purpose="School fees",
            idempotency_key=f"kills-{n}",
        )
        requests.append(request_submit(request=draft, actor=w.caseworker).pk)

    stop = threading.Event()
    faults: list[BaseException] = []

    def produce() -> None:
        """Keep a backlog, so that a pool process always has a task to be killed in."""
        try:
            while not stop.is_set():
                if client.llen(name) < BACKLOG:
                    ask()
                else:
                    time.sleep(0.02)
        except BaseException as error:
            faults.append(error)
        finally:
            connection.close()

    env = process_env(TEST_MAILBOX_DIR=str(letters), TEST_CELERY_QUEUE=name)
    workers = [CeleryWorker(label, name, tmp_path, env) for label in "abcd"]
    producer = threading.Thread(target=produce, daemon=True)
    kills = Counter[str]()
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        producer.start()
        started = time.monotonic()
        while sum(kills.values()) < KILLS and time.monotonic() < started + BUDGET:
            # A random moment in the middle of a task.
            killable = [worker for worker in workers if worker.killable()]
            if not killable:
                time.sleep(0.02)
                continue
            worker = rng.choice(killable)
            time.sleep(rng.uniform(0.05, 0.5))
            if not worker.killable():
                continue
            if rng.random() < 0.1:
                worker.kill()
                worker.start()
                kills["worker"] += 1
            elif worker.kill_pool_process():
                kills["pool process"] += 1
        elapsed = time.monotonic() - started
        stop.set()
        producer.join()
        assert not faults, faults
        interrupted = sum((worker.tasks_killed() for worker in workers), Counter[str]())
        summary = (
            f"seed {seed}: {sum(kills.values())} kills in {elapsed:.0f} s {dict(kills)},"
            f" tasks interrupted {dict(interrupted)}; {len(reports)} reports and"
            f" {len(requests)} requests asked"
        )
        assert sum(kills.values()) >= KILLS, f"{summary}: fewer than {KILLS} in {BUDGET:.0f} s"

        # Left alone, the workers finish everything: Redis gives back what the dead ones held.
        expected = len(requests) * len(trustees)

        def left() -> dict[str, int]:
            return {
                "reports not done": Report.objects.filter(pk__in=reports)
                .exclude(status=Report.Status.DONE)
                .count(),
                "notifications not sent": expected - Notification.objects.count(),
                "messages unfinished": broker_unfinished(client, name),
                "outbox pending": OutboxMessage.objects.filter(
                    state=OutboxMessage.State.PENDING
                ).count(),
                "failed jobs": FailedJob.objects.count(),
            }

        deadline = time.monotonic() + DRAIN
        while any(left().values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(left().values()), f"{summary}: not drained in {DRAIN} s: {left()}"
    finally:
        stop.set()
        if producer.is_alive():
            producer.join()
        for worker in workers:
            worker.stop()

    assert interrupted[GENERATE] >= 1 and interrupted[NOTIFY] >= 1, summary
    for worker in workers:
        assert not worker.errors(), summary

    # Every requested document once: one row each, done, one stored PDF, one audit event.
    done = Report.objects.filter(pk__in=reports)
    assert Report.objects.count() == len(reports) == len(set(reports))
    assert set(done.values_list("status", flat=True)) == {Report.Status.DONE}
    stored = sorted(
        p.relative_to(settings.MEDIA_ROOT).as_posix()
        for p in Path(settings.MEDIA_ROOT).rglob("*.pdf")
    )
    assert stored == sorted(done.values_list("file", flat=True))
    for report in done:
        with report.file.open("rb") as handle:
            assert handle.read(5) == b"%PDF-"
    generated = Counter(
        AuditEvent.objects.filter(action="report.generated").values_list("object_id", flat=True)
    )
    assert sorted(generated) == sorted(str(r.uid) for r in done)
    assert set(generated.values()) == {1}

    # Every notification once: one row per request and trustee, and one message each. A worker
    # killed after the mail server took a message and before its commit sends it again when the
    # task comes back (no SMTP client can do better): the same message, under its one
    # Message-ID, which mail systems show once. Counted, and only ever after such a kill.
    events = RequestEvent.objects.filter(request_id__in=requests, action="submitted")
    assert events.count() == len(requests)
    assert Notification.objects.count() == expected
    wanted = {
        (person.email, f"Disbursement request #{event.request_id} awaits your decision"): {
            notification_message_id(event, person)
        }
        for event in events.select_related("request")
        for person in trustees
    }
    delivered = mailbox(letters)
    received: dict[tuple[str, str], set[str]] = defaultdict(set)
    for to, subject, message_id in delivered:
        received[(to, subject)].add(message_id)
    resent = len(delivered) - len(received)
    print(f"{summary}; {resent} message(s) sent again under their Message-ID")  # with -s
    assert received == wanted, summary
    assert resent <= interrupted[NOTIFY], summary

    call_command("check_ledger")
    call_command("verify_audit")


@pytest.mark.django_db
def test_a_notification_sent_again_is_the_same_message(settings: Any) -> None:
    """The row of a notification whose commit was lost (the worker died after the mail server
    took the message): sent again, it is the same message, under the same Message-ID."""
    settings.DEFAULT_FROM_EMAIL = "Trust Ledger <ledger@trust.example>"
    w = make_world("again")
    w.trustee.email, w.trustee2.email = "t1@example.invalid", "t2@example.invalid"
    w.trustee.save(update_fields=["email"])
    w.trustee2.save(update_fields=["email"])
    event = submitted(w).events.get(action="submitted")
    assert request_event_notify(event_id=event.pk) == 2
    first = {m.to[0]: m.message()["Message-ID"] for m in mail.outbox}
    Notification.objects.filter(event=event).delete()  # as if the commit had not happened
    assert request_event_notify(event_id=event.pk) == 2
    again = {m.to[0]: m.message()["Message-ID"] for m in mail.outbox[2:]}
    assert (
        first
        == again
        == {
            person.email: notification_message_id(event, person)
            for person in (w.trustee, w.trustee2)
        }
    )
    assert all(value.endswith("@trust.example>") for value in again.values())
    assert len(set(again.values())) == 2
