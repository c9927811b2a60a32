"""Checkpoints: signed tree heads of the sealed log (RFC 9162), hourly and on demand. A
checkpoint fixes the log up to its size: a later rewrite changes a root that the signature
covers."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from trust.audit.keys import public_key_bytes, signing_key, tree_head_statement
from trust.audit.merkle import frontier_append, frontier_root, frontier_size, leaf_hash
from trust.audit.models import AuditCheckpoint
from trust.audit.sealing import audit_seal_pending, lock_the_log


def audit_checkpoint() -> AuditCheckpoint:
    """Seal what is pending, then sign the tree head of every sealed event (the leaves are the
    events in ``sealed`` order). The previous checkpoint's frontier means only the events sealed
    since are read. Run hourly by Celery beat and on demand; one at a time."""
    audit_seal_pending()
    with transaction.atomic(), connection.cursor() as cursor:
        lock_the_log(cursor)
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
