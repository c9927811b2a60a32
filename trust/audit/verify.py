"""Verifying the audit trail from the database: every chain, every Merkle tree head, every
signature. Used by ``manage.py verify_audit``, the nightly task and the auditor's page; the
standalone ``tools/verify_bundle.py`` does the same from an exported bundle.

What it proves (docs/audit.md): each event's hash is SHA-256(previous hash || its stored bytes),
with no gap or repeat in any chain; the events in the global log, in sealing order, give every
checkpoint's Merkle root; every checkpoint is signed by a trusted key and says what its columns
say; each chain's head is its last event. An edit, a deletion, a reordering or an insertion
breaks a chain; one hidden by recomputing the chains changes a root that a signed checkpoint
fixed; cutting the log short leaves a checkpoint bigger than the log.

The stored bytes are hashed as they are, never re-serialised. ``deep=True`` also checks that the
columns used for filtering say what the bytes say (parses every event: slower).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from trust.audit.keys import trusted_public_keys, verify_signature
from trust.audit.merkle import frontier_append, frontier_root

ZERO = bytes(32)
FETCH = 20_000


@dataclass(frozen=True)
class AuditProblem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class AuditReport:
    events: int = 0
    leaves: int = 0  # sealed events: the log's size
    pending: int = 0  # written, not sealed yet
    checkpoints: int = 0
    chains: int = 0
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> AuditProblem | None:
        return self.problems[0] if self.problems else None


def stream_rows(sql: str, params: list[object] | None = None) -> Iterator[tuple[Any, ...]]:
    """The rows of a query, fetched in batches (long reads of the audit tables)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        while True:
            batch = cursor.fetchmany(FETCH)
            if not batch:
                return
            yield from batch


LOG_SQL = (
    "SELECT sealed, id, chain_id, seq, data, hash FROM trust_audit_event WHERE sealed IS NOT NULL"
)
CHUNK = 50_000


def _log_batches(last: int, *, pipelined: bool = True) -> Iterator[list[tuple[Any, ...]]]:
    """The sealed events in log order (``sealed``), in batches, read in the caller's snapshot.

    On PostgreSQL the reading overlaps the hashing: a second connection, in the same snapshot
    (``pg_export_snapshot``), fetches the next range of the log in binary (bytea as bytes) while
    this thread checks the previous one."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(LOG_SQL + " ORDER BY sealed")
            while batch := cursor.fetchmany(FETCH):
                yield batch
        return
    import psycopg

    if not pipelined:
        # Inside a caller's transaction: its own uncommitted rows are invisible to another
        # connection, even in an exported snapshot, so read on this one.
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(LOG_SQL + " ORDER BY sealed", binary=True)
            while batch := cursor.fetchmany(FETCH):
                yield batch
        return
    import queue
    import threading

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
    params = {
        k: v
        for k, v in connection.get_connection_params().items()
        if k not in {"cursor_factory", "context", "prepare_threshold"}
    }
    chunks: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def reader() -> None:
        try:
            with psycopg.connect(**params) as conn, conn.cursor() as cursor:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                cursor.execute("SET LOCAL jit = off")
                # The log's order is an index: never a sort spilling to disk, whatever the
                # statistics say (a freshly sealed table has none until it is analysed).
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("SET LOCAL enable_sort = off")
                for start in range(1, last + 1, CHUNK):
                    if stop.is_set():
                        break
                    cursor.execute(
                        LOG_SQL + " AND sealed >= %s AND sealed < %s ORDER BY sealed",
                        [start, start + CHUNK],
                        binary=True,
                    )
                    chunks.put(cursor.fetchall())
                conn.rollback()
            chunks.put(None)
        except BaseException as exc:  # handed to the verifying thread
            chunks.put(exc)

    thread = threading.Thread(target=reader, name="audit-verify-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a blocked put() finish
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
        thread.join()


def audit_verify(
    *,
    trusted_keys: list[bytes] | None = None,
    deep: bool = False,
    progress: Callable[[int, int], None] | None = None,
    limit: int = 100,
) -> AuditReport:
    """Check the whole trail; at most ``limit`` problems are kept (the first is the earliest in
    log order). ``progress(done, total)`` is called every few thousand events.

    Everything is read in one snapshot (REPEATABLE READ on PostgreSQL), so writers and a
    checkpoint running meanwhile cannot make a consistent log look inconsistent."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _verify(
            trusted_keys=trusted_keys,
            deep=deep,
            progress=progress,
            limit=limit,
            pipelined=outermost,
        )


def _verify(
    *,
    trusted_keys: list[bytes] | None,
    deep: bool,
    progress: Callable[[int, int], None] | None,
    limit: int,
    pipelined: bool,
) -> AuditReport:
    keys = trusted_keys if trusted_keys is not None else trusted_public_keys()
    report = AuditReport()
    problems = report.problems

    def bad(where: str, what: str) -> None:
        if len(problems) < limit:
            problems.append(AuditProblem(where, what))

    total = next(stream_rows("SELECT COUNT(*) FROM trust_audit_event"))[0]
    report.events = total

    # Checkpoints: signature, statement, in order of size.
    checkpoints = list(
        stream_rows(
            "SELECT id, size, root, statement, signature, public_key FROM trust_audit_checkpoint"
            " ORDER BY size, id"
        )
    )
    report.checkpoints = len(checkpoints)
    wanted: dict[int, list[tuple[int, bytes]]] = {}
    for cid, size, root, statement, signature, public_key in checkpoints:
        where = f"checkpoint #{cid} (size {size})"
        statement, root, public_key = bytes(statement), bytes(root), bytes(public_key)
        if public_key not in keys:
            bad(where, "signed with a key that is not trusted")
        elif not verify_signature(public_key, bytes(signature), statement):
            bad(where, "its signature does not verify")
        try:
            said = json.loads(statement)
        except ValueError:
            said = {}
        if (said.get("size"), said.get("root"), said.get("log")) != (
            size,
            root.hex(),
            settings.AUDIT_LOG_ID,
        ):
            bad(where, "its columns do not say what its signed statement says")
        wanted.setdefault(size, []).append((cid, root))

    sha256 = hashlib.sha256
    keys_of = dict(stream_rows("SELECT id, key FROM trust_audit_chain"))
    chains: dict[int, tuple[int, bytes]] = {}
    frontier: list[tuple[int, bytes]] = []
    expected_index = 0
    done = 0

    def walk(
        chain_id: int,
        event_id: int,
        seq: int | None,
        data: bytes,
        stored: bytes | None,
    ) -> None:
        """One event against its chain: the slow path, taken only where something is wrong."""
        prev_seq, prev_hash = chains.get(chain_id, (0, ZERO))
        where = f"event #{event_id} ({keys_of.get(chain_id, chain_id)}, seq {seq})"
        if stored is None or seq is None:
            bad(where, "was never sealed into its chain")
            return
        if seq != prev_seq + 1:
            bad(where, f"follows seq {prev_seq} of its chain: an event is missing or out of order")
        if sha256(prev_hash + data).digest() != stored:
            bad(where, "its hash does not match its bytes and the chain before it")
        chains[chain_id] = (seq, stored)

    # The global log, in sealing order. The loop is written for speed (the 250,000 events/s
    # of docs/audit.md): the common case checks the chain and grows the tree inline, and only a
    # row that fails a test goes through ``walk`` to be named.
    sizes = sorted(wanted)
    next_size = sizes.pop(0) if sizes else -1
    chains_get = chains.get
    last = next(stream_rows("SELECT coalesce(max(sealed), 0) FROM trust_audit_event"))[0]
    for batch in _log_batches(last, pipelined=pipelined):
        for position, event_id, chain_id, seq, data, stored in batch:
            if position != expected_index + 1:
                bad(
                    f"log position {expected_index + 1}",
                    f"missing (the next sealed event is at {position})",
                )
                while expected_index + 1 < position:  # hold their places: roots cannot match
                    frontier_append(frontier, b"")
                    expected_index += 1
            if type(data) is not bytes:
                data = bytes(data)
                stored = None if stored is None else bytes(stored)
            prev_seq, prev_hash = chains_get(chain_id, (0, ZERO))
            if (
                stored is not None
                and seq == prev_seq + 1
                and sha256(prev_hash + data).digest() == stored
            ):
                chains[chain_id] = (seq, stored)
            else:
                walk(chain_id, event_id, seq, data, stored)
            # frontier_append, inlined
            node = sha256(b"\x00" + data).digest()
            height = 0
            while frontier and frontier[-1][0] == height:
                node = sha256(b"\x01" + frontier.pop()[1] + node).digest()
                height += 1
            frontier.append((height, node))
            expected_index += 1
            while expected_index == next_size:
                for cid, root in wanted[next_size]:
                    if frontier_root(frontier) != root:
                        bad(
                            f"checkpoint #{cid} (size {expected_index})",
                            "the log's first events do not give its signed root: they were changed",
                        )
                next_size = sizes.pop(0) if sizes else -1
        done += len(batch)
        if progress:
            progress(done, total)
    report.leaves = expected_index
    for size, heads in sorted(wanted.items()):
        if size > expected_index:
            for cid, _ in heads:
                bad(
                    f"checkpoint #{cid} (size {size})",
                    f"the log has only {expected_index} sealed events: it was cut short",
                )
        if size == 0:
            for cid, root in heads:
                if frontier_root([]) != root:
                    bad(f"checkpoint #{cid} (size 0)", "its root is not the empty tree's")

    # Events not sealed yet (the sealer runs every minute): nothing to check but that they have
    # no seal half-made.
    for event_id, seq, stored, chain_id in stream_rows(
        "SELECT id, seq, hash, chain_id FROM trust_audit_event WHERE sealed IS NULL ORDER BY id"
    ):
        report.pending += 1
        if seq is not None or stored is not None or chain_id is not None:
            bad(f"event #{event_id}", "has part of a seal but no place in the log")

    # Chain heads.
    seen = set()
    for chain_id, key, length, head in stream_rows(
        "SELECT id, key, length, head FROM trust_audit_chain ORDER BY id"
    ):
        seen.add(chain_id)
        last_seq, last_hash = chains.get(chain_id, (0, ZERO))
        if (length, bytes(head)) != (last_seq, last_hash):
            bad(
                f"chain {key}",
                f"its head says {length} events; the events end at seq {last_seq}"
                + ("" if length != last_seq else " with another hash"),
            )
    for chain_id in sorted(set(chains) - seen):
        bad(f"chain {chain_id}", "has events but no head")
    report.chains = len(seen)
    if deep:
        _deep(bad)
    if progress:
        progress(total, total)
    return report


def _deep(bad: Callable[[str, str], None]) -> None:
    """The filtering columns against the bytes."""
    for event_id, trust_id, actor_id, action, object_type, object_id, data in stream_rows(
        "SELECT id, trust_id, actor_id, action, object_type, object_id, data"
        " FROM trust_audit_event ORDER BY id"
    ):
        try:
            said = json.loads(bytes(data))
        except ValueError:
            bad(f"event #{event_id}", "its bytes are not JSON")
            continue
        actor = (said.get("actor") or {}).get("id")
        columns = (trust_id, actor_id, action, object_type, object_id)
        if columns != (
            said.get("trust"),
            actor,
            said.get("action"),
            said.get("object", {}).get("type"),
            said.get("object", {}).get("id"),
        ):
            bad(f"event #{event_id}", "its columns do not say what its bytes say")
