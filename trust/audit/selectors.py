"""Reads of the audit trail for the auditor's pages: events filtered and decoded from their hashed
bytes, the actions recorded, the latest signed checkpoint."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from trust.audit.models import AuditCheckpoint, AuditEvent
from trust.audit.readable import Summary, summarise


@dataclass(frozen=True)
class AuditRow:
    """An event as the auditor's page shows it: decoded from its hashed bytes, not its columns."""

    id: int
    chain: str
    seq: int | None
    sealed: bool
    data: dict

    @property
    def summary(self) -> Summary:
        changes = self.data.get("changes")
        return summarise(changes if isinstance(changes, dict) else {"value": changes})


def audit_event_list(
    *,
    events: QuerySet[AuditEvent] | None = None,
    trust_id: int | None = None,
    action: str = "",
    actor: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet:
    """``events`` (the ones the reader may see: ``trust.access.visible_audit_events``), newest
    first, filtered by trust, action (prefix), actor (username), dates."""
    events = (AuditEvent.objects.all() if events is None else events).order_by("-id")
    if trust_id:
        events = events.filter(trust_id=trust_id)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        ids = get_user_model().objects.filter(username=actor).values_list("pk", flat=True)
        events = events.filter(actor_id__in=list(ids))
    if since:
        events = events.filter(at__date__gte=since)
    if until:
        events = events.filter(at__date__lte=until)
    return events


def audit_rows(events: Iterable) -> list[AuditRow]:
    return [
        AuditRow(
            id=e.pk,
            chain=f"trust:{e.trust_id}" if e.trust_id else "global",
            seq=e.seq,
            sealed=e.hash is not None,
            data=json.loads(bytes(e.data)),
        )
        for e in events
    ]


def audit_actions(events: QuerySet[AuditEvent] | None = None) -> list[str]:
    """The actions recorded among ``events`` (all by default), for the filter."""
    events = AuditEvent.objects.all() if events is None else events
    return list(events.order_by("action").values_list("action", flat=True).distinct())


def checkpoint_latest() -> AuditCheckpoint | None:
    """The signed tree head of the largest log, if any."""
    return AuditCheckpoint.objects.order_by("-size", "-id").first()
