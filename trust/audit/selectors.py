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
    size: int = 0  # bytes of the record
    whole: bool = True  # False: ``changes`` was too large to decode for a list

    @property
    def summary(self) -> Summary:
        if not self.whole:
            return Summary([("Changes", f"{self.size / 1024:,.0f} KiB recorded")], more=True)
        changes = self.data.get("changes")
        return summarise(changes if isinstance(changes, dict) else {"value": changes})


# A list decodes an event whole up to this size; beyond it, everything but its ``changes``.
LIST_DECODE_BYTES = 8 * 1024


def _decode_for_list(data: bytes) -> tuple[dict, bool]:
    """The event's record, decoded from its hashed bytes. A large one (a receipt shared among
    thousands of children) is decoded without its ``changes``: the record is canonical JSON
    (keys sorted: action, actor, at, changes, object, reason, trust, v; quotes inside strings
    escaped), so the text before the first ``,"changes":`` and after the last ``,"object":``
    are themselves its other fields."""
    if len(data) <= LIST_DECODE_BYTES:
        return json.loads(data), True
    start = data.find(b',"changes":')
    end = data.rfind(b',"object":')
    if start < 0 or end < start:
        return json.loads(data), True
    head = json.loads(data[:start] + b"}")
    tail = json.loads(b"{" + data[end + 1 :])
    return {**head, **tail}, False


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


def audit_rows(events: Iterable, *, whole: bool = False) -> list[AuditRow]:
    """Events as the pages show them; for a list (``whole=False``) a large event's ``changes``
    stay undecoded (its own page shows them)."""
    rows = []
    for e in events:
        data = bytes(e.data)
        decoded, complete = (json.loads(data), True) if whole else _decode_for_list(data)
        rows.append(
            AuditRow(
                id=e.pk,
                chain=f"trust:{e.trust_id}" if e.trust_id else "global",
                seq=e.seq,
                sealed=e.hash is not None,
                data=decoded,
                size=len(data),
                whole=complete,
            )
        )
    return rows


def audit_actions(events: QuerySet[AuditEvent] | None = None) -> list[str]:
    """The actions recorded among ``events`` (all by default), for the filter."""
    events = AuditEvent.objects.all() if events is None else events
    return list(events.order_by("action").values_list("action", flat=True).distinct())


def checkpoint_latest() -> AuditCheckpoint | None:
    """The signed tree head of the largest log, if any."""
    return AuditCheckpoint.objects.order_by("-size", "-id").first()
