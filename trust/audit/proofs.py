"""Proofs from the database (RFC 9162): that an event is in the log a checkpoint signed
(inclusion), and that a later signed log extends an earlier one (consistency). ``manage.py
audit_proof`` prints them; ``tools/verify_bundle.py`` checks them without the app."""

from __future__ import annotations

from typing import Any

from trust.audit.export import checkpoint_json
from trust.audit.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
)
from trust.audit.models import AuditCheckpoint
from trust.audit.verify import stream_rows


def _leaf_hashes(size: int) -> list[bytes]:
    return [
        leaf_hash(bytes(data))
        for (data,) in stream_rows(
            "SELECT data FROM trust_audit_event"
            f" WHERE sealed IS NOT NULL AND sealed <= {int(size)} ORDER BY sealed"
        )
    ]


def _checkpoint_at(size: int | None) -> AuditCheckpoint:
    checkpoints = AuditCheckpoint.objects.order_by("-size", "-id")
    checkpoint = (checkpoints.filter(size=size) if size is not None else checkpoints).first()
    if checkpoint is None:
        raise LookupError(f"no checkpoint of size {size}" if size else "no checkpoint yet")
    return checkpoint


def inclusion_proof_for(event_id: int, size: int | None = None) -> dict[str, Any]:
    """That event ``event_id`` is in the log signed by the checkpoint of ``size`` (the latest by
    default): the event's bytes, its leaf, the audit path and the checkpoint."""
    checkpoint = _checkpoint_at(size)
    row = next(
        stream_rows(f"SELECT sealed, data FROM trust_audit_event WHERE id = {int(event_id)}"), None
    )
    if row is None or row[0] is None or row[0] > checkpoint.size:
        raise LookupError(f"event {event_id} is not in the log of size {checkpoint.size}")
    position, data = row[0] - 1, row[1]
    path = inclusion_proof(position, _leaf_hashes(checkpoint.size))
    return {
        "type": "inclusion",
        "event": event_id,
        "leaf": position,
        "data": bytes(data).decode("ascii"),
        "path": [p.hex() for p in path],
        "checkpoint": checkpoint_json(checkpoint),
    }


def consistency_proof_for(old_size: int, new_size: int | None = None) -> dict[str, Any]:
    """That the log signed at ``new_size`` (the latest by default) extends the one signed at
    ``old_size``, and whether the database's events give both signed roots (``events``: a
    proof between two heads of the same size reads no event by itself, so the events are
    always read here; ``audit_proof`` fails when they do not)."""
    old, new = _checkpoint_at(old_size), _checkpoint_at(new_size)
    hashes = _leaf_hashes(new.size)
    path = consistency_proof(old.size, hashes) if 0 < old.size < new.size else []
    return {
        "type": "consistency",
        "old": checkpoint_json(old),
        "new": checkpoint_json(new),
        "path": [p.hex() for p in path],
        "events": _events_check(hashes, old, new),
    }


def _events_check(hashes: list[bytes], *checkpoints: AuditCheckpoint) -> dict[str, Any]:
    """Whether the database's first events give each checkpoint's root."""
    roots = {}
    for checkpoint in checkpoints:
        leaves = hashes[: checkpoint.size]
        roots[str(checkpoint.size)] = len(leaves) == checkpoint.size and root_from_leaf_hashes(
            leaves
        ) == bytes(checkpoint.root)
    return {"read": len(hashes), "give_the_signed_roots": roots, "ok": all(roots.values())}
