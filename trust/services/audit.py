"""Writing the audit trail: events in the transaction of the change they record, the sealer that
chains them, and signed checkpoints. docs/audit.md has the design; ``trust.audit_verify`` checks
it all.

An event's ``data`` is canonical JSON (sorted keys, no spaces, ASCII): version, time, trust,
actor, action, object, changes and reason. It never holds identifying data about a child or
anyone else (pseudonyms and ids only): the log is exported to auditors.

Writers only insert events (nothing of the trail is locked: no writer waits for another). The
sealer (``audit_seal_pending``), one at a time, gives the committed events their place and hash
in their chain and their place in the global log; it runs every minute and before every
checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from moneyed import Money

from trust.db import sqlite_sealing
from trust.merkle import frontier_append, frontier_root, frontier_size, leaf_hash
from trust.models import AuditChain, AuditCheckpoint, AuditVerification

VERSION = 1
ZERO = bytes(32)


# --- canonical serialisation ---------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dates and times in ISO 8601 (times in UTC), money as
    ``{"amount": "12.50", "currency": "USD"}``, decimals and UUIDs as strings, sets sorted.
    Floats are refused: nothing near an amount is a float."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise TypeError("no floats in the audit trail: use Decimal or minor units")
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency.code}
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    raise TypeError(f"cannot put a {type(value).__name__} in the audit trail")


def canonical(value: Any) -> bytes:
    """The one serialisation that is hashed: sorted keys, no spaces, ASCII only."""
    return json.dumps(
        jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def canonical_plain(value: Any) -> bytes:
    """``canonical`` for a value built only of str, int, bool, None, lists and dicts (the
    posting service's events, on its hot path): the same bytes, without the conversion pass."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def actor_ref(actor: Any | None) -> dict[str, Any] | None:
    if not getattr(actor, "pk", None):
        return None
    return {"id": actor.pk, "username": actor.get_username()}


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


def chain_key(trust_id: int | None) -> str:
    return f"trust:{trust_id}" if trust_id else AuditChain.GLOBAL


_ZERO_HEAD = bytes(32)


def _chain_heads(cursor: Any, keys: set[str]) -> dict[str, list[Any]]:
    """Key -> [id, length, head] of each chain, opening the ones that do not exist yet."""

    def read() -> dict[str, list[Any]]:
        marks = ", ".join(["%s"] * len(keys))
        cursor.execute(
            f"SELECT key, id, length, head FROM trust_audit_chain WHERE key IN ({marks})",
            list(keys),
        )
        return {key: [pk, length, bytes(head)] for key, pk, length, head in cursor.fetchall()}

    heads = read()
    if len(heads) < len(keys):
        cursor.executemany(
            "INSERT INTO trust_audit_chain (key, length, head) VALUES (%s, 0, %s)"
            " ON CONFLICT (key) DO NOTHING",
            [(key, _ZERO_HEAD) for key in sorted(keys - heads.keys())],
        )
        heads = read()
    return heads


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


# --- sealing ---------------------------------------------------------------------------------

SEAL_BATCH = 5_000


def _lock_the_log(cursor: Any) -> None:
    """One sealer or checkpoint at a time: the global chain's row is the lock (SQLite has one
    writer anyway)."""
    gid = _chain_heads(cursor, {AuditChain.GLOBAL})[AuditChain.GLOBAL][0]
    if connection.vendor == "postgresql":
        cursor.execute("SELECT id FROM trust_audit_chain WHERE id = %s FOR UPDATE", [gid])


def audit_seal_pending(*, limit: int | None = None) -> int:
    """Seal the committed events that are not sealed yet, oldest first (at most ``limit``):
    each gets the next place in its chain and the hash linking it to the one before, and the
    next place in the global log. Returns how many were sealed. Events of transactions still
    running are invisible and sealed by a later run, after the ones sealed now."""
    sealed_now = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_the_log(cursor)
            size = limit - sealed_now if limit is not None else SEAL_BATCH
            cursor.execute(
                "SELECT id, trust_id, data FROM trust_audit_event WHERE hash IS NULL"
                " ORDER BY id LIMIT %s",
                [min(size, SEAL_BATCH)],
            )
            rows = cursor.fetchall()
            if not rows:
                return sealed_now
            cursor.execute("SELECT coalesce(max(sealed), 0) FROM trust_audit_event")
            position = int(cursor.fetchone()[0])
            found = _chain_heads(cursor, {chain_key(trust_id) for _, trust_id, _ in rows})
            ids = sorted(head[0] for head in found.values())
            if connection.vendor == "postgresql":
                marks = ", ".join(["%s"] * len(ids))
                cursor.execute(  # their heads are the sealer's alone while it works
                    f"SELECT id FROM trust_audit_chain WHERE id IN ({marks}) ORDER BY id"
                    " FOR UPDATE",
                    ids,
                )
                found = _chain_heads(cursor, set(found))  # read again under the lock
            heads = {key: [pk, length, head] for key, (pk, length, head) in found.items()}
            seals = []
            sha256 = hashlib.sha256
            for event_id, trust_id, data in rows:
                head = heads[chain_key(trust_id)]
                head[1] += 1
                head[2] = sha256(head[2] + bytes(data)).digest()
                position += 1
                seals.append((head[0], head[1], head[2], position, event_id))
            _write_seals(cursor, seals)
            cursor.executemany(
                "UPDATE trust_audit_chain SET length = %s, head = %s WHERE id = %s",
                [(length, head, pk) for pk, length, head in heads.values()],
            )
        sealed_now += len(rows)
        if limit is not None and sealed_now >= limit:
            return sealed_now


def _write_seals(cursor: Any, seals: list[tuple[int, int, bytes, int, int]]) -> None:
    """(chain, seq, hash, sealed, event id) for each event: the one update the append-only trail
    allows (trust/db.py), once per event."""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL audit.sealing = 'on'")
        for start in range(0, len(seals), 1_000):
            chunk = seals[start : start + 1_000]
            values = ", ".join(["(%s, %s, %s::bytea, %s, %s)"] * len(chunk))
            cursor.execute(
                "UPDATE trust_audit_event e SET chain_id = v.chain, seq = v.seq, hash = v.h,"
                f" sealed = v.sealed FROM (VALUES {values}) AS v(chain, seq, h, sealed, id)"
                " WHERE e.id = v.id",
                [x for seal in chunk for x in seal],
            )
        cursor.execute("SET LOCAL audit.sealing = 'off'")
        return
    with sqlite_sealing():
        cursor.executemany(
            "UPDATE trust_audit_event SET chain_id = %s, seq = %s, hash = %s, sealed = %s"
            " WHERE id = %s",
            seals,
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


# --- signing -------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=4)
def _private_key(encoded: str) -> Ed25519PrivateKey:
    raw = _b64decode(encoded)
    if len(raw) != 32:
        raise ValueError("TRUST_AUDIT_SIGNING_KEY must be 32 bytes, base64url-encoded")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.AUDIT_SIGNING_KEY)


def public_key_bytes() -> bytes:
    from cryptography.hazmat.primitives import serialization

    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def trusted_public_keys() -> list[bytes]:
    """The current public key, then those of earlier signing keys (settings)."""
    return [public_key_bytes(), *(_b64decode(k) for k in settings.AUDIT_PREVIOUS_PUBLIC_KEYS)]


def key_fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def verify_signature(public_key: bytes, signature: bytes, statement: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, statement)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- checkpoints ---------------------------------------------------------------------------


def tree_head_statement(size: int, root: bytes, signed_at: datetime) -> bytes:
    """The bytes a checkpoint signs."""
    return canonical(
        {
            "log": settings.AUDIT_LOG_ID,
            "size": size,
            "root": root.hex(),
            "time": signed_at,
            "v": VERSION,
        }
    )


def audit_checkpoint() -> AuditCheckpoint:
    """Seal what is pending, then sign the tree head of every sealed event (the leaves are the
    events in ``sealed`` order). The previous checkpoint's frontier means only the events sealed
    since are read. Run hourly by Celery beat and on demand; one at a time."""
    audit_seal_pending()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_the_log(cursor)
        last = AuditCheckpoint.objects.order_by("-size", "-id").first()
        frontier = [(int(h), bytes.fromhex(x)) for h, x in (last.frontier if last else [])]
        size = frontier_size(frontier)
        cursor.execute(
            "SELECT data FROM trust_audit_event WHERE sealed > %s ORDER BY sealed", [size]
        )
        while batch := cursor.fetchmany(10_000):
            for (data,) in batch:
                frontier_append(frontier, leaf_hash(bytes(data)))
                size += 1
        root = frontier_root(frontier)
        signed_at = timezone.now()
        statement = tree_head_statement(size, root, signed_at)
        return AuditCheckpoint.objects.create(
            size=size,
            root=root,
            signed_at=signed_at,
            statement=statement,
            signature=signing_key().sign(statement),
            public_key=public_key_bytes(),
            frontier=[[h, node.hex()] for h, node in frontier],
        )


# --- verification runs ---------------------------------------------------------------------

ALERT_GROUPS = ("trustee", "auditor")


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

        def enqueue() -> None:
            from trust.tasks import audit_verify_task

            audit_verify_task.delay(operation_id=run.operation_id)

        transaction.on_commit(enqueue)
    return run


def audit_verification_run(*, operation_id: str) -> AuditVerification:
    """Run (or finish) the verification ``operation_id``: progress is saved as it goes, the
    result recorded in the log and, on failure, emailed to trustees and auditors. A run that
    finished is returned as it is (a task delivered twice verifies once)."""
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mail

    from trust.audit_verify import audit_verify

    run, _ = AuditVerification.objects.get_or_create(operation_id=operation_id)
    if run.status == AuditVerification.Status.DONE:
        return run
    AuditVerification.objects.filter(pk=run.pk).update(
        status=AuditVerification.Status.RUNNING, started_at=timezone.now()
    )

    def progress(done: int, total: int) -> None:
        AuditVerification.objects.filter(pk=run.pk).update(done=done, total=total)

    report = audit_verify(progress=progress)
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
        recipients = list(
            get_user_model()
            .objects.filter(groups__name__in=ALERT_GROUPS, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
            .distinct()
        )
        if recipients:
            send_mail(
                subject=f"Audit trail verification FAILED: {len(report.problems)} problem(s)",
                message=f"Run {run.operation_id}. First problem: {report.first}\n\n"
                + "\n".join(run.problems[:50]),
                from_email=None,
                recipient_list=recipients,
            )
    return run
