"""Database objects that guard the ledger even against raw SQL: triggers and the posting function.

Installed by migration 0002 and again after every ``migrate`` (SQLite drops a table's triggers when a
migration rebuilds it). ``check_ledger`` verifies they are all present with ``ledger_triggers_missing``.

PostgreSQL:
- entries and postings refuse UPDATE and DELETE;
- an entry dated on or before its trust's lock date, or in a closed trust, is refused;
- at commit every entry touched must have at least two postings that sum to zero per currency, in
  its own trust's accounts and their currencies: each INSERT statement notes the entries it touched
  in ``ledger_private.pending_check`` (a schema the application's role has no rights in, written only
  by SECURITY DEFINER functions), and that row's deferred constraint trigger checks them at commit.
  Nothing a session can set tells the check to skip anything (issue 22);
- TRUNCATE of the ledger's and the trail's tables is refused (statement triggers: row triggers do
  not see it);
- ``ledger_post_batch`` validates, locks balances in id order and writes entries, postings, balances,
  daily movements and the audit event that binds each entry (with its id) in one round trip (see
  ``trust.services.ledger``).

SQLite: the same immutability, lock-date and posting-consistency rules as row triggers. SQLite has no
deferred triggers, so the balance rule there rests on the posting service alone.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

PG_TRIGGERS = {
    "trust_entry": ["trust_entry_immutable", "trust_entry_noted"],
    "trust_posting": ["trust_posting_immutable", "trust_posting_noted"],
    "ledger_private.pending_check": ["ledger_pending_checked"],
    # Ledger rows name their trust and accounts without a foreign key (trust/models/ledger.py): neither
    # may be deleted. A trust is closed, an account left at zero.
    "trust_trust": ["trust_trust_no_delete"],
    "trust_account": ["trust_account_no_delete"],
}
PG_FUNCTIONS = [
    "ledger_refuse_change",
    "ledger_check_entries",
    "ledger_check_pending",
    "ledger_note_entries",
    "ledger_note_postings",
    "ledger_pending_checked",
    "ledger_post_batch",
]
# The commit-time check's own state (issue 22): which entries each open transaction touched. In a
# schema of its own, with no rights for anyone but its owner: a session that could write it could
# tell the check to skip an entry (before issue 22 that state was a setting any role could SET).
LEDGER_PRIVATE_SCHEMA = "ledger_private"
# TRUNCATE skips row triggers: these tables refuse it with a BEFORE TRUNCATE statement trigger,
# "<table>_no_truncate" (PostgreSQL; SQLite has no TRUNCATE). A table of the trail added later
# (a witness table, say) is appended to NO_TRUNCATE_AUDIT_TABLES; it is guarded once it exists.
NO_TRUNCATE_LEDGER_TABLES = [
    "trust_trust",
    "trust_account",
    "trust_account_day",
    "trust_entry",
    "trust_posting",
]
NO_TRUNCATE_AUDIT_TABLES = ["trust_audit_event", "trust_audit_checkpoint", "trust_audit_chain"]
# The audit trail (trust/models/audit.py): append-only; events sealed into their chain at commit.
AUDIT_TABLES = ["trust_audit_event", "trust_audit_checkpoint"]
PG_AUDIT_TRIGGERS = {
    "trust_audit_event": ["trust_audit_event_immutable"],
    "trust_audit_checkpoint": ["trust_audit_checkpoint_immutable"],
}
PG_AUDIT_FUNCTIONS = ["audit_refuse_change"]
SQLITE_AUDIT_TRIGGERS = [
    f"{table}_no_{op}" for table in AUDIT_TABLES for op in ("update", "delete")
]

SQLITE_TRIGGERS = [
    "trust_entry_no_update",
    "trust_entry_no_delete",
    "trust_entry_open_period",
    "trust_posting_no_update",
    "trust_posting_no_delete",
    "trust_posting_consistent",
    "trust_trust_no_delete",
    "trust_account_no_delete",
]

_NORMAL_SIGN = "(CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END)"

PG_SQL = [
    r"""
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'ledger rows are immutable: % on % refused (correct with a reversing entry)',
    TG_OP, TG_TABLE_NAME USING ERRCODE = '23001';
END
$fn$
""",
    # The commit-time check of a range of entries, in one set-based query: each entry has at least
    # two postings summing to zero per currency, to existing accounts of its own trust in their
    # currency and on its date, in an active trust after the lock date. Entries of other transactions in the range are invisible or committed
    # (and so already checked): checking them again is harmless.
    # (It returned the highest posting id it saw, for the memo of issue 22's attack 1: now void.)
    "DROP FUNCTION IF EXISTS ledger_check_entries(bigint, bigint)",
    r"""
CREATE OR REPLACE FUNCTION ledger_check_entries(lo bigint, hi bigint) RETURNS void
LANGUAGE plpgsql
-- No search_path of its own: what counts is its call by ledger_check_pending, which pins it.
SET plan_cache_mode = force_generic_plan
-- Generic plans are made once per session: never let one made on a small table scan it later.
SET enable_seqscan = off
AS $fn$
DECLARE
  bad record;
BEGIN
  SELECT * INTO bad FROM (
    SELECT e.id AS entry, 1 AS prio,
           CASE WHEN c.n < 2 THEN 'few'
                WHEN t.id IS NULL OR t.status <> 'active' THEN 'inactive'
                ELSE 'closed' END AS reason,
           e.trust_id::text AS a, e.effective_date::text AS b, t.lock_date::text AS c
      FROM trust_entry e
      -- Lookups by key, one per row (OFFSET 0 keeps the planner from turning them into joins
      -- that read a whole table: a generic plan does not know how small the range is).
      LEFT JOIN LATERAL (SELECT x.id, x.status, x.lock_date FROM trust_trust x
                          WHERE x.id = e.trust_id OFFSET 0) t ON true
      CROSS JOIN LATERAL (SELECT count(*) AS n FROM (SELECT 1 FROM trust_posting p
                           WHERE p.entry_id = e.id LIMIT 2) two) c
     WHERE e.id BETWEEN lo AND hi
       AND (c.n < 2 OR t.id IS NULL OR t.status <> 'active'
            OR (t.lock_date IS NOT NULL AND e.effective_date <= t.lock_date))
    UNION ALL
    SELECT p.entry_id, 2,
           CASE WHEN e.id IS NULL THEN 'no_entry'
                WHEN a.id IS NULL THEN 'no_account'
                WHEN a.trust_id <> e.trust_id THEN 'foreign'
                WHEN a.currency <> p.currency THEN 'currency'
                ELSE 'date' END,
           p.account_id::text, '', ''
      FROM trust_posting p
      LEFT JOIN LATERAL (SELECT y.id, y.trust_id, y.effective_date FROM trust_entry y
                          WHERE y.id = p.entry_id OFFSET 0) e ON true
      LEFT JOIN LATERAL (SELECT z.id, z.trust_id, z.currency FROM trust_account z
                          WHERE z.id = p.account_id OFFSET 0) a ON true
     WHERE p.entry_id BETWEEN lo AND hi
       AND (e.id IS NULL OR a.id IS NULL OR a.trust_id <> e.trust_id
            OR a.currency <> p.currency OR p.effective_date <> e.effective_date)
    UNION ALL
    SELECT p.entry_id, 3, 'unbalanced', p.currency, sum(p.amount_minor)::text, ''
      FROM trust_posting p
     WHERE p.entry_id BETWEEN lo AND hi
     GROUP BY p.entry_id, p.currency
    HAVING sum(p.amount_minor) <> 0
  ) problems
  ORDER BY entry, prio LIMIT 1;
  IF FOUND THEN
    CASE bad.reason
      WHEN 'few' THEN
        RAISE EXCEPTION 'entry % has fewer than two postings', bad.entry USING ERRCODE = '23514';
      WHEN 'inactive' THEN
        RAISE EXCEPTION 'trust % is not active: no new entries (entry %)', bad.a, bad.entry
          USING ERRCODE = '23514';
      WHEN 'closed' THEN
        RAISE EXCEPTION 'entry % dated % falls in the closed period (lock date %)',
          bad.entry, bad.b, bad.c USING ERRCODE = '23514';
      WHEN 'no_entry' THEN
        RAISE EXCEPTION 'a posting names entry %, which does not exist', bad.entry
          USING ERRCODE = '23503';
      WHEN 'no_account' THEN
        RAISE EXCEPTION 'entry % posts to account %, which does not exist', bad.entry, bad.a
          USING ERRCODE = '23503';
      WHEN 'foreign' THEN
        RAISE EXCEPTION 'entry % posts to an account of another trust', bad.entry
          USING ERRCODE = '23514';
      WHEN 'currency' THEN
        RAISE EXCEPTION 'entry % has a posting in a currency other than its account''s',
          bad.entry USING ERRCODE = '23514';
      WHEN 'date' THEN
        RAISE EXCEPTION 'entry % has a posting dated differently from the entry', bad.entry
          USING ERRCODE = '23514';
      ELSE
        RAISE EXCEPTION 'entry % does not balance in %: its postings sum to % minor units',
          bad.entry, bad.a, bad.b USING ERRCODE = '23514';
    END CASE;
  END IF;
END
$fn$
""",
    # The commit-time check (issue 22). Each INSERT statement into trust_entry or trust_posting
    # (a statement trigger, with the rows it inserted) adds the entries it touched to its
    # transaction's row of ledger_private.pending_check; the row's deferred constraint trigger
    # checks them at commit, one set-based query per run of consecutive ids (a batch of 500
    # entries is one query, and no per-row trigger fires), and deletes the row. A statement after
    # a check (ledger_check_pending) starts a new row and a new check. The row is transactional:
    # a savepoint rolled back takes back both what it noted and any check it ran. Before issue 22
    # the check remembered what it had checked in a setting any role could SET.
    #
    # A row per transaction, keyed by its id, inserted and deleted: each lookup finds one key
    # whatever else the table holds, so a long-running snapshot elsewhere (a backup, a report)
    # that keeps dead rows from being pruned costs space, never time per posting. (One row per
    # backend updated in place was tried: under such a snapshot every lookup walked all the row's
    # versions since, and posting slowed down as they piled up.) Autovacuum clears the dead rows.
    #
    # The SECURITY DEFINER note functions name everything with its schema (pg_catalog's
    # functions and operators too) rather than pin search_path on every statement;
    # ledger_check_pending, once per transaction, pins it.
    "CREATE SCHEMA IF NOT EXISTS ledger_private",
    "REVOKE ALL ON SCHEMA ledger_private FROM PUBLIC",
    # (An earlier shape of the table, one row per backend, never released: replaced.)
    r"""
DO $do$
BEGIN
  IF EXISTS (SELECT FROM pg_attribute
              WHERE attrelid = to_regclass('ledger_private.pending_check') AND attname = 'backend')
  THEN
    DROP TABLE ledger_private.pending_check;
  END IF;
END
$do$
""",
    """CREATE UNLOGGED TABLE IF NOT EXISTS ledger_private.pending_check (
         xid xid8 PRIMARY KEY,
         entries int8multirange NOT NULL)""",
    "REVOKE ALL ON TABLE ledger_private.pending_check FROM PUBLIC",
    # Default privileges may have granted the new table to an application role: take them back.
    r"""
DO $do$
DECLARE
  who text;
BEGIN
  FOR who IN SELECT DISTINCT g.grantee::regrole::text
               FROM pg_class c, aclexplode(c.relacl) g
              WHERE c.oid = 'ledger_private.pending_check'::regclass
                AND g.grantee <> c.relowner AND g.grantee <> 0
  LOOP
    EXECUTE format('REVOKE ALL ON TABLE ledger_private.pending_check FROM %s', who);
  END LOOP;
END
$do$
""",
    *[
        rf"""
CREATE OR REPLACE FUNCTION ledger_note_{what}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
AS $fn$
DECLARE
  touched int8multirange;
  now_xid xid8 := pg_catalog.pg_current_xact_id();
BEGIN
  SELECT pg_catalog.range_agg(pg_catalog.int8range(n.{column}, n.{column}, '[]'))
    INTO touched FROM new_rows n;
  IF touched IS NULL THEN
    RETURN NULL;
  END IF;
  -- Already noted in this transaction (the postings of the entries just inserted): a read.
  PERFORM FROM ledger_private.pending_check pc
   WHERE pc.xid OPERATOR(pg_catalog.=) now_xid AND pc.entries OPERATOR(pg_catalog.@>) touched;
  IF NOT FOUND THEN
    INSERT INTO ledger_private.pending_check AS pc (xid, entries) VALUES (now_xid, touched)
    ON CONFLICT (xid) DO UPDATE SET entries = pc.entries OPERATOR(pg_catalog.+) EXCLUDED.entries;
  END IF;
  RETURN NULL;
END
$fn$
"""
        for what, column in (("entries", "id"), ("postings", "entry_id"))
    ],
    # Check now what this transaction noted so far (the deferred trigger calls it at commit;
    # ledger_checks_now() calls it inside a longer transaction). Anyone may call it: it can only
    # check, and what it clears is what it has just checked.
    *[
        rf"""
CREATE OR REPLACE FUNCTION {name}() RETURNS {returns}
LANGUAGE plpgsql SECURITY DEFINER
-- The tables are the application's, never a session's temporary table of the same name.
SET search_path = pg_catalog, @APP_SCHEMA@, pg_temp
AS $fn$
DECLARE
  touched int8multirange;
  r int8range;
BEGIN
  DELETE FROM ledger_private.pending_check WHERE xid = pg_current_xact_id_if_assigned()
  RETURNING entries INTO touched;
  IF touched IS NULL THEN
    NULL;
  ELSIF touched = multirange(range_merge(touched)) THEN
    -- One run of consecutive ids (one entry, one batch): no loop.
    PERFORM ledger_check_entries(lower(touched), upper(touched) - 1);
  ELSE
    FOR r IN SELECT u FROM unnest(touched) AS u LOOP
      PERFORM ledger_check_entries(lower(r), upper(r) - 1);
    END LOOP;
  END IF;
  RETURN {result};
END
$fn$
"""
        # The deferred trigger's function is the check itself (one call, not two, per commit).
        for name, returns, result in (
            ("ledger_check_pending", "void", ""),
            ("ledger_pending_checked", "trigger", "NULL"),
        )
    ],
    "REVOKE ALL ON FUNCTION ledger_note_entries() FROM PUBLIC",
    "REVOKE ALL ON FUNCTION ledger_note_postings() FROM PUBLIC",
    # The per-row deferred triggers and the memo they shared (before issue 22): gone.
    "DROP TRIGGER IF EXISTS trust_entry_complete ON trust_entry",
    "DROP TRIGGER IF EXISTS trust_posting_balanced ON trust_posting",
    "DROP FUNCTION IF EXISTS ledger_entry_complete()",
    "DROP FUNCTION IF EXISTS ledger_posting_balanced()",
    "DROP FUNCTION IF EXISTS ledger_verify(bigint, bigint)",
    "DROP TRIGGER IF EXISTS trust_entry_immutable ON trust_entry",
    """CREATE TRIGGER trust_entry_immutable BEFORE UPDATE OR DELETE ON trust_entry
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    "DROP TRIGGER IF EXISTS trust_posting_immutable ON trust_posting",
    """CREATE TRIGGER trust_posting_immutable BEFORE UPDATE OR DELETE ON trust_posting
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    "DROP TRIGGER IF EXISTS trust_trust_no_delete ON trust_trust",
    """CREATE TRIGGER trust_trust_no_delete BEFORE DELETE ON trust_trust
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    "DROP TRIGGER IF EXISTS trust_account_no_delete ON trust_account",
    """CREATE TRIGGER trust_account_no_delete BEFORE DELETE ON trust_account
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    "DROP TRIGGER IF EXISTS trust_entry_open_period ON trust_entry",
    "DROP FUNCTION IF EXISTS ledger_entry_open_period()",
    "DROP TRIGGER IF EXISTS trust_entry_has_postings ON trust_entry",
    "DROP FUNCTION IF EXISTS ledger_entry_has_postings()",
    "DROP TRIGGER IF EXISTS trust_entry_noted ON trust_entry",
    """CREATE TRIGGER trust_entry_noted AFTER INSERT ON trust_entry
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_note_entries()""",
    "DROP TRIGGER IF EXISTS trust_posting_noted ON trust_posting",
    """CREATE TRIGGER trust_posting_noted AFTER INSERT ON trust_posting
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_note_postings()""",
    # Created when missing, never dropped and made again: a transaction with a check pending
    # (a test calling this, say) cannot alter the table. A change to its definition needs its
    # own DROP TRIGGER in a migration.
    r"""
DO $do$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgname = 'ledger_pending_checked'
                   AND tgrelid = 'ledger_private.pending_check'::regclass) THEN
    CREATE CONSTRAINT TRIGGER ledger_pending_checked AFTER INSERT ON ledger_private.pending_check
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_pending_checked();
  END IF;
END
$do$
""",
    # The only write path for entries (trust.services.ledger): one round trip per batch. The
    # version without audit events is dropped (a new argument makes a new function).
    "DROP FUNCTION IF EXISTS ledger_post_batch(bigint, bigint, timestamptz, text[], date[],"
    " text[], text[], text[], bigint[], text[], int[], bigint[], bigint[], text[])",
    "DROP FUNCTION IF EXISTS ledger_post_batch(bigint, bigint, timestamptz, text[], date[],"
    " text[], text[], text[], bigint[], text[], int[], bigint[], bigint[], text[], bytea[])",
    r"""
CREATE OR REPLACE FUNCTION ledger_post_batch(
  p_trust bigint, p_actor bigint, p_recorded timestamptz,
  e_keys text[], e_dates date[], e_memos text[], e_kinds text[], e_hashes text[],
  e_reverses bigint[], e_reasons text[],
  l_entry int[], l_accounts bigint[], l_amounts bigint[], l_currencies text[],
  a_frame bytea[] DEFAULT NULL, a_entries bytea[] DEFAULT NULL)
RETURNS TABLE(idx int, entry_id bigint, created boolean)
LANGUAGE plpgsql
-- Plan each statement once per session, not on every call: planning cost more than executing.
SET plan_cache_mode = force_generic_plan
-- Every statement here looks rows up by key; a plan made while a table was small must not scan
-- it once it has grown (plans are kept for the session).
SET enable_seqscan = off
AS $fn$
DECLARE
  t record;
  bad record;
  n_entries int := cardinality(e_keys);
  new_idx int[];
  new_ids bigint[];
  eid bigint[];  -- entry id by position in the batch; NULL where the key already existed
BEGIN
  SELECT status, lock_date INTO t FROM trust_trust WHERE id = p_trust;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'trust % does not exist', p_trust USING HINT = 'ledger:unknown_trust';
  END IF;
  IF t.status <> 'active' THEN
    RAISE EXCEPTION 'this trust is %, it takes no new entries', t.status
      USING HINT = 'ledger:trust_closed';
  END IF;
  IF t.lock_date IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(e_dates) d WHERE d <= t.lock_date)
  THEN
    RAISE EXCEPTION 'the period up to % is closed: date the entry after the lock date',
      t.lock_date USING HINT = 'ledger:period_closed';
  END IF;

  WITH src AS (
    SELECT * FROM unnest(e_keys, e_dates, e_memos, e_kinds, e_hashes, e_reverses, e_reasons)
      WITH ORDINALITY AS u(k, d, m, kd, h, r, rs, ord)
  ), ins AS (
    INSERT INTO trust_entry (trust_id, effective_date, recorded_at, memo, kind, idempotency_key,
                             payload_hash, reverses_id, reason, created_by_id)
    SELECT p_trust, d, p_recorded, m, kd, k, h, r, rs, p_actor FROM src ORDER BY ord
    ON CONFLICT (trust_id, idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
  )
  SELECT array_agg(src.ord::int ORDER BY src.ord), array_agg(ins.id ORDER BY src.ord)
    INTO new_idx, new_ids
    FROM ins JOIN src ON src.k = ins.idempotency_key;

  IF coalesce(cardinality(new_ids), 0) = n_entries THEN
    eid := new_ids;  -- the usual case: every key was new
  ELSE
    -- Keys already used: the same payload returns the first entry, another one is an error.
    FOR bad IN
      SELECT s.ord::int AS ord, e.id, e.payload_hash, s.h
        FROM unnest(e_keys, e_hashes) WITH ORDINALITY AS s(k, h, ord)
        JOIN trust_entry e ON e.trust_id = p_trust AND e.idempotency_key = s.k
       WHERE NOT (s.ord::int = ANY (coalesce(new_idx, '{}'::int[])))
    LOOP
      IF bad.payload_hash <> bad.h THEN
        RAISE EXCEPTION 'idempotency key % was already used for a different entry (#%)',
          e_keys[bad.ord], bad.id USING HINT = 'ledger:key_reused';
      END IF;
      idx := bad.ord; entry_id := bad.id; created := false;
      RETURN NEXT;
    END LOOP;
    IF new_ids IS NULL THEN
      RETURN;
    END IF;
    SELECT array_agg(n.id ORDER BY g.i) INTO eid
      FROM generate_series(1, n_entries) AS g(i)
      LEFT JOIN unnest(new_idx, new_ids) AS n(ord, id) ON n.ord = g.i;
  END IF;

  -- Lock every balance row touched, in id order (concurrent posters wait instead of
  -- deadlocking), and find the first reason to refuse, all in one statement.
  WITH lk AS MATERIALIZED (
    SELECT a.id, a.code, a.trust_id, a.currency, a.no_negative, a.balance_minor,
           """
    + _NORMAL_SIGN
    + r""" AS sgn
      FROM trust_account a
     WHERE a.id = ANY (l_accounts)
     ORDER BY a.id
       FOR UPDATE
  ), lg AS (
    SELECT acc, amt, cur, ei FROM unnest(l_entry, l_accounts, l_amounts, l_currencies)
      AS l(ei, acc, amt, cur)
     WHERE eid[ei] IS NOT NULL
  ), run AS (
    SELECT acc, ei, sum(delta) OVER (PARTITION BY acc ORDER BY ei) AS cum
      FROM (SELECT acc, ei, sum(amt) AS delta FROM lg GROUP BY acc, ei) per
  )
  SELECT * INTO bad FROM (
    SELECT 1 AS prio, 'unknown_account' AS reason, lg.acc::text AS code, ''::text AS a, ''::text AS b
      FROM lg LEFT JOIN lk ON lk.id = lg.acc WHERE lk.id IS NULL
    UNION ALL
    SELECT 2, 'foreign_account', lk.code, '', '' FROM lk WHERE lk.trust_id <> p_trust
    UNION ALL
    SELECT 3, 'currency_mismatch', lk.code, lk.currency, lg.cur
      FROM lg JOIN lk ON lk.id = lg.acc WHERE lk.currency <> lg.cur
    UNION ALL
    SELECT 4, 'overdraft', lk.code, lk.balance_minor || ' ' || lk.currency,
           (lk.sgn * run.cum) || ' ' || lk.currency
      FROM run JOIN lk ON lk.id = run.acc
     WHERE lk.no_negative AND lk.balance_minor + lk.sgn * run.cum < 0
  ) problems
  ORDER BY prio LIMIT 1;
  IF FOUND THEN
    CASE bad.reason
      WHEN 'unknown_account' THEN
        RAISE EXCEPTION 'account % does not exist', bad.code USING HINT = 'ledger:unknown_account';
      WHEN 'foreign_account' THEN
        RAISE EXCEPTION 'account % belongs to another trust', bad.code
          USING HINT = 'ledger:foreign_account';
      WHEN 'currency_mismatch' THEN
        RAISE EXCEPTION 'account % holds %, not %', bad.code, bad.a, bad.b
          USING HINT = 'ledger:currency_mismatch';
      ELSE
        RAISE EXCEPTION 'account % would go below zero: balance %, change %',
          bad.code, bad.a, bad.b USING HINT = 'ledger:overdraft';
    END CASE;
  END IF;

  -- Postings, balances and daily movements in one statement.
  WITH lg AS (
    SELECT eid[ei] AS entry, acc, amt, cur, e_dates[ei] AS day
      FROM unnest(l_entry, l_accounts, l_amounts, l_currencies) AS l(ei, acc, amt, cur)
     WHERE eid[ei] IS NOT NULL
  ), posted AS (
    INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)
    SELECT entry, acc, amt, cur, day FROM lg
  ), per_account AS (
    SELECT acc, sum(amt) AS raw FROM lg GROUP BY acc
  ), balances AS (
    -- The row's own type gives the sign, so the accounts are read once, by the update itself.
    UPDATE trust_account a SET balance_minor = a.balance_minor + """
    + _NORMAL_SIGN
    + r""" * d.raw
      FROM per_account d WHERE a.id = d.acc
    RETURNING a.id, """
    + _NORMAL_SIGN
    + r""" AS sgn
  )
  INSERT INTO trust_account_day AS ad (account_id, day, net_minor)
  SELECT lg.acc, lg.day, b.sgn * sum(lg.amt)
    FROM lg JOIN balances b ON b.id = lg.acc
   GROUP BY lg.acc, lg.day, b.sgn
   ORDER BY lg.acc, lg.day
  ON CONFLICT (account_id, day) DO UPDATE SET net_minor = ad.net_minor + EXCLUDED.net_minor;

  -- One audit event for the call: the entries it wrote, in batch order, on the trust's chain.
  -- Its bytes are the caller's canonical frame around the new entries' canonical fragments
  -- (a retried entry wrote nothing, so it is left out). Each fragment starts with its date,
  -- '{"date":"YYYY-MM-DD",' (21 bytes): the entry's id goes in after it, where canonical JSON
  -- (keys sorted) puts it, so that the event binds the entry by id (issue 22).
  IF a_entries IS NOT NULL THEN
    INSERT INTO trust_audit_event (at, trust_id, actor_id, action, object_type, object_id, data)
    SELECT p_recorded, p_trust, p_actor, 'entries.posted', 'entries', '',
           a_frame[1]
           || string_agg(overlay(a_entries[i] PLACING convert_to('"id":' || eid[i] || ',', 'UTF8')
                                 FROM 22 FOR 0),
                         ','::bytea ORDER BY i)
           || a_frame[2]
      FROM generate_subscripts(e_keys, 1) AS i
     WHERE eid[i] IS NOT NULL
    HAVING count(*) > 0;
  END IF;

  RETURN QUERY SELECT n.ord, n.id, true FROM unnest(new_idx, new_ids) AS n(ord, id);
END
$fn$
""",
]

PG_AUDIT_SQL = [
    r"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- The one change allowed: sealing an event, once, by the sealer (its place in its chain, its
  -- hash and its place in the log; nothing else). A forged seal would still fail verification.
  -- (Nested: the inner test names columns only events have.)
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'trust_audit_event' THEN
    IF OLD.hash IS NULL AND OLD.chain_id IS NULL AND NEW.hash IS NOT NULL
       AND current_setting('audit.sealing', true) = 'on'
       AND (NEW.id, NEW.at, NEW.trust_id, NEW.actor_id, NEW.action,
            NEW.object_type, NEW.object_id, NEW.data)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.trust_id, OLD.actor_id, OLD.action,
            OLD.object_type, OLD.object_id, OLD.data)
    THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = '23001';
END
$fn$
""",
    *[
        sql
        for table in AUDIT_TABLES
        for sql in (
            f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}",
            f"""CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
        )
    ],
    # Versions of the trail that sealed at commit: gone.
    "DROP TRIGGER IF EXISTS trust_audit_event_seal ON trust_audit_event",
    "DROP FUNCTION IF EXISTS audit_seal()",
]

_GUARD = "WHEN NOT ledger_guard_off()"
SQLITE_SQL = [
    f"""CREATE TRIGGER IF NOT EXISTS trust_entry_no_update BEFORE UPDATE ON trust_entry {_GUARD}
        BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: UPDATE on trust_entry refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS trust_entry_no_delete BEFORE DELETE ON trust_entry {_GUARD}
        BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: DELETE on trust_entry refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS trust_posting_no_update BEFORE UPDATE ON trust_posting {_GUARD}
        BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: UPDATE on trust_posting refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS trust_posting_no_delete BEFORE DELETE ON trust_posting {_GUARD}
        BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: DELETE on trust_posting refused'); END""",
    "DROP TRIGGER IF EXISTS trust_entry_open_period",
    """CREATE TRIGGER trust_entry_open_period BEFORE INSERT ON trust_entry
        WHEN NOT EXISTS (SELECT 1 FROM trust_trust t WHERE t.id = NEW.trust_id
                          AND t.status = 'active'
                          AND (t.lock_date IS NULL OR NEW.effective_date > t.lock_date))
        BEGIN SELECT RAISE(ABORT,
          'entry refused: no such trust, trust not active or period closed'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS trust_trust_no_delete BEFORE DELETE ON trust_trust {_GUARD}
        BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: DELETE on trust_trust refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS trust_account_no_delete BEFORE DELETE ON trust_account {_GUARD}
        BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: DELETE on trust_account refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS trust_posting_consistent BEFORE INSERT ON trust_posting
        WHEN NOT EXISTS (SELECT 1 FROM trust_account a JOIN trust_entry e ON e.id = NEW.entry_id
                          WHERE a.id = NEW.account_id AND a.trust_id = e.trust_id
                            AND a.currency = NEW.currency
                            AND e.effective_date = NEW.effective_date)
        BEGIN SELECT RAISE(ABORT,
          'posting refused: account of another trust, wrong currency or wrong date'); END""",
]

_SEALING = (
    "OLD.hash IS NULL AND OLD.chain_id IS NULL AND NEW.hash IS NOT NULL AND audit_sealing()"
    " AND NEW.id IS OLD.id AND NEW.at IS OLD.at"
    " AND NEW.trust_id IS OLD.trust_id AND NEW.actor_id IS OLD.actor_id"
    " AND NEW.action IS OLD.action AND NEW.object_type IS OLD.object_type"
    " AND NEW.object_id IS OLD.object_id AND NEW.data IS OLD.data"
)
SQLITE_AUDIT_SQL = [
    *[f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in AUDIT_TABLES for op in ("update",)],
    *[
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table}
        WHEN NOT ledger_guard_off(){
            f" AND NOT ({_SEALING})" if (table, op) == ("trust_audit_event", "update") else ""
        }
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: {op.upper()} on {
            table
        } refused');
        END"""
        for table in AUDIT_TABLES
        for op in ("update", "delete")
    ],
]

# --- SQLite's escape hatch for test teardown --------------------------------------------------
# Django flushes SQLite test databases with DELETE FROM, which the immutability triggers refuse.
# The triggers call ledger_guard_off(), a function that exists only on Django's connections and
# returns 1 only inside ``ledger_guard_suspended()`` (used by the test suite's teardown). A raw
# sqlite3 session has no such function, so its UPDATE or DELETE fails.
_guard = threading.local()


def _guard_off() -> int:
    return 1 if getattr(_guard, "off", False) else 0


@contextlib.contextmanager
def ledger_guard_suspended() -> Iterator[None]:
    """For test-database teardown only: lets SQLite flush ledger tables in this thread, and
    PostgreSQL TRUNCATE them (which the ledger's and the trail's tables refuse): the test suite's
    superuser switches triggers off for the flush (``session_replication_role = replica``, what
    any superuser can do, and what the insider tests play)."""
    from django.db import connections

    _guard.off = True
    replicas = []
    try:
        for conn in connections.all():
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    cursor.execute("SET session_replication_role = replica")
                replicas.append(conn)
        yield
    finally:
        _guard.off = False
        for conn in replicas:
            with contextlib.suppress(Exception), conn.cursor() as cursor:
                cursor.execute("RESET session_replication_role")


def _sealing() -> int:
    return 1 if getattr(_guard, "sealing", False) else 0


@contextlib.contextmanager
def sqlite_sealing() -> Iterator[None]:
    """The sealer's one permitted update of events on SQLite (PostgreSQL: ``audit.sealing``)."""
    _guard.sealing = True
    try:
        yield
    finally:
        _guard.sealing = False


def register_sqlite_functions(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("ledger_guard_off", 0, _guard_off)
        connection.connection.create_function("audit_sealing", 0, _sealing)


def _no_truncate_sql(tables: list[str], function: str) -> list[str]:
    return [
        sql
        for table in tables
        for sql in (
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        )
    ]


def install_ledger_database_objects(connection: BaseDatabaseWrapper) -> None:
    """Create or replace every trigger and function; safe to run any number of times."""
    statements = PG_SQL if connection.vendor == "postgresql" else SQLITE_SQL
    if connection.vendor not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"unsupported database vendor {connection.vendor}")
    tables = set(connection.introspection.table_names())
    audit = set(AUDIT_TABLES) <= tables
    if audit:
        statements = statements + (
            PG_AUDIT_SQL if connection.vendor == "postgresql" else SQLITE_AUDIT_SQL
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT quote_ident(current_schema())")
            schema = cursor.fetchone()[0]
            statements = [sql.replace("@APP_SCHEMA@", schema) for sql in statements]
            statements += _no_truncate_sql(
                [t for t in NO_TRUNCATE_LEDGER_TABLES if t in tables], "ledger_refuse_change"
            )
            if audit:
                statements += _no_truncate_sql(
                    [t for t in NO_TRUNCATE_AUDIT_TABLES if t in tables], "audit_refuse_change"
                )
        for sql in statements:
            # No params: a '%' in plpgsql must not be read as a placeholder.
            cursor.execute(sql, None)


def _no_truncate_expected(connection: BaseDatabaseWrapper) -> list[str]:
    tables = set(connection.introspection.table_names())
    return [
        f"{table}_no_truncate"
        for table in NO_TRUNCATE_LEDGER_TABLES + NO_TRUNCATE_AUDIT_TABLES
        if table in tables
    ]


def ledger_triggers_missing(connection: BaseDatabaseWrapper) -> list[str]:
    """Names of the guard triggers (and the posting function) that are not installed."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            present = {row[0] for row in cursor.fetchall()}
            triggers = {**PG_TRIGGERS, **PG_AUDIT_TRIGGERS}
            expected = [name for names in triggers.values() for name in names]
            expected += _no_truncate_expected(connection)
            missing = [name for name in expected if name not in present]
            wanted = PG_FUNCTIONS + PG_AUDIT_FUNCTIONS
            cursor.execute("SELECT proname FROM pg_proc WHERE proname = ANY(%s)", [wanted])
            functions = {row[0] for row in cursor.fetchall()}
            missing += [f"function {name}" for name in wanted if name not in functions]
            return missing
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}
        return [name for name in SQLITE_TRIGGERS + SQLITE_AUDIT_TRIGGERS if name not in present]


def ledger_guards_weakened(connection: BaseDatabaseWrapper) -> list[tuple[str, str]]:
    """What a table owner (or a superuser) did to the guards short of dropping them, as
    (object, problem): a guard trigger disabled (``ALTER TABLE ... DISABLE TRIGGER``), or the
    commit-time check's private table readable or writable by a role other than its owner.
    PostgreSQL only (SQLite has neither)."""
    if connection.vendor != "postgresql":
        return []
    triggers = {**PG_TRIGGERS, **PG_AUDIT_TRIGGERS}
    expected = [name for names in triggers.values() for name in names]
    expected += _no_truncate_expected(connection)
    found: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'"
            " AND tgname = ANY(%s) ORDER BY tgname",
            [expected],
        )
        found += [(name, "trigger is disabled") for (name,) in cursor.fetchall()]
        cursor.execute(
            "SELECT c.relname, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text"
            " END, g.privilege_type FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,"
            " aclexplode(c.relacl) g WHERE n.nspname = %s AND g.grantee <> c.relowner"
            " ORDER BY 1, 2, 3",
            [LEDGER_PRIVATE_SCHEMA],
        )
        found += [
            (f"{LEDGER_PRIVATE_SCHEMA}.{table}", f"role {who} has {privilege} on it")
            for table, who, privilege in cursor.fetchall()
        ]
    return found


def drop_before_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """SQLite rebuilds a table to alter it (copy, drop, rename), and a trigger on another table
    that names the dropped table makes the rename fail. Drop the ledger's SQLite triggers before
    migrations; ``reinstall_after_migrate`` puts them back."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS + SQLITE_AUDIT_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def reinstall_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    connection = connections[using]
    tables = set(connection.introspection.table_names())
    if {"trust_entry", "trust_posting", "trust_account", "trust_account_day"} <= tables:
        install_ledger_database_objects(connection)
