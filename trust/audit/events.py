"""Recording audit events: in the transaction of the change they record, never on their own.

An event's ``data`` is canonical JSON (``trust.audit.canonical``): version, time, trust, actor,
action, object, changes and reason. It never holds identifying data about a child or anyone else
(pseudonyms and ids only): the log is exported to auditors.

Writers only insert events (nothing of the trail is locked: no writer waits for another). The
sealer (``trust.audit.sealing``) later gives the committed events their place and hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from trust.audit.canonical import VERSION, actor_ref, canonical, canonical_plain, jsonable


@dataclass(frozen=True)
class AuditSpec:
    """One event to record."""

    action: str
    trust_id: int | None = None
    actor: Any | None = None
    object_type: str = ""
    object_id: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    plain: bool = False  # changes hold only JSON-native values: skip the conversion pass

    def data(self, at: datetime) -> bytes:
        return (canonical_plain if self.plain else canonical)(
            {
                "v": VERSION,
                "at": jsonable(at),
                "trust": self.trust_id,
                "actor": actor_ref(self.actor),
                "action": self.action,
                "object": {"type": self.object_type, "id": self.object_id},
                "changes": self.changes,
                "reason": self.reason,
            }
        )


_INSERT = (
    "INSERT INTO trust_audit_event (at, trust_id, actor_id, action, object_type, object_id, data)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


# --- writing events ------------------------------------------------------------------------


def audit_record_many(specs: Sequence[AuditSpec], *, at: datetime | None = None) -> None:
    """Record events, in order, inside the caller's transaction (refused outside one: an event
    must commit or roll back with its change). ``at`` defaults to now. One raw statement,
    whatever the number of events: the sealer finds the chain from the trust."""
    if not specs:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of their change")
    at = at or timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(at)
    rows = [
        (
            stamp,
            spec.trust_id,
            getattr(spec.actor, "pk", None),
            spec.action,
            spec.object_type,
            str(spec.object_id),
            spec.data(at),
        )
        for spec in specs
    ]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            # psycopg's executemany pipelines: for one row a plain execute is one round trip.
            cursor.execute(_INSERT, rows[0])
        else:
            cursor.executemany(_INSERT, rows)


def audit_insert_raw(
    *,
    trust_id: int | None,
    actor_id: int | None,
    at: datetime,
    action: str,
    object_type: str,
    data: bytes,
    object_id: str = "",
) -> None:
    """One event whose canonical bytes the caller built (the posting service, whose PostgreSQL
    function writes the same bytes itself)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of their change")
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                connection.ops.adapt_datetimefield_value(at),
                trust_id,
                actor_id,
                action,
                object_type,
                object_id,
                data,
            ],
        )


def audit_record(
    *,
    action: str,
    actor: Any | None,
    trust_id: int | None = None,
    object_type: str = "",
    object_id: Any = "",
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> None:
    """Record one event in the caller's transaction; see ``audit_record_many``."""
    audit_record_many(
        [
            AuditSpec(
                action=action,
                trust_id=trust_id,
                actor=actor,
                object_type=object_type,
                object_id=str(object_id),
                changes=changes or {},
                reason=reason,
            )
        ]
    )
