"""Recording runs of the ledger check, so that the nightly result is visible and kept."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from trust.access import alert_emails
from trust.invariants import LedgerReport, ledger_violations
from trust.models import LedgerCheck, Trust

logger = logging.getLogger(__name__)


def ledger_check_run(
    *, trust: Trust | None = None, actor: Any | None = None, operation_id: str | None = None
) -> tuple[LedgerCheck, LedgerReport | None]:
    """Run every invariant check and record the result under ``operation_id``.

    Idempotent: a second call with an operation id that has finished returns the recorded run and
    ``None`` for the report, without checking again (a retried task does nothing twice).
    """
    operation_id = operation_id or uuid.uuid4().hex
    try:
        with transaction.atomic():
            check = LedgerCheck.objects.create(
                operation_id=operation_id, trust=trust, started_at=timezone.now()
            )
    except IntegrityError:
        existing = LedgerCheck.objects.get(operation_id=operation_id)
        if existing.finished_at is not None:
            return existing, None
        check = existing
    report = ledger_violations(trust_id=trust.pk if trust else None)
    check.finished_at = timezone.now()
    check.ok = report.ok
    check.summary = report.summary()
    check.violations = [str(v) for v in report.violations[:500]]
    check.save(update_fields=["finished_at", "ok", "summary", "violations"])
    return check, report


def ledger_check_alert(*, check: LedgerCheck, report: LedgerReport) -> None:
    """Log a failed check and email its first violations to the trustees and auditors of the
    trust checked (of every trust, for a check of them all)."""
    if report.ok:
        return
    logger.error(
        "ledger check %s found %d violation(s)", check.operation_id, len(report.violations)
    )
    recipients = alert_emails(trust=check.trust_id)
    if recipients:
        body = "\n".join(str(v) for v in report.violations[:50])
        send_mail(
            subject=f"Ledger check failed: {len(report.violations)} violation(s)",
            message=f"Check {check.operation_id}:\n{body}",
            from_email=None,
            recipient_list=recipients,
        )
