"""Failed background jobs (``trust.background``): a trustee sends one again, or dismisses it.
Both are recorded in the audit trail (``job.retried``, ``job.dismissed``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from trust.access import can_resolve_failed_job
from trust.audit.events import audit_record
from trust.background import task_enqueue
from trust.models import FailedJob, OutboxMessage


def _resolve(*, actor: Any, job: FailedJob, state: str) -> bool:
    """Move ``job`` from failed to ``state`` (compare-and-set: a double click, or two trustees
    at once, finds it done and changes nothing). Returns whether this call moved it."""
    if not can_resolve_failed_job(actor, job):
        raise ValidationError(
            "Only the trust's trustees retry or dismiss its failed jobs.", code="not_allowed"
        )
    return bool(
        FailedJob.objects.filter(pk=job.pk, state=FailedJob.State.FAILED).update(
            state=state, resolved_by=actor, resolved_at=timezone.now()
        )
    )


def failed_job_retry(*, actor: Any, job: FailedJob) -> OutboxMessage | None:
    """Send ``job``'s task again, with the same arguments, through the outbox (so once the
    transaction commits; the task is idempotent, so work it finished before failing is not done
    twice). Returns the new message, or ``None`` if the job was retried or dismissed already.
    Refuses one who may not (``ValidationError``) and a task that no longer exists."""
    with transaction.atomic(durable=True):
        if not _resolve(actor=actor, job=job, state=FailedJob.State.RETRIED):
            return None
        try:
            message = task_enqueue(job.task_name, *job.args, trust=job.trust_id, **job.kwargs)
        except KeyError:
            raise ValidationError(
                "This task no longer exists: dismiss the job instead.", code="unknown_task"
            ) from None
        FailedJob.objects.filter(pk=job.pk).update(retry_task_id=str(message.uid))
        audit_record(
            action="job.retried",
            actor=actor,
            trust_id=job.trust_id,
            object_type="failed_job",
            object_id=job.pk,
            changes={"task": job.task_name, "task_id": str(message.uid)},
        )
    return message


def failed_job_dismiss(*, actor: Any, job: FailedJob) -> bool:
    """Close ``job`` without running it again (the work was done another way, or is no longer
    wanted). Returns whether this call dismissed it."""
    with transaction.atomic(durable=True):
        if not _resolve(actor=actor, job=job, state=FailedJob.State.DISMISSED):
            return False
        audit_record(
            action="job.dismissed",
            actor=actor,
            trust_id=job.trust_id,
            object_type="failed_job",
            object_id=job.pk,
            changes={"task": job.task_name},
        )
    return True
