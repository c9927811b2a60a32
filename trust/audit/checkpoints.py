"""Checkpoints: signed tree heads of the sealed log (RFC 9162), every minute when new events exist
and on demand. A checkpoint fixes the log up to its size: a later rewrite changes a root that the
signature covers. Each head is also witnessed outside the database (``trust.audit.witness``), and
a head that does not extend the last one witnessed is refused: deleting or rolling back
checkpoints cannot get a rewritten log signed with the real key."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from trust.access import alert_emails
from trust.audit.events import audit_record
from trust.audit.keys import (
    public_key_bytes,
    signing_key,
    tree_head_statement,
    trusted_public_keys,
    verify_signature,
)
from trust.audit.merkle import (
    Frontier,
    frontier_append,
    frontier_root,
    frontier_size,
    leaf_hash,
)
from trust.audit.models import AuditCheckpoint
from trust.audit.sealing import audit_seal_pending, lock_the_log
from trust.audit.witness import (
    WitnessedHead,
    witness_latest,
    witness_mail,
    witness_read,
    witness_write,
    witnessed_heads,
)

logger = logging.getLogger(__name__)

# One alert per distinct refusal per this many seconds (the schedule retries every minute).
ALERT_EVERY = 3600


class AuditCheckpointRefused(Exception):
    """The log in the database does not extend what was signed and witnessed before: no new head
    is signed until someone finds out why (docs/audit.md, "The witness")."""


def frontier_of(checkpoint: AuditCheckpoint) -> Frontier:
    return [(int(height), bytes.fromhex(node)) for height, node in checkpoint.frontier]


def checkpoint_faults(checkpoint: AuditCheckpoint, keys: list[bytes] | None = None) -> list[str]:
    """What is wrong with ``checkpoint`` on its own: a key not trusted, a signature that does not
    verify, columns that do not say what the signed statement says, or a ``frontier`` (stored
    unsigned) that does not give the signed root and size. Empty if nothing."""
    keys = trusted_public_keys() if keys is None else keys
    faults = []
    statement, public_key = bytes(checkpoint.statement), bytes(checkpoint.public_key)
    if public_key not in keys:
        faults.append("signed with a key that is not trusted")
    elif not verify_signature(public_key, bytes(checkpoint.signature), statement):
        faults.append("its signature does not verify")
    try:
        said = json.loads(statement)
    except ValueError:
        said = {}
    if (said.get("size"), said.get("root"), said.get("log")) != (
        checkpoint.size,
        bytes(checkpoint.root).hex(),
        settings.AUDIT_LOG_ID,
    ):
        faults.append("its columns do not say what its signed statement says")
    try:
        frontier = frontier_of(checkpoint)
        derived = (frontier_size(frontier), frontier_root(frontier).hex())
    except (TypeError, ValueError):
        derived = None
    if derived != (said.get("size"), said.get("root")):
        faults.append(
            "its frontier does not give its signed size and root: it was edited (the next"
            " checkpoint would sign a wrong root)"
        )
    return faults


def _leaves_from(cursor: Any, frontier: Frontier, size: int, stop: int | None = None) -> int:
    """Append the sealed events after ``size`` to ``frontier`` in log order (up to ``stop``),
    refusing a gap; returns the new size."""
    cursor.execute(
        "SELECT sealed, data FROM trust_audit_event WHERE sealed > %s"
        + (" AND sealed <= %s" if stop is not None else "")
        + " ORDER BY sealed",
        [size] if stop is None else [size, stop],
    )
    while batch := cursor.fetchmany(10_000):
        for position, data in batch:
            if position != size + 1:
                raise AuditCheckpointRefused(
                    f"log position {size + 1} is missing (the next sealed event is at"
                    f" {position}): an event was deleted"
                )
            frontier_append(frontier, leaf_hash(bytes(data)))
            size += 1
    return size


def _start(cursor: Any, last: AuditCheckpoint | None, witnessed: WitnessedHead | None) -> Frontier:
    """The frontier the next head grows from, after checking that it extends both the database's
    latest checkpoint and the last head witnessed; raises ``AuditCheckpointRefused`` if not."""
    if last is not None:
        faults = checkpoint_faults(last)
        if faults:
            raise AuditCheckpointRefused(
                f"the latest checkpoint #{last.pk} (size {last.size}): {'; '.join(faults)}"
            )
    if witnessed is None:
        return frontier_of(last) if last is not None else []
    if last is None or last.size < witnessed.size:
        raise AuditCheckpointRefused(
            f"the {witnessed.label} is not in the database, whose latest checkpoint is"
            f" {f'of size {last.size}' if last else 'none'}: checkpoints were deleted or the"
            " database was rolled back"
        )
    if last.size == witnessed.size:
        if bytes(last.root) != witnessed.root:
            raise AuditCheckpointRefused(
                f"checkpoint #{last.pk} (size {last.size}) has root {bytes(last.root).hex()}, the"
                f" {witnessed.label} another: the checkpoints were replaced"
            )
        return frontier_of(last)
    # The database has checkpoints the store never saw (the store was added or emptied): read the
    # log from the start, so that the new head is proved to extend the witnessed one.
    frontier: Frontier = []
    size = _leaves_from(cursor, frontier, 0, stop=witnessed.size)
    if size < witnessed.size or frontier_root(frontier) != witnessed.root:
        raise AuditCheckpointRefused(
            f"the log's first {witnessed.size} events do not give the root of the"
            f" {witnessed.label}: they were changed or cut"
        )
    size = _leaves_from(cursor, frontier, size, stop=last.size)
    if size != last.size or frontier_root(frontier) != bytes(last.root):
        raise AuditCheckpointRefused(
            f"the log's first {last.size} events do not give the root of checkpoint"
            f" #{last.pk}: they were changed or cut"
        )
    return frontier


def audit_checkpoint() -> AuditCheckpoint:
    """Seal what is pending, then sign the tree head of every sealed event (the leaves are the
    events in ``sealed`` order) and witness it; on demand (``manage.py audit_checkpoint``, a
    report that needs one). One at a time.

    Only the events sealed since the latest checkpoint are read: its ``frontier`` (stored, not
    signed) is used only if it gives the signed root. Refused, with an alert to trustees and
    auditors (``AuditCheckpointRefused``), when the latest checkpoint is not intact or the log
    does not extend the last head witnessed (checkpoints deleted or rolled back)."""
    checkpoint = _sign(only_if_grown=False)
    if checkpoint is None:  # only_if_grown=False always signs
        raise RuntimeError("no checkpoint signed")
    return checkpoint


def audit_checkpoint_if_grown() -> AuditCheckpoint | None:
    """``audit_checkpoint``, but only when events were sealed since the latest checkpoint (the
    schedule, every minute): None when there is nothing new to sign."""
    return _sign(only_if_grown=True)


def _sign(*, only_if_grown: bool) -> AuditCheckpoint | None:
    audit_seal_pending()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            lock_the_log(cursor)
            last = AuditCheckpoint.objects.order_by("-size", "-id").first()
            if only_if_grown and last is not None:
                cursor.execute("SELECT coalesce(max(sealed), 0) FROM trust_audit_event")
                if int(cursor.fetchone()[0]) == last.size:
                    return None
            frontier = _start(cursor, last, witness_latest())
            size = _leaves_from(cursor, frontier, frontier_size(frontier))
            root = frontier_root(frontier)
            signed_at = timezone.now()
            statement = tree_head_statement(size, root, signed_at)
            checkpoint = AuditCheckpoint.objects.create(
                size=size,
                root=root,
                signed_at=signed_at,
                statement=statement,
                signature=signing_key().sign(statement),
                public_key=public_key_bytes(),
                frontier=[[h, node.hex()] for h, node in frontier],
            )
            # Witnessed before it commits: a head the store refused is never committed.
            try:
                witness_write(checkpoint)
            except Exception as exc:  # any storage backend's error: refuse, and alert
                raise AuditCheckpointRefused(
                    f"the witness store did not take the head of size {size}"
                    f" ({type(exc).__name__}: {exc}): nothing was signed"
                ) from exc
            previous = last.signed_at if last is not None else None
            transaction.on_commit(lambda: witness_mail(checkpoint, previous), robust=True)
    except AuditCheckpointRefused as refused:
        _alert(str(refused))
        raise
    return checkpoint


def audit_witness_restore() -> list[AuditCheckpoint]:
    """Put back into the database the witnessed heads it lacks (``manage.py audit_checkpoint
    --restore-witnessed``): after a checkpoint's commit failed once its head was witnessed, or
    after its row was deleted while the events stayed intact. Each head is restored only if it
    is signed by a trusted key for its size and root and the log's events still give that root;
    otherwise nothing is restored (``AuditCheckpointRefused``): a log cut or changed under a
    witnessed head stays refused. The restoration is recorded in the log."""
    keys = trusted_public_keys()
    restored: list[AuditCheckpoint] = []
    with transaction.atomic(), connection.cursor() as cursor:
        lock_the_log(cursor)
        present = {
            (size, bytes(root))
            for size, root in AuditCheckpoint.objects.values_list("size", "root")
        }
        missing: dict[tuple[int, bytes], WitnessedHead] = {}
        for head in witnessed_heads():
            if (head.size, head.root) not in present:
                missing.setdefault((head.size, head.root), head)
        frontier: Frontier = []
        size = 0
        for head in missing.values():
            try:
                kept = witness_read(head)
                statement = str(kept["statement"]).encode("ascii")
                public_key = bytes.fromhex(kept["public_key"])
                signature = base64.b64decode(kept["signature"])
                said = json.loads(statement)
                signed_at = datetime.fromisoformat(kept["signed_at"])
            except (OSError, KeyError, TypeError, ValueError):
                said = None  # unreadable: refused below
            if not (
                isinstance(said, dict)
                and public_key in keys
                and verify_signature(public_key, signature, statement)
                and (said.get("size"), said.get("root"), said.get("log"))
                == (head.size, head.root.hex(), settings.AUDIT_LOG_ID)
            ):
                raise AuditCheckpointRefused(
                    f"the {head.label} is not signed by a trusted key for its size and root"
                )
            size = _leaves_from(cursor, frontier, size, stop=head.size)
            if size < head.size or frontier_root(frontier) != head.root:
                raise AuditCheckpointRefused(
                    f"the log's first {head.size} events do not give the root of the"
                    f" {head.label}: they were changed or cut, it is not restored"
                )
            restored.append(
                AuditCheckpoint.objects.create(
                    size=head.size,
                    root=head.root,
                    signed_at=signed_at,
                    statement=statement,
                    signature=signature,
                    public_key=public_key,
                    frontier=[[h, node.hex()] for h, node in frontier],
                )
            )
        if restored:
            audit_record(
                action="audit.checkpoint_restored",
                actor=None,
                object_type="audit",
                changes={
                    "from": "witness",
                    "heads": [{"size": c.size, "root": bytes(c.root).hex()} for c in restored],
                },
            )
    return restored


def _alert(reason: str) -> None:
    """Log, record and mail a refusal to sign, once per kind of reason per ``ALERT_EVERY``
    seconds (the schedule tries again every minute)."""
    logger.error("audit checkpoint refused: %s", reason)
    # The same reason with another size or id (the log grows meanwhile) is the same alert.
    kind = re.sub(r"[0-9a-f]{64}|\d+", "#", reason)
    key = "audit-checkpoint-refused:" + hashlib.sha256(kind.encode()).hexdigest()[:32]
    if not cache.add(key, 1, timeout=ALERT_EVERY):
        return
    with transaction.atomic():
        audit_record(
            action="audit.checkpoint_refused",
            actor=None,
            object_type="audit",
            changes={"why": reason},
        )
    recipients = alert_emails()
    if recipients:
        send_mail(
            subject="Audit trail: a checkpoint was REFUSED",
            message=(
                "The application refused to sign a new audit checkpoint:\n\n"
                f"{reason}\n\nNo checkpoint is signed until this is resolved. Run"
                " `manage.py verify_audit` and compare the database with the witnessed heads"
                " (docs/audit.md, 'The witness')."
            ),
            from_email=None,
            recipient_list=recipients,
            fail_silently=True,
        )
