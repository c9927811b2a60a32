"""Every journal entry against the audit event that committed it (issue 22).

The posting service writes each entry and its ``entries.posted`` event in one transaction; the
event lists every entry of the call with its id, trust (the event's), date, kind, key, memo,
reason, reversal link and every posting (account, amount, currency), and the event's bytes are
hashed into its trust's chain and, once sealed, into the signed log. This module reads both
sides and reports, each by name:

- an entry that no event names (written by hand, not by the posting service);
- an entry whose content differs from what its event committed;
- an entry named by more than one event;
- an event that names an entry that is not there.

Events written before issue 22 list their entries without the id (it was not known before the
posting function wrote them): such an entry is matched by its trust and idempotency key (unique
per trust), and everything but the id is compared. ``EntryBinding.by_key`` counts them.

Both sides are read ordered by entry id and merged, so memory stays flat whatever the size of the
ledger. On PostgreSQL the database parses the events and aggregates the postings (two queries);
on SQLite (and on PostgreSQL when an event's bytes are not the JSON the query expects) Python
parses the events. Called by ``check_ledger`` (``trust.invariants``), ``verify_audit``
(``trust.audit.verify``); the standalone verifier does the same from the bundle's
``entries.jsonl`` (``tools/verify_bundle.py entries``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection, transaction

FETCH = 10_000
_names = itertools.count()
ACTION = "entries.posted"
# What is compared, in the order of ``_Row.content`` (the id is the key of the merge).
FIELDS = ("trust", "date", "kind", "key", "memo", "reason", "reverses", "actor", "postings")


@dataclass(frozen=True)
class BindingProblem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class EntryBinding:
    entries: int = 0  # entries read from the ledger
    by_id: int = 0  # ... bound by an event that names them by id
    by_key: int = 0  # ... bound by an event written before issue 22 (by trust and key)
    problems: list[BindingProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Row:
    entry_id: int | None
    content: tuple[Any, ...]  # FIELDS
    event_id: int | None = None
    by_id: bool = True
    unreadable: bool = False  # an event whose bytes are not a list of entries


def entries_binding(*, trust_id: int | None = None, limit: int = 1000) -> EntryBinding:
    """Check every entry (of one trust, or all) against the events that committed them; at most
    ``limit`` problems are kept. A read. On PostgreSQL both sides are read in one snapshot: the
    caller's transaction (``verify_audit`` runs it in its own), or a REPEATABLE READ one of its
    own, so that an entry posted meanwhile is on both sides or on neither."""
    if connection.vendor != "postgresql":
        # SQLite: no transaction of its own (Django's would take the write lock for the check).
        report = EntryBinding()
        _merge(_ledger_rows(trust_id), _python_event_rows(trust_id), report, limit, trust_id)
        return report
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        try:
            # A savepoint: an event whose bytes the query cannot parse aborts the statement, and
            # the transaction must survive it to be checked the slow way.
            with transaction.atomic():
                report = EntryBinding()
                _merge(_ledger_rows(trust_id), _pg_event_rows(trust_id), report, limit, trust_id)
            return report
        except DatabaseError:
            report = EntryBinding()
            _merge(_ledger_rows(trust_id), _python_event_rows(trust_id), report, limit, trust_id)
            return report


# --- the merge ----------------------------------------------------------------------------------


def _entry_name(row: _Row) -> str:
    trust, key = row.content[0], row.content[3]
    return f"entry #{row.entry_id} (trust #{trust}, key {key!r})"


def _merge(
    ledger: Iterable[_Row],
    events: Iterable[_Row],
    report: EntryBinding,
    limit: int,
    trust_id: int | None,
) -> None:
    problems = report.problems

    def bad(where: str, what: str) -> None:
        if len(problems) < limit:
            problems.append(BindingProblem(where, what))

    def missing(event: _Row) -> None:
        if event.unreadable:
            bad(
                f"event #{event.event_id}",
                "its bytes are not the list of entries an 'entries.posted' event holds",
            )
            return
        trust, key = event.content[0], event.content[3]
        named = f"entry #{event.entry_id}" if event.by_id else f"the entry with key {key!r}"
        where = " among this trust's entries" if trust_id is not None else ""
        bad(
            f"event #{event.event_id}",
            f"names {named} (trust #{trust}), which is not there{where}: removed, or never written",
        )

    pending = iter(events)
    event = next(pending, None)
    for entry in ledger:
        report.entries += 1
        eid = entry.entry_id
        while event is not None and event.entry_id is not None and event.entry_id < eid:  # type: ignore[operator]
            missing(event)
            event = next(pending, None)
        named: list[_Row] = []
        while event is not None and event.entry_id == eid:
            named.append(event)
            event = next(pending, None)
        if not named:
            bad(
                _entry_name(entry),
                "has no audit event: no 'entries.posted' event names it (an entry the posting"
                " service did not write)",
            )
            continue
        if len(named) > 1:
            bad(
                _entry_name(entry),
                "is named by more than one event: " + ", ".join(f"#{e.event_id}" for e in named),
            )
        committed = named[0]
        if committed.by_id:
            report.by_id += 1
        else:
            report.by_key += 1
        differs = [
            name
            for name, have, said in zip(FIELDS, entry.content, committed.content, strict=True)
            if have != said
        ]
        if differs:
            bad(
                _entry_name(entry),
                f"differs from what event #{committed.event_id} committed: " + ", ".join(differs),
            )
    while event is not None:
        missing(event)
        event = next(pending, None)


def _postings_sig(legs: Iterable[tuple[Any, Any, Any]]) -> str:
    """Postings as one comparable string: ``account:amount:currency``, sorted, comma-joined
    (the same as the PostgreSQL queries build)."""
    return ",".join(
        f"{a}:{m}:{c}" for a, m, c in sorted((int(a), int(m), str(c)) for a, m, c in legs)
    )


# --- the ledger side ----------------------------------------------------------------------------

_ENTRIES = (
    "SELECT e.id, e.trust_id, e.effective_date, e.kind, e.idempotency_key, e.memo, e.reason,"
    " e.reverses_id, e.created_by_id"
)


def _stream(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows in batches. On PostgreSQL inside a transaction, from a server-side cursor, so that the
    whole ledger is never in memory at once (a client-side cursor receives all rows at execute)."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        connection.ensure_connection()
        name = f"entries_binding_{next(_names)}"
        with connection.wrap_database_errors, connection.connection.cursor(name=name) as server:
            server.itersize = FETCH
            server.execute(sql, params)
            while batch := server.fetchmany(FETCH):
                yield from batch
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH):
            yield from batch


def _day(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _ledger_rows(trust_id: int | None) -> Iterator[_Row]:
    where = "WHERE e.trust_id = %s" if trust_id is not None else ""
    params: list[Any] = [trust_id] if trust_id is not None else []
    if connection.vendor == "postgresql":
        # One aggregate per entry, in the database; entries in id order.
        sql = (
            f"{_ENTRIES}, (SELECT string_agg(p.account_id || ':' || p.amount_minor || ':'"
            " || p.currency, ',' ORDER BY p.account_id, p.amount_minor, p.currency)"
            " FROM trust_posting p WHERE p.entry_id = e.id)"
            f" FROM trust_entry e {where} ORDER BY e.id"
        )
        for eid, trust, day, kind, key, memo, reason, rev, actor, sig in _stream(sql, params):
            yield _Row(eid, (trust, _day(day), kind, key, memo, reason, rev, actor, sig or ""))
        return
    # SQLite: the postings in entry order beside the entries, grouped here.
    postings = _stream(
        "SELECT p.entry_id, p.account_id, p.amount_minor, p.currency FROM trust_posting p"
        + (" JOIN trust_entry e ON e.id = p.entry_id WHERE e.trust_id = %s" if trust_id else "")
        + " ORDER BY p.entry_id, p.id",
        params,
    )
    leg = next(postings, None)
    for eid, trust, day, kind, key, memo, reason, rev, actor in _stream(
        f"{_ENTRIES} FROM trust_entry e {where} ORDER BY e.id", params
    ):
        while leg is not None and leg[0] < eid:
            leg = next(postings, None)  # a posting of no entry: not this check's business
        legs = []
        while leg is not None and leg[0] == eid:
            legs.append(leg[1:])
            leg = next(postings, None)
        yield _Row(
            eid, (trust, _day(day), kind, key, memo, reason, rev, actor, _postings_sig(legs))
        )


# --- the events side ----------------------------------------------------------------------------

_PG_EVENTS = """
SELECT f.entry_id, ev.id, f.by_id, d.trust, fr->>'date', fr->>'kind', fr->>'key', fr->>'memo',
       fr->>'reason', (fr->>'reverses')::bigint, d.actor,
       (SELECT string_agg((l->>0) || ':' || (l->>1) || ':' || (l->>2), ','
                          ORDER BY (l->>0)::bigint, (l->>1)::bigint, l->>2)
          FROM jsonb_array_elements(fr->'legs') l)
  FROM trust_audit_event ev
  -- Each event's bytes parsed once (OFFSET 0: not inlined into every use, which parsed a
  -- batch's event once per entry of it).
 CROSS JOIN LATERAL (
   SELECT x.doc->'changes'->'entries' AS entries, (x.doc->>'trust')::bigint AS trust,
          (x.doc->'actor'->>'id')::bigint AS actor
     FROM (SELECT convert_from(ev.data, 'UTF8')::jsonb AS doc OFFSET 0) x
   OFFSET 0) d
 CROSS JOIN LATERAL jsonb_array_elements(d.entries) fr
 CROSS JOIN LATERAL (
   SELECT fr ? 'id' AS by_id,
          coalesce((fr->>'id')::bigint,
                   (SELECT e.id FROM trust_entry e
                     WHERE e.trust_id = d.trust AND e.idempotency_key = fr->>'key')) AS entry_id
 ) f
 WHERE ev.action = %s {trust}
 ORDER BY f.entry_id NULLS LAST, ev.id
"""


def _pg_event_rows(trust_id: int | None) -> Iterator[_Row]:
    sql = _PG_EVENTS.format(trust="AND ev.trust_id = %s" if trust_id is not None else "")
    params: list[Any] = [ACTION] + ([trust_id] if trust_id is not None else [])
    for eid, event_id, by_id, trust, day, kind, key, memo, reason, rev, actor, sig in _stream(
        sql, params
    ):
        yield _Row(
            eid, (trust, day, kind, key, memo, reason, rev, actor, sig or ""), event_id, by_id
        )


def _python_event_rows(trust_id: int | None) -> Iterator[_Row]:
    """The same rows, parsed here (SQLite; PostgreSQL when an event is not the expected JSON):
    every fragment in memory, then sorted. Events that cannot be read are rows of their own with
    no entry (reported as naming an entry that is not there, with what was wrong)."""
    rows: list[_Row] = []
    legacy: list[tuple[int, _Row]] = []  # (index in rows) fragments without an id
    sql = "SELECT id, data FROM trust_audit_event WHERE action = %s"
    params: list[Any] = [ACTION]
    if trust_id is not None:
        sql += " AND trust_id = %s"
        params.append(trust_id)
    for event_id, data in _stream(sql + " ORDER BY id", params):
        for row in _fragments(event_id, bytes(data)):
            if not row.by_id:
                legacy.append((len(rows), row))
            rows.append(row)
    # Fragments without an id name their entry by trust and key: look the ids up, in chunks.
    wanted: dict[tuple[Any, Any], int] = {}
    pairs = sorted({(r.content[0], r.content[3]) for _, r in legacy}, key=repr)
    for start in range(0, len(pairs), 400):
        chunk = pairs[start : start + 400]
        marks = " OR ".join(["(trust_id = %s AND idempotency_key = %s)"] * len(chunk))
        flat = [v for pair in chunk for v in pair]
        for eid, trust, key in _stream(
            f"SELECT id, trust_id, idempotency_key FROM trust_entry WHERE {marks}", flat
        ):
            wanted[(trust, key)] = eid
    for index, row in legacy:
        rows[index] = _Row(
            wanted.get((row.content[0], row.content[3])), row.content, row.event_id, False
        )
    rows.sort(key=lambda r: (r.entry_id is None, r.entry_id or 0, r.event_id or 0))
    return iter(rows)


def _fragments(event_id: int, data: bytes) -> list[_Row]:
    unreadable = _Row(None, (None,) * len(FIELDS), event_id, True, unreadable=True)
    try:
        doc = json.loads(data)
        entries = doc["changes"]["entries"]
        trust = doc.get("trust")
        actor = (doc.get("actor") or {}).get("id")
        rows = []
        for frag in entries:
            sig = _postings_sig(tuple(leg) for leg in frag.get("legs") or [])
            content = (
                trust,
                frag.get("date"),
                frag.get("kind"),
                frag.get("key"),
                frag.get("memo"),
                frag.get("reason"),
                frag.get("reverses"),
                actor,
                sig,
            )
            entry_id = frag.get("id")
            rows.append(
                _Row(
                    int(entry_id) if entry_id is not None else None, content, event_id, "id" in frag
                )
            )
        return rows
    except (ValueError, TypeError, KeyError, AttributeError):
        return [unreadable]


# --- the bundle's entries.jsonl -----------------------------------------------------------------


def entries_for_export() -> Iterator[dict[str, Any]]:
    """Every entry with its postings, in id order, as the bundle's ``entries.jsonl`` holds them:
    the same fields the events commit (id, trust, date, kind, key, memo, reason, reverses, actor,
    and the postings as ``[account, amount in minor units, currency]`` in the order written), so
    that the standalone verifier compares the ledger with the trail without the database. Read in
    the caller's transaction (the export reads events and entries in one snapshot)."""
    postings = _stream(
        "SELECT entry_id, account_id, amount_minor, currency FROM trust_posting"
        " ORDER BY entry_id, id",
        [],
    )
    leg = next(postings, None)
    for eid, trust, day, kind, key, memo, reason, rev, actor in _stream(
        f"{_ENTRIES} FROM trust_entry e ORDER BY e.id", []
    ):
        while leg is not None and leg[0] < eid:
            leg = next(postings, None)
        legs = []
        while leg is not None and leg[0] == eid:
            legs.append([leg[1], leg[2], leg[3]])
            leg = next(postings, None)
        yield {
            "id": eid,
            "trust": trust,
            "date": _day(day),
            "kind": kind,
            "key": key,
            "memo": memo,
            "reason": reason,
            "reverses": rev,
            "actor": actor,
            "legs": legs,
        }
