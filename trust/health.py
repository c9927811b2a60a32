"""Health of the installation, read for ``/readyz``, ``manage.py healthcheck`` and ``/metrics``
(docs/operations.md, "Health checks" and "Metrics").

Every reading goes to the database or the broker when it is asked for: nothing here is kept in the
process, so any web process answers the same. A check says ``ok``, ``warn`` (the site serves, an
operator should look) or ``fail`` (this process cannot do its work: the load balancer should send
no traffic); a check that could not be made because another failed says ``skipped``. What a check
reports is states, ages, counts and operation ids: never a child's data, never a secret.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import redis
from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.utils import load_backend
from django.utils import timezone

from trust.audit.models import AuditCheckpoint, AuditEvent, AuditVerification
from trust.audit.selectors import checkpoint_latest, checkpoint_status
from trust.models import JournalEntry, LedgerCheck, Posting

OK, WARN, FAIL, SKIPPED = "ok", "warn", "fail", "skipped"
# The checks that decide readiness (a failure is HTTP 503); the others can only warn.
READINESS = ("database", "broker")


@dataclass(frozen=True)
class Check:
    """One check's state and what an operator needs to act on it (``detail`` is a sentence)."""

    state: str
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            **({"detail": self.detail} if self.detail else {}),
            **self.facts,
        }


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, Check]

    @property
    def status(self) -> str:
        states = {check.state for check in self.checks.values()}
        return FAIL if FAIL in states else WARN if WARN in states else OK

    def as_dict(self, *, details: bool) -> dict[str, Any]:
        """Everything (the command, a caller with the metrics token), or the states alone."""
        if details:
            return {
                "status": self.status,
                "checks": {n: c.as_dict() for n, c in self.checks.items()},
            }
        return {"status": self.status, "checks": {n: c.state for n, c in self.checks.items()}}


def _timeout() -> float:
    return float(settings.HEALTH_TIMEOUT)


def _error(exc: BaseException) -> str:
    """The error's kind and first line: drivers name the host and port, never a password."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:200]


def _ms(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


# --- readiness: the database and the broker --------------------------------------------------


def database_check() -> Check:
    """A new connection with a short connect timeout, ``SELECT 1``, closed again.

    New, so that a server that stopped answering is found within the timeout rather than after
    the operating system's; SQLite is opened read-write without creating a file that is not
    there."""
    start = time.monotonic()
    params = dict(connection.settings_dict)
    options = dict(params.get("OPTIONS") or {})
    if connection.vendor == "postgresql":
        options["connect_timeout"] = max(2, round(_timeout()))  # libpq's least
    elif connection.vendor == "sqlite":
        name = str(params["NAME"])
        if not name.startswith("file:") and name != ":memory:":
            params["NAME"] = f"file:{quote(name)}?mode=rw"
        options["timeout"] = _timeout()
    params["OPTIONS"] = options
    probe = load_backend(params["ENGINE"]).DatabaseWrapper(params, alias="health")
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver's refusal, timeout or missing file
        return Check(FAIL, _error(exc), {"ms": _ms(start)})
    finally:
        probe.close()
    return Check(OK, facts={"vendor": connection.vendor, "ms": _ms(start)})


def _redis_client() -> redis.Redis:
    t = _timeout()
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=t, socket_timeout=t
    )


def broker_transport() -> str:
    return settings.CELERY_BROKER_URL.split("://", 1)[0] or "unknown"


def broker_check() -> Check:
    """Redis answers ``PING``; the filesystem broker's queue folder exists and can be written;
    any other broker takes a connection."""
    start = time.monotonic()
    transport = broker_transport()
    try:
        if transport in ("redis", "rediss"):
            _redis_client().ping()
        elif transport == "filesystem":
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
            if not os.access(folder, os.W_OK | os.X_OK):
                return Check(FAIL, "the queue folder is missing or cannot be written")
        else:
            with current_app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=_timeout())
    except Exception as exc:  # the broker refused, timed out, or its client failed
        return Check(FAIL, _error(exc), {"transport": transport, "ms": _ms(start)})
    return Check(OK, facts={"transport": transport, "ms": _ms(start)})


# --- warnings: the worker, the audit trail, the nightly checks ---------------------------------


def worker_check() -> Check:
    """A Celery ``ping`` broadcast: ok when at least one worker answers within the timeout (a
    ``-P solo`` worker busy with a long task cannot answer until it is done). The filesystem
    broker carries the broadcast too (kombu's fanout through its control folder)."""
    start = time.monotonic()
    try:
        answers = current_app.control.ping(timeout=min(_timeout(), 1.0), limit=1)
    except Exception as exc:  # the broker went away between the two checks
        return Check(WARN, _error(exc), {"ms": _ms(start)})
    if not answers:
        return Check(WARN, "no worker answered", {"ms": _ms(start)})
    return Check(OK, facts={"workers_answered": len(answers), "ms": _ms(start)})


def checkpoint_check() -> Check:
    """The audit trail's signed state (``checkpoint_status``): late when events have waited
    longer than ``CHECKPOINT_LATE`` for a checkpoint (beat or the worker is not running, or
    signing is refused); the witness holding a larger head means checkpoints were rolled back."""
    status = checkpoint_status()
    facts = {
        "age_seconds": round(status.age.total_seconds()) if status.age is not None else None,
        "uncovered_events": status.uncovered,
        "size": status.checkpoint.size if status.checkpoint else 0,
    }
    if status.witness_behind:
        return Check(WARN, "the witness holds a larger head than the database", facts)
    if status.late:
        return Check(WARN, "events are waiting for a checkpoint", facts)
    return Check(OK, facts=facts)


def _run_check(run: LedgerCheck | AuditVerification | None, what: str, **extra: Any) -> Check:
    if run is None:
        return Check(WARN, f"no {what} has finished yet")
    age = timezone.now() - run.finished_at
    facts = {
        "operation_id": run.operation_id,
        "finished_at": run.finished_at.isoformat(),
        "age_seconds": round(age.total_seconds()),
        "ok": run.ok,
        **extra,
    }
    if not run.ok:
        return Check(WARN, f"the last {what} found problems", facts)
    if age > timedelta(hours=settings.HEALTH_NIGHTLY_MAX_HOURS):
        return Check(WARN, f"the last {what} is older than the nightly schedule allows", facts)
    return Check(OK, facts=facts)


def _last_ledger_check() -> LedgerCheck | None:
    return (
        LedgerCheck.objects.filter(trust__isnull=True, finished_at__isnull=False)
        .order_by("-finished_at")
        .first()
    )


def _last_audit_verification() -> AuditVerification | None:
    return (
        AuditVerification.objects.filter(status=AuditVerification.Status.DONE)
        .exclude(finished_at=None)
        .order_by("-finished_at")
        .first()
    )


def ledger_check_check() -> Check:
    """The last finished ledger check of every trust (the nightly one, or ``check_ledger``
    without ``--trust``): it passed, within ``HEALTH_NIGHTLY_MAX_HOURS``."""
    run = _last_ledger_check()
    return _run_check(run, "ledger check", violations=len(run.violations) if run else 0)


def audit_verification_check() -> Check:
    """The last finished verification of the audit trail (nightly, or an auditor's)."""
    return _run_check(_last_audit_verification(), "audit verification")


CHECKS: dict[str, Callable[[], Check]] = {
    "database": database_check,
    "broker": broker_check,
    "worker": worker_check,
    "audit_checkpoint": checkpoint_check,
    "ledger_check": ledger_check_check,
    "audit_verification": audit_verification_check,
}
NEEDS_DATABASE = ("audit_checkpoint", "ledger_check", "audit_verification")


def health_report(*, readiness_only: bool = False) -> HealthReport:
    """Run the checks (only ``READINESS`` with ``readiness_only``): one that needs the database
    or the broker is skipped when that failed; a database error in a warning check is a
    warning."""
    checks: dict[str, Check] = {}
    for name, run in CHECKS.items():
        if readiness_only and name not in READINESS:
            continue
        if name in NEEDS_DATABASE and checks["database"].state == FAIL:
            checks[name] = Check(SKIPPED, "the database is unreachable")
            continue
        if name == "worker" and checks["broker"].state == FAIL:
            checks[name] = Check(SKIPPED, "the broker is unreachable")
            continue
        try:
            checks[name] = run()
        except DatabaseError as exc:
            checks[name] = Check(WARN, _error(exc))
    return HealthReport(checks)


# --- readings for /metrics -------------------------------------------------------------------


def _last_id(model: Any) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@dataclass(frozen=True)
class BooksReading:
    """Cheap figures for a scrape: each an index read, never a count of the ledger's rows.

    Entries and postings are never deleted, so the highest id grows with each one written (a
    rolled-back transaction leaves a gap): its rate is postings per second. The unsealed events
    are counted on their partial index (``audit_event_unsealed``), which holds only them."""

    last_entry_id: int
    last_posting_id: int
    unsealed_events: int
    checkpoint_age_seconds: float | None
    ledger_check_age_seconds: float | None
    ledger_check_ok: bool | None
    audit_verification_age_seconds: float | None
    audit_verification_ok: bool | None


def books_reading() -> BooksReading:
    now = timezone.now()
    checkpoint: AuditCheckpoint | None = checkpoint_latest()
    ledger = _last_ledger_check()
    verification = _last_audit_verification()
    return BooksReading(
        last_entry_id=_last_id(JournalEntry),
        last_posting_id=_last_id(Posting),
        unsealed_events=AuditEvent.objects.filter(hash__isnull=True).count(),
        checkpoint_age_seconds=(now - checkpoint.signed_at).total_seconds() if checkpoint else None,
        ledger_check_age_seconds=(now - ledger.finished_at).total_seconds() if ledger else None,
        ledger_check_ok=ledger.ok if ledger else None,
        audit_verification_age_seconds=(
            (now - verification.finished_at).total_seconds() if verification else None
        ),
        audit_verification_ok=verification.ok if verification else None,
    )


def broker_queue_depths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue on Redis (kombu keeps one list per queue and
    priority step); ``None`` for any other broker (the filesystem broker's folder is not
    counted)."""
    if broker_transport() not in ("redis", "rediss"):
        return None
    queues = {current_app.conf.task_default_queue}
    queues |= {q.name for q in (current_app.conf.task_queues or ())}
    client = _redis_client()
    depths = {}
    for queue in sorted(queues):
        keys = [queue, *(f"{queue}\x06\x16{step}" for step in range(1, 10))]
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.llen(key)
            depths[queue] = sum(pipe.execute())
    return depths
