"""Verification runs (``verify_audit --deep``): an auditor's request (queued for a worker once it
commits) or the nightly schedule, with progress saved as it goes, the result recorded in the log
and, on failure, emailed to trustees and auditors."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from trust.access import alert_emails
from trust.audit.events import audit_record
from trust.audit.models import AuditVerification
from trust.audit.verify import audit_verify
from trust.background import task_enqueue


def audit_verification_start(*, actor: Any | None) -> AuditVerification:
    """Queue a verification of the whole trail (the auditor's button): recorded, with who asked,
    and handed to a worker once the transaction commits."""
    with transaction.atomic():
        run = AuditVerification.objects.create(
            operation_id=uuid.uuid4().hex,
            requested_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_record(
            action="audit.verification_requested",
            actor=actor,
            object_type="audit_verification",
            object_id=run.operation_id,
        )

        task_enqueue("trust.tasks.audit_verify_task", operation_id=run.operation_id)
    return run


def audit_verification_run(*, operation_id: str) -> AuditVerification:
    """Run (or finish) the verification ``operation_id``: progress is saved as it goes, the
    result recorded in the log and, on failure, emailed to trustees and auditors. A run that
    finished is returned as it is (a task delivered twice verifies once)."""
    run, _ = AuditVerification.objects.get_or_create(operation_id=operation_id)
    if run.status == AuditVerification.Status.DONE:
        return run
    AuditVerification.objects.filter(pk=run.pk).update(
        status=AuditVerification.Status.RUNNING, started_at=timezone.now()
    )

    def progress(done: int, total: int) -> None:
        AuditVerification.objects.filter(pk=run.pk).update(done=done, total=total)

    # Deep: the columns pages and reports filter on (time, trust, actor, action, object) are
    # checked against the hashed bytes too, every night (about 40,000 events/s on PostgreSQL).
    report = audit_verify(progress=progress, deep=True)
    with transaction.atomic():
        run = AuditVerification.objects.select_for_update().get(pk=run.pk)
        run.status, run.finished_at, run.ok = (
            AuditVerification.Status.DONE,
            timezone.now(),
            report.ok,
        )
        run.done = run.total = report.events
        run.summary = {
            "events": report.events,
            "leaves": report.leaves,
            "pending": report.pending,
            "checkpoints": report.checkpoints,
            "chains": report.chains,
            "witnessed": report.witnessed,
        }
        run.problems = [str(p) for p in report.problems]
        run.save()
        audit_record(
            action="audit.verified",
            actor=run.requested_by,
            object_type="audit_verification",
            object_id=run.operation_id,
            changes={"ok": report.ok, **run.summary, "first_problem": str(report.first or "")},
        )
    if not report.ok:
        recipients = alert_emails()
        if recipients:
            send_mail(
                subject=f"Audit trail verification FAILED: {len(report.problems)} problem(s)",
                message=f"Run {run.operation_id}. First problem: {report.first}\n\n"
                + "\n".join(run.problems[:50]),
                from_email=None,
                recipient_list=recipients,
            )
    return run
