"""Posting to the ledger: the only write path for journal entries and postings.

``entries_post`` validates every entry in Python (for clear messages) and then writes in a single
round trip: on PostgreSQL one call to ``ledger_post_batch`` (``trust/db.py``), on SQLite a few
statements in one IMMEDIATE transaction. The database re-checks what Python cannot know without
reading: accounts of another trust, currency of each account, balances that must not go negative
(rows locked in id order), the lock date, and, on PostgreSQL at commit, that every entry balances.

Signs: a posting's amount is positive for a debit and negative for a credit. Balances are shown on
the account's normal side (a sub-ledger credited 100 shows 100 owed to the beneficiary).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from moneyed import Money

from trust.audit.canonical import VERSION as AUDIT_VERSION
from trust.audit.canonical import actor_ref, canonical_plain, jsonable
from trust.audit.events import audit_insert_raw
from trust.db_faults import retried_on_conflict
from trust.models import Account, EntryKind, JournalEntry, Trust
from trust.money import MoneyError, format_money, from_minor, to_minor

MAX_KEY_LENGTH = 200
_KINDS = frozenset(EntryKind.values)  # built once: the enum rebuilds the list on each access
_SQLITE_CHUNK = 900  # stay far below SQLite's limit on bound variables


class LedgerError(ValidationError):
    """A posting that was refused; nothing was written. ``code`` names the rule."""


@dataclass(frozen=True)
class Leg:
    """One side of an entry: a positive amount debits the account, a negative one credits it."""

    account: Account | int
    amount: Money

    @property
    def account_id(self) -> int:
        return self.account.pk if isinstance(self.account, Account) else int(self.account)


@dataclass(frozen=True)
class EntrySpec:
    effective_date: date
    legs: Sequence[Leg]
    idempotency_key: str
    memo: str = ""
    kind: str = EntryKind.ADJUSTMENT
    reverses_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class PostedEntry:
    entry_id: int
    created: bool

    @property
    def entry(self) -> JournalEntry:
        return JournalEntry.objects.get(pk=self.entry_id)


@dataclass
class _Prepared:
    key: str
    effective_date: date
    memo: str
    kind: str
    payload_hash: str
    reverses_id: int | None
    reason: str
    legs: list[tuple[int, int, str]] = field(default_factory=list)  # (account id, minor, currency)
    closed: bool = False  # dated on or before the lock date: allowed only as a retry


def _fail(message: str, code: str, index: int | None = None) -> LedgerError:
    prefix = f"entry {index + 1}: " if index is not None else ""
    return LedgerError(prefix + message, code=code)


def _prepare(trust: Trust, spec: EntrySpec, index: int | None) -> _Prepared:
    key = (spec.idempotency_key or "").strip()
    if not key:
        raise _fail("an idempotency key is required", "key_missing", index)
    if len(key) > MAX_KEY_LENGTH:
        raise _fail(f"the idempotency key is longer than {MAX_KEY_LENGTH}", "key_too_long", index)
    if isinstance(spec.effective_date, datetime) or not isinstance(spec.effective_date, date):
        raise _fail("the effective date must be a date", "bad_date", index)
    if spec.kind not in _KINDS:
        raise _fail(f"unknown entry kind {spec.kind!r}", "bad_kind", index)
    if spec.reverses_id is not None and not spec.reason.strip():
        raise _fail("a reversal needs a reason", "reason_missing", index)
    if len(spec.legs) < 2:
        raise _fail("an entry needs at least two postings", "too_few_postings", index)

    legs: list[tuple[int, int, str]] = []
    totals: dict[str, int] = defaultdict(int)
    for leg in spec.legs:
        if not isinstance(leg, Leg):
            raise _fail("each posting must be a Leg(account, Money)", "bad_posting", index)
        try:
            minor = to_minor(leg.amount)
        except MoneyError as exc:
            raise _fail(str(exc), "bad_amount", index) from exc
        if minor == 0:
            raise _fail("a posting of zero is not allowed", "zero_amount", index)
        currency = leg.amount.currency.code
        if isinstance(leg.account, Account):
            if leg.account.trust_id != trust.pk:
                raise _fail(
                    f"account {leg.account.code} belongs to another trust", "foreign_account", index
                )
            if leg.account.currency != currency:
                raise _fail(
                    f"account {leg.account.code} holds {leg.account.currency}, not {currency}",
                    "currency_mismatch",
                    index,
                )
        legs.append((leg.account_id, minor, currency))
        totals[currency] += minor
    unbalanced = {cur: total for cur, total in totals.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{cur} off by {total} minor units" for cur, total in unbalanced.items())
        raise _fail(f"postings do not sum to zero per currency ({detail})", "unbalanced", index)

    payload = [
        spec.effective_date.isoformat(),
        spec.kind,
        spec.memo,
        spec.reverses_id,
        spec.reason,
        sorted(legs),
    ]
    digest = hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()
    return _Prepared(
        key=key,
        effective_date=spec.effective_date,
        memo=spec.memo,
        kind=spec.kind,
        payload_hash=digest,
        reverses_id=spec.reverses_id,
        reason=spec.reason,
        legs=legs,
        closed=trust.lock_date is not None and spec.effective_date <= trust.lock_date,
    )


def _closed_retries(trust: Trust, prepared: list[_Prepared]) -> dict[str, int]:
    """Entries dated in the closed period are refused, unless they are retries: the same key
    and content already posted (before the period was closed) is answered with the first entry,
    as any retry is. Returns key -> id of those retries. One query, and only when some entry is
    dated in the closed period."""
    closed = [(i, p) for i, p in enumerate(prepared) if p.closed]
    if not closed:
        return {}
    posted = {
        key: (pk, digest)
        for pk, key, digest in JournalEntry.objects.filter(
            trust=trust, idempotency_key__in=[p.key for _, p in closed]
        ).values_list("pk", "idempotency_key", "payload_hash")
    }
    retried: dict[str, int] = {}
    for index, p in closed:
        pk, digest = posted.get(p.key, (None, None))
        if pk is not None and digest != p.payload_hash:
            raise LedgerError(
                f"idempotency key {p.key} was already used for a different entry (#{pk})",
                code="key_reused",
            )
        if pk is None:
            raise _fail(
                f"the period up to {trust.lock_date} is closed: date the entry after the lock date",
                "period_closed",
                index if len(prepared) > 1 else None,
            )
        retried[p.key] = pk  # type: ignore[assignment]
    return retried


@retried_on_conflict
def entries_post(
    *, trust: Trust, actor: Any | None, entries: Sequence[EntrySpec]
) -> list[PostedEntry]:
    """Post entries to one trust in one transaction, in order; all or nothing.

    Refuses (``LedgerError``, nothing written): fewer than two postings, a zero amount, postings
    that do not sum to zero per currency, a currency other than the account's, more decimal places
    than the currency has, accounts of another trust, a balance that a no-negative account cannot
    cover, a date in the closed period, an inactive trust, and an idempotency key already used
    for a different entry. An idempotency key used before with the same entry returns the first
    entry with ``created=False`` and writes nothing for it.
    """
    if not entries:
        raise LedgerError("nothing to post", code="empty")
    if trust.status != Trust.Status.ACTIVE:
        raise LedgerError(
            f"this trust is {trust.status}, it takes no new entries", code="trust_closed"
        )
    prepared = [
        _prepare(trust, spec, index if len(entries) > 1 else None)
        for index, spec in enumerate(entries)
    ]
    keys = [p.key for p in prepared]
    if len(set(keys)) != len(keys):
        raise LedgerError(
            "the same idempotency key appears twice in one batch", code="key_repeated"
        )
    retried = _closed_retries(trust, prepared)
    if retried:
        # Entries dated in the closed period are retries of entries already posted: answer them
        # with the first entry and post the rest (the database refuses any closed date).
        rest = [p for p in prepared if p.key not in retried]
        posted = iter(_post(trust, actor, rest) if rest else [])
        return [
            PostedEntry(entry_id=retried[p.key], created=False)
            if p.key in retried
            else next(posted)
            for p in prepared
        ]
    return _post(trust, actor, prepared)


# The audit event of a posting call is one event, "entries.posted", listing every entry it
# wrote (one event per call, not per entry: a batch of 500 entries writes one audit row). Its
# bytes are a canonical frame around the entries' canonical fragments, joined with commas: on
# PostgreSQL the posting function joins the fragments of the entries it actually wrote, each
# with the id the entry got (issue 22: the event binds every entry by id and content;
# ``trust.audit.entries`` checks the ledger against it).
def _audit_frame(trust_id: int, actor: Any | None, at: datetime) -> tuple[bytes, bytes]:
    """The event's canonical bytes before and after its list of entries: what
    ``AuditSpec(...).data(at)`` gives, written out by hand (this runs on every posting; a test
    checks the bytes are canonical)."""
    who = canonical_plain(actor_ref(actor)).decode("ascii")
    when = jsonable(at)
    before = (
        f'{{"action":"entries.posted","actor":{who},"at":"{when}","changes":{{"entries":['
    ).encode("ascii")
    after = (
        f']}},"object":{{"id":"","type":"entries"}},"reason":"","trust":{int(trust_id)},'
        f'"v":{AUDIT_VERSION}}}'
    ).encode("ascii")
    return before, after


def _audit_fragment(p: _Prepared, entry_id: int | None = None) -> bytes:
    """An entry as its posting event records it: everything that makes it, with its id and its
    key. Canonical JSON, keys in order, by hand. Without ``entry_id`` (PostgreSQL, where the id is
    not known before the posting function writes the entry) the id is left out, and the function
    puts ``"id":<id>,`` in after the first 21 bytes, ``{"date":"YYYY-MM-DD",``, where canonical
    JSON has it."""
    legs = ",".join(f'[{acc},{minor},"{cur}"]' for acc, minor, cur in p.legs)
    bound = "" if entry_id is None else f'"id":{int(entry_id)},'
    return (
        f'{{"date":"{p.effective_date.isoformat()}",{bound}"key":{_json(p.key)},'
        f'"kind":{_json(p.kind)},"legs":[{legs}],"memo":{_json(p.memo)},'
        f'"reason":{_json(p.reason)},'
        f'"reverses":{"null" if p.reverses_id is None else int(p.reverses_id)}}}'
    ).encode("ascii")


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def _post(trust: Trust, actor: Any | None, prepared: list[_Prepared]) -> list[PostedEntry]:
    actor_id = getattr(actor, "pk", None)
    actor = actor if actor_id else None
    recorded_at = timezone.now()
    try:
        if connection.vendor == "postgresql":
            audit = (
                list(_audit_frame(trust.pk, actor, recorded_at)),
                [_audit_fragment(p) for p in prepared],
            )
            if not connection.in_atomic_block:
                # One statement in autocommit is its own transaction (the deferred checks run at
                # its end): one round trip instead of BEGIN, SELECT and COMMIT.
                return _post_postgresql(trust.pk, actor_id, recorded_at, prepared, audit)
            with transaction.atomic():
                posted = _post_postgresql(trust.pk, actor_id, recorded_at, prepared, audit)
                if len(prepared) > 1:
                    ledger_checks_now()
                return posted
        with transaction.atomic():
            posted = _post_sqlite(trust.pk, actor_id, recorded_at, prepared)
            new = [
                _audit_fragment(p, done.entry_id)
                for p, done in zip(prepared, posted, strict=True)
                if done.created
            ]
            if new:
                before, after = _audit_frame(trust.pk, actor, recorded_at)
                audit_insert_raw(
                    trust_id=trust.pk,
                    actor_id=actor_id,
                    at=recorded_at,
                    action="entries.posted",
                    object_type="entries",
                    data=before + b",".join(new) + after,
                )
            return posted
    except DatabaseError as exc:
        raise _translate(exc) from exc


def entry_post(
    *,
    trust: Trust,
    actor: Any | None,
    effective_date: date,
    legs: Sequence[Leg],
    idempotency_key: str,
    memo: str = "",
    kind: str = EntryKind.ADJUSTMENT,
) -> PostedEntry:
    """Post one balanced entry; see ``entries_post`` for what is refused."""
    spec = EntrySpec(
        effective_date=effective_date,
        legs=legs,
        idempotency_key=idempotency_key,
        memo=memo,
        kind=kind,
    )
    return entries_post(trust=trust, actor=actor, entries=[spec])[0]


def entry_reverse(
    *,
    entry: JournalEntry,
    actor: Any | None,
    reason: str,
    effective_date: date | None = None,
    idempotency_key: str | None = None,
) -> PostedEntry:
    """Post the mirror image of ``entry`` (every amount negated), linked to it, with a reason.

    Dated today unless told otherwise (the original may lie in a closed period). Refused when the
    entry was already reversed by another entry, when the reason is empty, or when the reversal
    would take a no-negative account below zero: book the shortfall to an explicit account first.
    Retrying with the same key returns the first reversal.
    """
    if not reason or not reason.strip():
        raise LedgerError("a reversal needs a reason", code="reason_missing")
    key = idempotency_key or f"reversal-of-{entry.pk}"
    existing = (
        JournalEntry.objects.filter(reverses_id=entry.pk).only("id", "idempotency_key").first()
    )
    if existing is not None and existing.idempotency_key != key:
        raise LedgerError(
            f"entry #{entry.pk} was already reversed by entry #{existing.pk}",
            code="already_reversed",
        )
    legs = [
        Leg(account=p.account_id, amount=-p.amount)
        for p in entry.postings.only("account_id", "amount_minor", "currency").order_by("id")
    ]
    spec = EntrySpec(
        effective_date=effective_date or timezone.localdate(),
        legs=legs,
        idempotency_key=key,
        memo=f"Reversal of entry #{entry.pk}: {entry.memo}"[:1000],
        kind=EntryKind.REVERSAL,
        reverses_id=entry.pk,
        reason=reason.strip(),
    )
    return entries_post(trust=entry.trust, actor=actor, entries=[spec])[0]


# --- the two writers ----------------------------------------------------------------------------

_PG_CALL = (
    "SELECT idx, entry_id, created FROM ledger_post_batch("
    "%s, %s, %s, %s::text[], %s::date[], %s::text[], %s::text[], %s::text[], %s::bigint[],"
    " %s::text[], %s::int[], %s::bigint[], %s::bigint[], %s::text[], %s::bytea[], %s::bytea[])"
)


def _pg_text_array(values: Sequence[str | None]) -> str:
    """A PostgreSQL array literal of text; psycopg's per-element adaptation of lists costs more
    than the posting itself."""
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'"{escaped}"')
    return "{" + ",".join(parts) + "}"


def _pg_int_array(values: Sequence[int | None]) -> str:
    return "{" + ",".join("NULL" if v is None else str(int(v)) for v in values) + "}"


def _post_postgresql(
    trust_id: int,
    actor_id: int | None,
    recorded_at: datetime,
    prepared: list[_Prepared],
    audit: tuple[list[bytes], list[bytes]],
) -> list[PostedEntry]:
    l_entry: list[int] = []
    l_accounts: list[int] = []
    l_amounts: list[int] = []
    l_currencies: list[str] = []
    for ordinal, p in enumerate(prepared, start=1):
        for account_id, minor, currency in p.legs:
            l_entry.append(ordinal)
            l_accounts.append(account_id)
            l_amounts.append(minor)
            l_currencies.append(currency)
    params = [
        trust_id,
        actor_id,
        recorded_at,
        _pg_text_array([p.key for p in prepared]),
        _pg_text_array([p.effective_date.isoformat() for p in prepared]),
        _pg_text_array([p.memo for p in prepared]),
        _pg_text_array([p.kind for p in prepared]),
        _pg_text_array([p.payload_hash for p in prepared]),
        _pg_int_array([p.reverses_id for p in prepared]),
        _pg_text_array([p.reason for p in prepared]),
        _pg_int_array(l_entry),
        _pg_int_array(l_accounts),
        _pg_int_array(l_amounts),
        _pg_text_array(l_currencies),
        audit[0],
        audit[1],
    ]
    connection.ensure_connection()
    # A server-side-binding cursor with a prepared statement: the call is parsed and planned once
    # per connection (Django's default client-side binding re-sends and re-parses it each time).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_PG_CALL, params, prepare=True)
        rows = cursor.fetchall()
    by_index = {idx: PostedEntry(entry_id=eid, created=created) for idx, eid, created in rows}
    return [by_index[i] for i in range(1, len(prepared) + 1)]


def ledger_checks_now() -> None:
    """Run the ledger's pending commit-time checks now, inside the current transaction (on
    PostgreSQL; SQLite checks as it writes): every entry the transaction touched so far
    (``ledger_check_pending`` in ``trust/db.py``), one set-based query per run of consecutive ids.
    Used after a batch posted inside a longer transaction, so that a refusal surfaces as a
    ``LedgerError`` of the call, not at the commit; and before a lock date moves, so that entries
    written earlier in the transaction are judged against the date they were posted under."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT ledger_check_pending()")


def _chunks(items: list[Any], size: int = _SQLITE_CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _post_sqlite(
    trust_id: int, actor_id: int | None, recorded_at: datetime, prepared: list[_Prepared]
) -> list[PostedEntry]:
    ops = connection.ops
    results: dict[int, PostedEntry] = {}
    new: list[tuple[int, int, _Prepared]] = []  # (ordinal, entry id, prepared)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, lock_date FROM trust_trust WHERE id = %s", [trust_id])
        row = cursor.fetchone()
        if row is None:
            raise LedgerError(f"trust {trust_id} does not exist", code="unknown_trust")
        status, lock_date = row
        if status != Trust.Status.ACTIVE:
            raise LedgerError(
                f"this trust is {status}, it takes no new entries", code="trust_closed"
            )
        if lock_date is not None:
            lock = date.fromisoformat(str(lock_date))
            if any(p.effective_date <= lock for p in prepared):
                raise LedgerError(
                    f"the period up to {lock} is closed: date the entry after the lock date",
                    code="period_closed",
                )
        recorded = ops.adapt_datetimefield_value(recorded_at)
        for ordinal, p in enumerate(prepared, start=1):
            cursor.execute(
                "INSERT INTO trust_entry (trust_id, effective_date, recorded_at, memo, kind,"
                " idempotency_key, payload_hash, reverses_id, reason, created_by_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (trust_id, idempotency_key) DO NOTHING RETURNING id",
                [
                    trust_id,
                    p.effective_date.isoformat(),
                    recorded,
                    p.memo,
                    p.kind,
                    p.key,
                    p.payload_hash,
                    p.reverses_id,
                    p.reason,
                    actor_id,
                ],
            )
            inserted = cursor.fetchone()
            if inserted is not None:
                new.append((ordinal, inserted[0], p))
                results[ordinal] = PostedEntry(entry_id=inserted[0], created=True)
                continue
            cursor.execute(
                "SELECT id, payload_hash FROM trust_entry WHERE trust_id = %s AND idempotency_key = %s",
                [trust_id, p.key],
            )
            existing_id, existing_hash = cursor.fetchone()
            if existing_hash != p.payload_hash:
                raise LedgerError(
                    f"idempotency key {p.key} was already used for a different entry"
                    f" (#{existing_id})",
                    code="key_reused",
                )
            results[ordinal] = PostedEntry(entry_id=existing_id, created=False)
        if new:
            _write_legs_sqlite(cursor, trust_id, new)
    return [results[i] for i in range(1, len(prepared) + 1)]


def _write_legs_sqlite(cursor: Any, trust_id: int, new: list[tuple[int, int, _Prepared]]) -> None:
    account_ids = sorted({acc for _, _, p in new for acc, _, _ in p.legs})
    accounts: dict[int, tuple[str, int, str, int, bool, int]] = {}
    for chunk in _chunks(account_ids):
        marks = ", ".join(["%s"] * len(chunk))
        cursor.execute(
            "SELECT id, code, trust_id, currency, type, no_negative, balance_minor"
            f" FROM trust_account WHERE id IN ({marks})",
            chunk,
        )
        for acc_id, code, acc_trust, currency, acc_type, no_negative, balance in cursor.fetchall():
            sign = 1 if acc_type in ("asset", "expense") else -1
            accounts[acc_id] = (code, acc_trust, currency, sign, bool(no_negative), balance)
    running = {acc_id: info[5] for acc_id, info in accounts.items()}
    postings: list[tuple[int, int, int, str, str]] = []
    deltas: dict[int, int] = defaultdict(int)
    days: dict[tuple[int, str], int] = defaultdict(int)
    for _, entry_id, p in new:
        day = p.effective_date.isoformat()
        entry_change: dict[int, int] = defaultdict(int)
        for acc_id, minor, currency in p.legs:
            info = accounts.get(acc_id)
            if info is None:
                raise LedgerError(f"account {acc_id} does not exist", code="unknown_account")
            code, acc_trust, acc_currency, sign, _, _ = info
            if acc_trust != trust_id:
                raise LedgerError(
                    f"account {code} belongs to another trust", code="foreign_account"
                )
            if acc_currency != currency:
                raise LedgerError(
                    f"account {code} holds {acc_currency}, not {currency}", code="currency_mismatch"
                )
            postings.append((entry_id, acc_id, minor, currency, day))
            entry_change[acc_id] += sign * minor
            days[(acc_id, day)] += sign * minor
        for acc_id, change in entry_change.items():
            code, _, acc_currency, _, no_negative, _ = accounts[acc_id]
            if no_negative and running[acc_id] + change < 0:
                raise LedgerError(
                    f"account {code} would go below zero: balance"
                    f" {format_money(from_minor(running[acc_id], acc_currency))},"
                    f" change {format_money(from_minor(change, acc_currency))}",
                    code="overdraft",
                )
            running[acc_id] += change
            deltas[acc_id] += change
    cursor.executemany(
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        " VALUES (%s, %s, %s, %s, %s)",
        postings,
    )
    cursor.executemany(
        "UPDATE trust_account SET balance_minor = balance_minor + %s WHERE id = %s",
        [(delta, acc_id) for acc_id, delta in sorted(deltas.items())],
    )
    cursor.executemany(
        "INSERT INTO trust_account_day (account_id, day, net_minor) VALUES (%s, %s, %s)"
        " ON CONFLICT (account_id, day) DO UPDATE SET net_minor = net_minor + excluded.net_minor",
        [(acc_id, day, net) for (acc_id, day), net in sorted(days.items())],
    )


_PG_HINT_PREFIX = "ledger:"
_CONSTRAINT_MESSAGES = {
    "account_no_negative_balance": ("this account may not go below zero", "overdraft"),
    "entry_reversed_once": ("this entry was already reversed", "already_reversed"),
}


def _translate(exc: DatabaseError) -> Exception:
    """A refusal by the database becomes a ``LedgerError``; anything else is re-raised as is."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    hint = getattr(diag, "message_hint", None) or ""
    if hint.startswith(_PG_HINT_PREFIX):
        return LedgerError(diag.message_primary, code=hint[len(_PG_HINT_PREFIX) :])
    text = str(exc)
    for marker, (message, code) in _CONSTRAINT_MESSAGES.items():
        if marker in text:
            return LedgerError(message, code=code)
    if "reverses_id" in text and ("UNIQUE" in text or "unique" in text):
        return LedgerError("this entry was already reversed", code="already_reversed")
    if "immutable" in text or "period closed" in text or "closed period" in text:
        return LedgerError(text.splitlines()[0], code="refused_by_database")
    return exc
