"""Verifying the audit trail from the database: every chain, every Merkle tree head, every
signature. Used by ``manage.py verify_audit``, the nightly task and the auditor's page; the
standalone ``tools/verify_bundle.py`` does the same from an exported bundle.

What it proves (docs/audit.md): each event's hash is SHA-256(previous hash || its stored bytes),
with no gap or repeat in any chain; the events in the global log, in sealing order, give every
checkpoint's Merkle root; every checkpoint is signed by a trusted key and says what its columns
say; each chain's head is its last event; each event is in the chain its bytes name; every head
kept by the witness (``trust.audit.witness``) is in the database with the same root, and the log
still gives it. An edit, a deletion, a reordering or an insertion breaks a chain; one hidden by
recomputing the chains changes a root that a signed checkpoint fixed; cutting the log short
leaves a checkpoint bigger than the log; deleting or replacing checkpoints leaves a witnessed
head the database lacks.

The stored bytes are hashed as they are, never re-serialised. ``deep=True`` also checks that the
columns used for filtering (time, trust, actor, action, object) say what the bytes say (parses
every event: slower).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from trust.audit.canonical import VERSION, jsonable
from trust.audit.checkpoints import checkpoint_faults
from trust.audit.entries import entries_binding
from trust.audit.keys import trusted_public_keys, verify_signature
from trust.audit.merkle import frontier_append, frontier_root
from trust.audit.models import AuditCheckpoint
from trust.audit.witness import (
    WitnessedHead,
    witness_read,
    witness_stored,
    witnessed_heads,
)

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
    witnessed: int | None = None  # heads compared with the witness store (None: not used)
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
    entries: bool = True,
) -> AuditReport:
    """Check the whole trail; at most ``limit`` problems are kept (the first is the earliest in
    log order). ``progress(done, total)`` is called every few thousand events. With ``entries``
    (the default), also every journal entry against the event that committed it.

    Everything is read in one snapshot (REPEATABLE READ on PostgreSQL), so writers and a
    checkpoint running meanwhile cannot make a consistent log look inconsistent."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report = _verify(
            trusted_keys=trusted_keys,
            deep=deep,
            progress=progress,
            limit=limit,
            pipelined=outermost,
        )
        # Issue 22: the ledger against the trail, in the same snapshot (trust.audit.entries): an
        # entry no event committed, or not as committed, and an event naming a missing entry.
        if entries:
            for problem in entries_binding(limit=limit).problems:
                if len(report.problems) < limit:
                    report.problems.append(AuditProblem(problem.where, problem.what))
        return report


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
    # The latest checkpoint's frontier (stored unsigned) is what the next one grows from.
    latest = AuditCheckpoint.objects.order_by("-size", "-id").first()
    if latest is not None:
        for fault in checkpoint_faults(latest, keys):
            if fault.startswith("its frontier"):
                bad(f"checkpoint #{latest.pk} (size {latest.size})", fault)

    # The witness: the roots of the log at the sizes of witnessed heads the database lacks.
    witnessed = witnessed_heads() if witness_stored() else None
    roots_at: dict[int, bytes | None] = {}
    if witnessed is not None:
        in_database = {(size, root) for size, heads in wanted.items() for _, root in heads}
        roots_at = {
            head.size: None for head in witnessed if (head.size, head.root) not in in_database
        }

    sha256 = hashlib.sha256
    keys_of = dict(stream_rows("SELECT id, key FROM trust_audit_chain"))
    # Each event's bytes end with its trust ("trust":<id or null>,"v":1}): the chain it must be
    # in. Checked on every event, so that an event cannot be moved to another chain.
    tails = {chain_id: _chain_tail(key) for chain_id, key in keys_of.items()}
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
        key = keys_of.get(chain_id, chain_id)
        where = f"event #{event_id} ({key}, seq {seq})"
        if stored is None or seq is None:
            bad(where, "was never sealed into its chain")
            return
        if seq != prev_seq + 1:
            bad(where, f"follows seq {prev_seq} of its chain: an event is missing or out of order")
        if sha256(prev_hash + data).digest() != stored:
            bad(where, "its hash does not match its bytes and the chain before it")
        if not data.endswith(tails.get(chain_id, b"\x00")):
            named = chain_named(data)
            if named != key:
                bad(
                    where,
                    f"its bytes say it belongs to chain {named or '(none)'}: it was moved"
                    " to another chain",
                )
        chains[chain_id] = (seq, stored)

    # The global log, in sealing order. The loop is written for speed (the 250,000 events/s
    # of docs/audit.md): the common case checks the chain and grows the tree inline, and only a
    # row that fails a test goes through ``walk`` to be named.
    # An iterator, not list.pop(0): with a checkpoint a minute (525,600 a year), popping the
    # front of the list moved the rest each time: quadratic, 38 s of 103 s at a year's size.
    sizes = iter(sorted(set(wanted) | set(roots_at)))
    next_size = next(sizes, -1)
    chains_get = chains.get
    tails_get = tails.get
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
                and data.endswith(tails_get(chain_id, b"\x00"))
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
                for cid, root in wanted.get(next_size, ()):
                    if frontier_root(frontier) != root:
                        bad(
                            f"checkpoint #{cid} (size {expected_index})",
                            "the log's first events do not give its signed root: they were changed",
                        )
                if next_size in roots_at:
                    roots_at[next_size] = frontier_root(frontier)
                next_size = next(sizes, -1)
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
    if witnessed is not None:
        report.witnessed = len(witnessed)
        _compare_witness(witnessed, wanted, roots_at, expected_index, keys, bad)
    if deep:
        _deep(bad)
    if progress:
        progress(total, total)
    return report


def _chain_tail(key: str) -> bytes:
    """How the bytes of an event of chain ``key`` end: its trust, then the version."""
    trust = key.split(":", 1)[1] if key.startswith("trust:") else "null"
    return f',"trust":{trust},"v":{VERSION}}}'.encode("ascii")


def chain_named(data: bytes) -> str | None:
    """The chain an event's bytes name (its trust's, or the global one); None if they are not
    an event's JSON."""
    try:
        said = json.loads(data)
    except ValueError:
        return None
    if not isinstance(said, dict):
        return None
    trust = said.get("trust")
    return f"trust:{trust}" if trust else "global"


def _compare_witness(
    witnessed: list[WitnessedHead],
    wanted: dict[int, list[tuple[int, bytes]]],
    roots_at: dict[int, bytes | None],
    leaves: int,
    keys: list[bytes],
    bad: Callable[[str, str], None],
) -> None:
    """Every head in the witness store against the database: a head the database lacks was
    deleted (and the log then cut or changed, or not); one whose size the database signed with
    another root was replaced; two roots for one size is a fork. The latest head's own
    signature is checked (a head planted in the store would fail)."""
    roots_of: dict[int, set[bytes]] = {}
    for head in witnessed:
        roots_of.setdefault(head.size, set()).add(head.root)
    for size, roots in sorted(roots_of.items()):
        if len(roots) > 1:
            bad(
                f"witness (size {size})",
                f"holds {len(roots)} heads of this size with different roots: the log was"
                " rewritten and signed again",
            )
    for head in witnessed:
        in_database = wanted.get(head.size, [])
        if any(root == head.root for _, root in in_database):
            continue
        where = head.label
        if in_database:
            cid, root = in_database[0]
            bad(
                where,
                f"the database's checkpoint #{cid} of this size has root {root.hex()}, the"
                f" witness {head.root.hex()}: the checkpoints were replaced",
            )
            continue
        if head.size > leaves:
            what = f"the log has only {leaves} sealed events: it was cut"
        elif roots_at.get(head.size) != head.root:
            what = f"the log's first {head.size} events do not give its root: they were changed"
        else:
            what = "the log's events still give its root"
        bad(where, f"is missing from the database (its checkpoint was deleted); {what}")
    if witnessed:
        head = witnessed[-1]
        try:
            kept = witness_read(head)
            public_key = bytes.fromhex(kept["public_key"])
            statement = kept["statement"].encode("ascii")
            said = json.loads(statement)
            signed = public_key in keys and verify_signature(
                public_key, base64.b64decode(kept["signature"]), statement
            )
        except (OSError, KeyError, TypeError, ValueError):
            signed, said = False, {}
        if not signed or (said.get("size"), said.get("root")) != (head.size, head.root.hex()):
            bad(head.label, "is not a head signed by a trusted key for its size and root")


def _at_text(at: object) -> object:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if isinstance(at, datetime) and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return jsonable(at)


def _deep(bad: Callable[[str, str], None]) -> None:
    """Every column a page or report filters on against the bytes: trust, actor, action, object
    and time (the chain is checked on every run)."""
    names = ("trust_id", "actor_id", "action", "object_type", "object_id", "at")
    for event_id, trust_id, actor_id, action, object_type, object_id, at, data in stream_rows(
        "SELECT id, trust_id, actor_id, action, object_type, object_id, at, data"
        " FROM trust_audit_event ORDER BY id"
    ):
        try:
            said = json.loads(bytes(data))
        except ValueError:
            bad(f"event #{event_id}", "its bytes are not JSON")
            continue
        if not isinstance(said, dict):
            bad(f"event #{event_id}", "its bytes are not an event")
            continue
        actor = (said.get("actor") or {}).get("id")
        thing = said.get("object") or {}
        columns = (trust_id, actor_id, action, object_type, object_id, _at_text(at))
        expected = (
            said.get("trust"),
            actor,
            said.get("action"),
            thing.get("type"),
            thing.get("id"),
            said.get("at"),
        )
        if columns != expected:
            differ = ", ".join(
                f"{name} {column!r} (bytes: {value!r})"
                for name, column, value in zip(names, columns, expected, strict=True)
                if column != value
            )
            bad(f"event #{event_id}", f"its columns do not say what its bytes say: {differ}")
