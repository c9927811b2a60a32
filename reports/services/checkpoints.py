"""Which audit checkpoint a document is built on, and whether its period is closed."""

from __future__ import annotations

import json
from datetime import date

from reports.periods import Period
from trust.audit.checkpoints import audit_checkpoint
from trust.models import AuditCheckpoint, AuditEvent, Trust


def period_closed(trust: Trust, period: Period) -> bool:
    return trust.lock_date is not None and period.end <= trust.lock_date


def _lock_event(trust: Trust, period_end: date) -> AuditEvent | None:
    """The event that closed the period: the first lock-date change to on or after its end."""
    for event in AuditEvent.objects.filter(
        trust_id=trust.pk, action="trust.lock_date_set"
    ).order_by("id"):
        after = json.loads(bytes(event.data))["changes"].get("lock_date", {}).get("after")
        if after and date.fromisoformat(after) >= period_end:
            return event
    return None


def report_checkpoint(*, trust: Trust, period: Period) -> tuple[AuditCheckpoint, bool]:
    """The checkpoint a document of ``period`` is built on, and whether the period is closed.

    Closed period (on or before the trust's lock date): the first checkpoint that covers the
    event that closed it, signing one if none does yet; nothing in the period can change after
    that event, so the same checkpoint serves every later generation and the code is the same.
    Open period: the latest checkpoint (one is signed if there is none)."""
    closed = period_closed(trust, period)
    if closed:
        event = _lock_event(trust, period.end)
        if event is not None:
            if event.sealed is None:
                audit_checkpoint()  # seals it first
                event.refresh_from_db(fields=["sealed"])
            found = (
                AuditCheckpoint.objects.filter(size__gte=event.sealed)
                .order_by("size", "id")
                .first()
            )
            if found is None:
                found = audit_checkpoint()
            return found, True
    latest = AuditCheckpoint.objects.order_by("-size", "-id").first()
    return (latest or audit_checkpoint()), closed
