"""``check_ledger_task``: the nightly ledger check, run eagerly and by a real Celery worker.

Each run is recorded as a ``LedgerCheck`` under its operation id; a second run with the same id
returns the recorded result without checking again. When the check fails, the task emails the
active trustees and auditors. The worker tests send to a private queue of the configured broker
(Redis under ``make test-postgres``, kombu's filesystem transport otherwise) and wait for the row.
"""

from __future__ import annotations

import logging

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone

from config.celery import app as celery_app
from tests.conftest import wait_for
from tests.factories import appoint
from trust.demo import seed_demo_trust
from trust.models import LedgerCheck, Trust
from trust.tasks import check_ledger_task

WORKER_TIMEOUT = 60


def break_balance(trust: Trust, code: str = "2100-MV-1", by: int = 1) -> None:
    """Change an account's stored balance behind the posting service's back."""
    acc = trust.accounts.get(code=code)
    type(acc).objects.filter(pk=acc.pk).update(balance_minor=acc.balance_minor + by)


def run_eagerly(**kwargs: object) -> dict:
    return check_ledger_task.apply(kwargs=kwargs).get()


@pytest.fixture
def demo(db) -> Trust:
    return seed_demo_trust(beneficiaries=2, months=2, seed=21).trust


@pytest.fixture
def staff(django_user_model, demo):
    """Who is told about a failed check: the demo trust's active trustees and auditors with an
    email address (a caseworker, someone inactive or without an address: not them)."""

    def user(username: str, role: str, email: str, active: bool = True):
        u = django_user_model.objects.create_user(
            username=username, email=email, is_active=True, password=None
        )
        if role != "caseworker":
            appoint(u, demo, role)
        if not active:
            u.is_active = False
            u.save(update_fields=["is_active"])
        return u

    user("trustee-1", "trustee", "trustee-1@demo.invalid")
    user("auditor-1", "auditor", "auditor-1@demo.invalid")
    user("auditor-2", "auditor", "auditor-2@demo.invalid")
    user("caseworker-1", "caseworker", "caseworker-1@demo.invalid")
    user("trustee-gone", "trustee", "trustee-gone@demo.invalid", active=False)
    user("trustee-nomail", "trustee", "")
    return ["auditor-1@demo.invalid", "auditor-2@demo.invalid", "trustee-1@demo.invalid"]


# --- eager ---------------------------------------------------------------------------------------


def test_clean_ledger_is_recorded_as_ok(demo, staff, mailoutbox):
    result = run_eagerly(operation_id="op-clean")

    check = LedgerCheck.objects.get()
    assert check.operation_id == "op-clean"
    assert check.ok is True
    assert check.trust is None
    assert check.finished_at is not None
    assert check.started_at <= check.finished_at <= timezone.now()
    assert check.violations == []
    assert check.summary == {
        "trusts": 1,
        "accounts": demo.accounts.count(),
        "entries": demo.entries.count(),
        "postings": check.summary["postings"],
        "violations": 0,
    }
    assert check.summary["postings"] > check.summary["entries"]
    assert result == {"operation_id": "op-clean", "ok": True, **check.summary}
    assert mailoutbox == []


def test_without_operation_id_each_run_gets_its_own(demo):
    first = run_eagerly()
    second = run_eagerly()
    assert first["operation_id"] != second["operation_id"]
    assert LedgerCheck.objects.count() == 2


def test_same_operation_id_records_one_check_and_does_not_check_again(demo, staff, mailoutbox):
    first = run_eagerly(operation_id="op-twice")
    break_balance(demo)  # would fail a fresh check; a retried task must not run it
    second = run_eagerly(operation_id="op-twice")

    assert second == first
    check = LedgerCheck.objects.get()
    assert (check.operation_id, check.ok) == ("op-twice", True)
    assert mailoutbox == []
    # A new operation sees the damage.
    assert run_eagerly(operation_id="op-after")["ok"] is False


def test_unfinished_check_with_the_same_operation_id_is_completed(demo):
    """A worker that died mid-check leaves an unfinished row; the retry finishes that row."""
    LedgerCheck.objects.create(operation_id="op-crashed", started_at=timezone.now())
    result = run_eagerly(operation_id="op-crashed")
    check = LedgerCheck.objects.get()
    assert check.finished_at is not None
    assert check.ok is True
    assert result["ok"] is True


def test_broken_ledger_records_violations_and_tells_trustees_and_auditors(
    demo, staff, mailoutbox, caplog
):
    break_balance(demo, "2100-MV-2", by=250)
    with caplog.at_level(logging.ERROR, logger="trust.tasks"):
        result = run_eagerly(operation_id="op-broken")

    check = LedgerCheck.objects.get()
    assert check.ok is False
    assert result["ok"] is False
    assert result["violations"] == check.summary["violations"] == 2
    assert [v.split("]")[0] + "]" for v in check.violations] == [
        "[stored-balance]",
        "[trust-identity]",
    ]
    assert check.violations[0].startswith(
        f"[stored-balance] account 2100-MV-2 (trust #{demo.pk}): stored "
    )
    assert check.violations[1].endswith("(difference -250)")
    assert "ledger check op-broken found 2 violation(s)" in caplog.text

    [mail] = mailoutbox
    assert mail.subject == "Ledger check failed: 2 violation(s)"
    assert sorted(mail.to) == staff  # not the caseworker, the inactive one or the one without email
    assert mail.body.splitlines() == ["Check op-broken:", *check.violations]
    assert demo.caption not in mail.body


def test_broken_ledger_without_anyone_to_tell_still_records(demo, mailoutbox):
    break_balance(demo)
    assert run_eagerly(operation_id="op-nobody")["ok"] is False
    assert LedgerCheck.objects.get().ok is False
    assert mailoutbox == []


def test_check_of_one_trust(demo, mailoutbox):
    other = seed_demo_trust(beneficiaries=1, months=1, seed=22).trust
    break_balance(other)
    result = run_eagerly(operation_id="op-one", trust_id=demo.pk)
    check = LedgerCheck.objects.get()
    assert check.trust == demo
    assert check.ok is True
    assert result["trusts"] == 1
    assert result["accounts"] == demo.accounts.count()
    assert run_eagerly(trust_id=other.pk)["ok"] is False


def test_unknown_trust_raises_and_records_nothing(demo):
    missing = Trust.objects.order_by("-pk").first().pk + 1000
    with pytest.raises(Trust.DoesNotExist):
        check_ledger_task.apply(kwargs={"operation_id": "op-missing", "trust_id": missing}).get()
    assert not LedgerCheck.objects.exists()


# --- the nightly schedule ------------------------------------------------------------------------


def test_beat_schedule_names_the_nightly_check():
    entry = settings.CELERY_BEAT_SCHEDULE["check-ledger-nightly"]
    assert entry["task"] == check_ledger_task.name == "trust.tasks.check_ledger_task"
    assert entry["task"] in celery_app.tasks  # the worker knows the task by that name
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert (schedule.hour, schedule.minute) == ({2}, {15})
    assert len(schedule.day_of_week) == 7
    assert len(schedule.day_of_month) == 31
    assert len(schedule.month_of_year) == 12
    assert celery_app.conf.beat_schedule["check-ledger-nightly"]["task"] == entry["task"]
    assert celery_app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


def test_database_scheduler_installs_the_nightly_check(transactional_db):
    """Beat keeps its schedule in the database: starting it writes the nightly check there.
    (Real commits: the scheduler closes old connections, which would end a test transaction.)"""
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    scheduler = DatabaseScheduler(app=celery_app)
    scheduler._finalize.cancel()  # no sync at interpreter exit, after the test database is gone
    task = PeriodicTask.objects.get(name="check-ledger-nightly")
    assert task.task == "trust.tasks.check_ledger_task"
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("15", "2")
    assert (task.crontab.day_of_week, task.crontab.day_of_month) == ("*", "*")
    assert str(task.crontab.timezone) == settings.CELERY_TIMEZONE
    assert "check-ledger-nightly" in scheduler.schedule


# --- a real worker --------------------------------------------------------------------------------


def finished(operation_id: str) -> LedgerCheck | None:
    return LedgerCheck.objects.filter(operation_id=operation_id, finished_at__isnull=False).first()


def succeeded(worker, task_id: str) -> bool:
    return f"check_ledger_task[{task_id}] succeeded" in worker.output()


@pytest.mark.worker
def test_worker_records_the_check_once_per_operation(celery_worker):
    demo = seed_demo_trust(beneficiaries=2, months=2, seed=23).trust
    sent = [
        check_ledger_task.apply_async(
            kwargs={"operation_id": "op-worker", "trust_id": demo.pk}, queue=celery_worker.queue
        )
        for _ in range(2)
    ]
    check = wait_for(lambda: finished("op-worker"), timeout=WORKER_TIMEOUT)
    for message in sent:
        wait_for(lambda m=message: succeeded(celery_worker, m.id), timeout=WORKER_TIMEOUT)

    assert LedgerCheck.objects.filter(operation_id="op-worker").count() == 1
    assert check.ok is True
    assert check.trust_id == demo.pk
    assert check.summary["entries"] == demo.entries.count()
    assert "ERROR" not in celery_worker.output()


@pytest.mark.worker
def test_worker_records_violations_and_mails_them(celery_worker, django_user_model):
    demo = seed_demo_trust(beneficiaries=2, months=2, seed=24).trust
    user = django_user_model.objects.create_user(
        username="trustee-1", email="trustee-1@demo.invalid", password=None
    )
    appoint(user, demo)
    break_balance(demo, "1000-BANK", by=-1)

    message = check_ledger_task.apply_async(
        kwargs={"operation_id": "op-worker-broken"}, queue=celery_worker.queue
    )
    check = wait_for(lambda: finished("op-worker-broken"), timeout=WORKER_TIMEOUT)
    wait_for(lambda: succeeded(celery_worker, message.id), timeout=WORKER_TIMEOUT)

    assert check.ok is False
    assert check.summary["violations"] == 2
    assert check.violations[0].startswith(
        f"[stored-balance] account 1000-BANK (trust #{demo.pk}): stored "
    )
    assert check.violations[1].startswith(f"[trust-identity] trust #{demo.pk} USD: ")
    log = celery_worker.output()
    assert "ledger check op-worker-broken found 2 violation(s)" in log
    # The worker's email backend is the console one: the message is in its log.
    assert "Subject: Ledger check failed: 2 violation(s)" in log
    assert demo.caption not in log


def test_redelivered_scheduled_check_records_one_check(demo):
    """The nightly schedule passes no operation id: the message's task id stands in, so the same
    message delivered twice (late acknowledgement after a lost worker) checks once."""
    first = check_ledger_task.apply(task_id="nightly-2026-11-25").get()
    again = check_ledger_task.apply(task_id="nightly-2026-11-25").get()
    assert first["operation_id"] == again["operation_id"] == "nightly-2026-11-25"
    assert LedgerCheck.objects.filter(operation_id="nightly-2026-11-25").count() == 1
    check_ledger_task.apply(task_id="nightly-2026-11-26").get()
    assert LedgerCheck.objects.count() == 2
