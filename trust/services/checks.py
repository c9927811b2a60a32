"""Recording runs of the ledger check, so that the nightly result is visible and kept."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from trust.invariants import LedgerReport, ledger_violations
from trust.models import LedgerCheck, Trust


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
