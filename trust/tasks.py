"""Background work of the trust app. Tasks take ids, call one service, and return little."""

from __future__ import annotations

from celery import Task, shared_task

from trust.audit.checkpoints import AuditCheckpointRefused, audit_checkpoint_if_grown
from trust.audit.runs import audit_verification_run
from trust.audit.sealing import audit_seal_pending
from trust.background import JobTask, outbox_drain, outbox_purge
from trust.models import Trust
from trust.services.checks import ledger_check_alert, ledger_check_run
from trust.services.notices import majority_notify


@shared_task(base=JobTask, bind=True)
def check_ledger_task(
    self: Task, operation_id: str | None = None, trust_id: int | None = None
) -> dict:
    """Check every ledger invariant; on failure tell the trustees and auditors by email.

    Without an operation id (the nightly schedule) the message's own task id serves: a message
    delivered twice (late acknowledgement after a lost worker) records one check, not two.
    """
    operation_id = operation_id or self.request.id
    trust = Trust.objects.get(pk=trust_id) if trust_id else None
    check, report = ledger_check_run(trust=trust, operation_id=operation_id)
    if report is not None:
        ledger_check_alert(check=check, report=report)
    return {"operation_id": check.operation_id, "ok": check.ok, **check.summary}


@shared_task(base=JobTask)
def audit_seal_task() -> dict:
    """Seal the events written since the last run (``audit_checkpoint_task`` seals too; this one
    stays for schedules that still name it). Running twice seals nothing twice: an event is sealed
    once, under one lock."""
    return {"sealed": audit_seal_pending()}


@shared_task(base=JobTask)
def audit_checkpoint_task() -> dict:
    """Celery beat, every minute: seal new events and, if there are any, sign and witness a tree
    head. Two runs at once take turns (one lock). A refusal (the log does not extend the last
    witnessed head) has already been alerted: it is returned, not raised again every minute."""
    try:
        checkpoint = audit_checkpoint_if_grown()
    except AuditCheckpointRefused as refused:
        return {"checkpoint": None, "refused": str(refused)}
    if checkpoint is None:
        return {"checkpoint": None}
    return {"checkpoint": checkpoint.pk, "size": checkpoint.size}


@shared_task(base=JobTask, bind=True)
def audit_verify_task(self: Task, operation_id: str | None = None) -> dict:
    """Verify the audit trail (nightly, or queued by an auditor); alerts on failure. The
    operation id (the message's own id for the nightly run) makes a redelivery verify once."""
    run = audit_verification_run(operation_id=operation_id or self.request.id)
    return {"operation_id": run.operation_id, "ok": run.ok, **run.summary}


@shared_task(base=JobTask)
def notify_majority_task() -> int:
    """Celery beat, daily: tell trustees of children reaching majority within 90 days (each
    person once per child and date, however often this runs)."""
    return majority_notify()


@shared_task(base=JobTask)
def idempotency_purge_task() -> int:
    """Celery beat, daily: forget the API's kept responses older than 48 hours."""
    from trust.api.idempotency import idempotency_purge

    return idempotency_purge()


# Not retried: beat runs the next one within OUTBOX_DRAIN_SECONDS.
@shared_task(base=JobTask, autoretry_for=(), max_retries=0)
def outbox_drain_task() -> int:
    """Celery beat, every ``OUTBOX_DRAIN_SECONDS``: send the outbox's messages that the broker
    refused at commit (or whose sender died), oldest first. Two runs at once send each once."""
    return outbox_drain()


@shared_task(base=JobTask)
def outbox_purge_task() -> int:
    """Celery beat, daily: delete the outbox's rows sent more than ``OUTBOX_KEEP_DAYS`` ago."""
    return outbox_purge()
