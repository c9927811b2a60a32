"""Sealing: the one sealer at a time gives each committed event the next place in its chain
(one per trust, one for events of no trust), the hash linking it to the one before, and the next
place in the global log. Runs every minute (Celery beat) and before every checkpoint."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import connection, transaction

from trust.audit.models import AuditChain
from trust.db import sqlite_sealing


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


SEAL_BATCH = 5_000


def lock_the_log(cursor: Any) -> None:
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
            lock_the_log(cursor)
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
