"""The ledger against an insider with database access (issue 22, attacks 1 and 2, and TRUNCATE).

Each attack is played as the application's own database role (a role with only SELECT, INSERT and
UPDATE on the tables and USAGE on the sequences, connected with psycopg directly) and as a
superuser who switches the triggers off (``session_replication_role = replica``):

- 1: the commit-time balance check cannot be switched off from a session: its state lives in
  ``ledger_private`` (trust/db.py), which the application's role cannot read or write, and no
  setting a session can SET is read by it;
- 2: every journal entry is committed to the trail by its ``entries.posted`` event (id, trust,
  date, kind, key, memo, reason, reversal, actor, postings): ``check_ledger``, ``verify_audit``
  and the standalone verifier name an entry without its event, an entry that differs from what
  its event committed, and an event that names an entry that is not there
  (trust/audit/entries.py);
- TRUNCATE of the ledger's and the trail's tables is refused by statement triggers; done by a
  superuser with the triggers off, the check and the verification report what it left.

The tests of the check itself run on SQLite too.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from moneyed import Money

from tests.factories import TrustFactory, account, beneficiary, fund
from tests.trust.test_audit_bundle import tool
from trust.audit import entries as binding
from trust.audit.entries import entries_binding
from trust.audit.events import audit_insert_raw
from trust.audit.export import audit_export
from trust.db import NO_TRUNCATE_AUDIT_TABLES, NO_TRUNCATE_LEDGER_TABLES, ledger_guard_suspended
from trust.models import Account, AuditEvent, JournalEntry, Trust
from trust.services.ledger import EntrySpec, Leg, entries_post

DAY = date(2026, 1, 15)
APP_ROLE = "trust_ledger_app"
HAND = "hand-written"


# --- helpers ----------------------------------------------------------------------------------


def run_check() -> tuple[int, list[str]]:
    """``check_ledger``'s exit code and its VIOLATION lines."""
    out, err = StringIO(), StringIO()
    try:
        call_command("check_ledger", stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    return code, [line for line in err.getvalue().splitlines() if line.startswith("VIOLATION ")]


def run_verify() -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


@contextlib.contextmanager
def triggers_off() -> Iterator[None]:
    """A superuser who switches every trigger off (on SQLite: the guards lifted)."""
    if connection.vendor == "postgresql":
        sql("SET session_replication_role = replica")
        try:
            yield
        finally:
            sql("SET session_replication_role = DEFAULT")
    else:
        with ledger_guard_suspended():
            yield


def bundle_problems(tmp_path: Path) -> list[str]:
    out = tmp_path / "bundle"
    audit_export(out)
    return [str(p) for p in tool.check_entries(out)]


def binding_problems() -> list[str]:
    return [str(p) for p in entries_binding().problems]


@pytest.fixture
def child() -> tuple[Trust, Account, int]:
    """A trust with one child's sub-ledger funded with 1,000.00 USD through the service."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    posted = fund(trust, sub, "1000.00", on=DAY)
    return trust, sub, posted.entry_id


# The hand-written entry of attack 2: 500.00 out of the child's sub-ledger to the bank, with the
# stored balances and the daily movements updated to match, as the posting function would.
HAND_WRITTEN = [
    (
        "INSERT INTO trust_entry (trust_id, effective_date, recorded_at, memo, kind,"
        " idempotency_key, payload_hash, reverses_id, reason, created_by_id)"
        " VALUES (%(trust)s, %(day)s, '2026-01-16 09:00:00', 'School fees', 'disbursement',"
        f" '{HAND}', %(hash)s, NULL, '', NULL)"
    ),
    (
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        " SELECT id, %(sub)s, 50000, 'USD', %(day)s FROM trust_entry"
        f" WHERE trust_id = %(trust)s AND idempotency_key = '{HAND}'"
    ),
    (
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        " SELECT id, %(bank)s, -50000, 'USD', %(day)s FROM trust_entry"
        f" WHERE trust_id = %(trust)s AND idempotency_key = '{HAND}'"
    ),
    "UPDATE trust_account SET balance_minor = balance_minor - 50000 WHERE id IN (%(sub)s, %(bank)s)",
    (
        "UPDATE trust_account_day SET net_minor = net_minor - 50000"
        " WHERE account_id IN (%(sub)s, %(bank)s) AND day = %(day)s"
    ),
]


def hand_params(trust: Trust, sub: Account) -> dict[str, Any]:
    return {
        "trust": trust.pk,
        "sub": sub.pk,
        "bank": account(trust, Account.Role.BANK).pk,
        "day": DAY.isoformat(),
        "hash": "0" * 64,
    }


def hand_written_id(trust: Trust) -> int:
    return JournalEntry.objects.get(trust=trust, idempotency_key=HAND).pk


# --- the application's own role, connected directly (PostgreSQL) -------------------------------


class AppRole:
    """Connections as a role with only SELECT, INSERT and UPDATE on the tables and USAGE on the
    sequences: what the application needs, and all a dishonest insider with its password has."""

    def __init__(self) -> None:
        s = connection.settings_dict
        self.params = {
            "host": s.get("HOST") or "127.0.0.1",
            "port": s.get("PORT") or 5432,
            "dbname": s["NAME"],
            "user": APP_ROLE,
        }

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.params)

    def run(self, statements: list[str], params: dict[str, Any] | None = None) -> None:
        """The statements in one transaction, committed."""
        with self.connect() as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement, params or {})
            conn.commit()


@pytest.fixture
def app_role(postgres_tx: None) -> Iterator[AppRole]:
    sql(
        f"DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;"
        " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    database = connection.settings_dict["NAME"]
    sql(f'GRANT CONNECT ON DATABASE "{database}" TO {APP_ROLE}')
    sql(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    sql(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    role = AppRole()
    with role.connect() as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row == (False,)
        assert conn.execute("SELECT current_setting('is_superuser')").fetchone() == ("off",)
    yield role


def unbalanced(trust: Trust, sub: Account) -> list[str]:
    """An entry of 500.00 to the bank against 400.00 out of the sub-ledger."""
    bank = account(trust, Account.Role.BANK).pk
    return [
        "INSERT INTO trust_entry (trust_id, effective_date, recorded_at, memo, kind,"
        " idempotency_key, payload_hash, reverses_id, reason, created_by_id)"
        f" VALUES ({trust.pk}, '{DAY}', now(), 'raw', 'adjustment', 'unbalanced', '{'0' * 64}',"
        " NULL, '', NULL)",
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        f" SELECT currval('trust_entry_id_seq'), {bank}, 50000, 'USD', '{DAY}'",
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        f" SELECT currval('trust_entry_id_seq'), {sub.pk}, -40000, 'USD', '{DAY}'",
    ]


# --- attack 1: the commit-time balance check cannot be switched off ---------------------------


def test_the_forged_memo_of_attack_1_no_longer_lets_an_unbalanced_entry_commit(
    app_role: AppRole, child: tuple[Trust, Account, int]
) -> None:
    trust, sub, _ = child
    forged = [
        "SET LOCAL ledger.checked = '1:9223372036854775807:9223372036854775807'",
        "SET LOCAL ledger.batch = '1:9223372036854775807'",
    ]
    with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"):
        app_role.run(forged + unbalanced(trust, sub))
    assert not JournalEntry.objects.filter(idempotency_key="unbalanced").exists()


def test_a_check_inside_a_savepoint_rolled_back_does_not_count(
    app_role: AppRole, child: tuple[Trust, Account, int]
) -> None:
    """The entry balances only with a posting of a savepoint that is rolled back after the check
    ran: the check's state is rolled back with it, and the commit checks the entry again."""
    trust, sub, _ = child
    statements = [
        *unbalanced(trust, sub),
        "SAVEPOINT s",
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        f" SELECT currval('trust_entry_id_seq'), {sub.pk}, -10000, 'USD', '{DAY}'",
        "SELECT ledger_check_pending()",
        "ROLLBACK TO SAVEPOINT s",
    ]
    with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"):
        app_role.run(statements)


def test_a_posting_added_after_a_check_with_a_low_id_is_checked_again(
    app_role: AppRole, child: tuple[Trust, Account, int]
) -> None:
    """Before issue 22 a posting with an id below the highest one checked was taken as checked."""
    trust, sub, _entry_id = child
    statements = [
        *unbalanced(trust, sub)[:1],
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        f" SELECT currval('trust_entry_id_seq'), {sub.pk}, s, 'USD', '{DAY}'"
        " FROM unnest(ARRAY[-100, 100]) s",
        "SELECT ledger_check_pending()",
        "INSERT INTO trust_posting (id, entry_id, account_id, amount_minor, currency,"
        f" effective_date) SELECT -1, currval('trust_entry_id_seq'), {sub.pk}, 7, 'USD', '{DAY}'",
    ]
    with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"):
        app_role.run(statements)


def test_postings_after_the_constraints_fired_early_are_checked_at_commit(
    app_role: AppRole, child: tuple[Trust, Account, int]
) -> None:
    trust, sub, _ = child
    balanced = [
        unbalanced(trust, sub)[0],
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        f" SELECT currval('trust_entry_id_seq'), {sub.pk}, s, 'USD', '{DAY}'"
        " FROM unnest(ARRAY[-100, 100]) s",
    ]
    statements = [
        *balanced,
        "SET CONSTRAINTS ALL IMMEDIATE",
        "SET CONSTRAINTS ALL DEFERRED",
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        f" SELECT currval('trust_entry_id_seq'), {sub.pk}, 7, 'USD', '{DAY}'",
    ]
    with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"):
        app_role.run(statements)


def test_the_checks_state_is_empty_once_committed(
    postgres_tx: None, child: tuple[Trust, Account, int]
) -> None:
    trust, sub, _ = child
    post(trust, sub, "a", "b")
    assert sql("SELECT count(*) FROM ledger_private.pending_check") == [(0,)]


def test_a_temporary_table_cannot_stand_in_for_the_ledger_during_the_check(
    app_role: AppRole, child: tuple[Trust, Account, int]
) -> None:
    trust, sub, _ = child
    shadow = [
        "CREATE TEMPORARY TABLE trust_posting (LIKE public.trust_posting)",
        "CREATE TEMPORARY TABLE trust_entry (LIKE public.trust_entry)",
    ]
    qualified = [s.replace("INTO trust_", "INTO public.trust_") for s in unbalanced(trust, sub)]
    with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"):
        app_role.run(shadow + qualified)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM ledger_private.pending_check",
        "DELETE FROM ledger_private.pending_check",
        "INSERT INTO ledger_private.pending_check VALUES (pg_current_xact_id(), '{}')",
    ],
)
def test_the_application_role_cannot_touch_the_checks_state(
    app_role: AppRole, statement: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.run([statement])


def test_check_ledger_reports_a_table_owner_weakening_the_guards(
    app_role: AppRole, child: tuple[Trust, Account, int]
) -> None:
    """What an owner (or a superuser) can do short of dropping a guard is reported too."""
    sql(f"GRANT SELECT, UPDATE ON ledger_private.pending_check TO {APP_ROLE}")
    sql("ALTER TABLE trust_posting DISABLE TRIGGER trust_posting_noted")
    try:
        code, lines = run_check()
    finally:
        sql("ALTER TABLE trust_posting ENABLE TRIGGER trust_posting_noted")
        sql(f"REVOKE ALL ON ledger_private.pending_check FROM {APP_ROLE}")
    assert code == 1
    assert lines == [
        "VIOLATION [database-guard] trust_posting_noted: trigger is disabled",
        f"VIOLATION [database-guard] ledger_private.pending_check: role {APP_ROLE} has SELECT on it",
        f"VIOLATION [database-guard] ledger_private.pending_check: role {APP_ROLE} has UPDATE on it",
    ]


def test_an_unbalanced_entry_written_with_the_triggers_off_is_named_by_check_ledger(
    postgres_tx: None, child: tuple[Trust, Account, int]
) -> None:
    trust, sub, _ = child
    with triggers_off():
        for statement in unbalanced(trust, sub):
            sql(statement)
    entry_id = JournalEntry.objects.get(idempotency_key="unbalanced").pk
    code, lines = run_check()
    assert code == 1
    assert f"VIOLATION [balanced] entry #{entry_id}: USD postings sum to 10000" in lines


# --- attack 2: a balanced entry written by hand ------------------------------------------------


def _hand_written_is_named(trust: Trust, tmp_path: Path) -> None:
    entry_id = hand_written_id(trust)
    name = f"entry #{entry_id} (trust #{trust.pk}, key '{HAND}')"
    what = (
        "has no audit event: no 'entries.posted' event names it (an entry the posting service did"
        " not write)"
    )
    # Every other invariant holds: the balances and the daily rows were updated to match.
    code, lines = run_check()
    assert code == 1
    assert lines == [f"VIOLATION [entry-trail] {name}: {what}"]
    code, output = run_verify()
    assert code == 1
    assert f"FIRST PROBLEM {name}: {what}" in output
    assert bundle_problems(tmp_path) == [f"{name}: {what}"]


def test_a_hand_written_balanced_entry_by_the_application_role_is_named(
    app_role: AppRole, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, sub, _ = child
    assert run_check()[0] == 0
    app_role.run(HAND_WRITTEN, hand_params(trust, sub))  # the commit-time check lets it pass
    assert Account.objects.get(pk=sub.pk).balance_minor == 50000
    _hand_written_is_named(trust, tmp_path)


def test_a_hand_written_balanced_entry_by_a_superuser_with_the_triggers_off_is_named(
    postgres_tx: None, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, sub, _ = child
    with triggers_off():
        for statement in HAND_WRITTEN:
            with connection.cursor() as cursor:
                cursor.execute(statement, hand_params(trust, sub))
    _hand_written_is_named(trust, tmp_path)


def test_an_event_forged_by_the_application_role_naming_no_entry_is_named(
    app_role: AppRole, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, _, entry_id = child
    ghost = entry_id + 1000
    data = json.dumps(
        {
            "action": "entries.posted",
            "actor": None,
            "at": "2026-01-16T09:00:00Z",
            "changes": {
                "entries": [
                    {
                        "date": DAY.isoformat(),
                        "id": ghost,
                        "key": "ghost",
                        "kind": "receipt",
                        "legs": [],
                        "memo": "",
                        "reason": "",
                        "reverses": None,
                    }
                ]
            },
            "object": {"id": "", "type": "entries"},
            "reason": "",
            "trust": trust.pk,
            "v": 1,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    app_role.run(
        [
            "INSERT INTO trust_audit_event (at, trust_id, actor_id, action, object_type,"
            " object_id, data) VALUES (now(), %(trust)s, NULL, 'entries.posted', 'entries', '',"
            " %(data)s)"
        ],
        {"trust": trust.pk, "data": data},
    )
    event_id = AuditEvent.objects.filter(action="entries.posted").latest("id").pk
    problem = (
        f"event #{event_id}: names entry #{ghost} (trust #{trust.pk}), which is not there:"
        " removed, or never written"
    )
    code, lines = run_check()
    assert code == 1
    assert lines == [f"VIOLATION [entry-trail] {problem}"]
    assert f"FIRST PROBLEM {problem}" in run_verify()[1]
    assert bundle_problems(tmp_path) == [problem]


def test_an_entry_deleted_by_a_superuser_with_the_triggers_off_is_named_by_its_event(
    postgres_tx: None, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, _, entry_id = child
    event_id = AuditEvent.objects.filter(action="entries.posted", trust_id=trust.pk).get().pk
    with triggers_off():
        sql("DELETE FROM trust_posting WHERE entry_id = %s", [entry_id])
        sql("DELETE FROM trust_entry WHERE id = %s", [entry_id])
    problem = (
        f"event #{event_id}: names entry #{entry_id} (trust #{trust.pk}), which is not there:"
        " removed, or never written"
    )
    _code, lines = run_check()
    assert f"VIOLATION [entry-trail] {problem}" in lines
    assert problem in run_verify()[1]
    assert bundle_problems(tmp_path) == [problem]


def test_an_entry_changed_by_a_superuser_with_the_triggers_off_is_named(
    postgres_tx: None, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, _sub, entry_id = child
    event_id = AuditEvent.objects.filter(action="entries.posted", trust_id=trust.pk).get().pk
    with triggers_off():
        # 100.00 less for the child, in the postings, the balances and the daily rows alike.
        sql(
            "UPDATE trust_posting SET amount_minor = amount_minor / 10 * 9 WHERE entry_id = %s",
            [entry_id],
        )
        sql(
            "UPDATE trust_account SET balance_minor = balance_minor / 10 * 9 WHERE trust_id = %s",
            [trust.pk],
        )
        sql("UPDATE trust_account_day SET net_minor = net_minor / 10 * 9 WHERE account_id IN"
            " (SELECT id FROM trust_account WHERE trust_id = %s)", [trust.pk])  # fmt: skip
    key = JournalEntry.objects.get(pk=entry_id).idempotency_key
    problem = (
        f"entry #{entry_id} (trust #{trust.pk}, key '{key}'): differs from what event"
        f" #{event_id} committed: postings"
    )
    _code, lines = run_check()
    assert lines == [f"VIOLATION [entry-trail] {problem}"]
    assert f"FIRST PROBLEM {problem}" in run_verify()[1]
    assert bundle_problems(tmp_path) == [problem]


# --- TRUNCATE -----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", NO_TRUNCATE_LEDGER_TABLES + NO_TRUNCATE_AUDIT_TABLES)
def test_truncate_is_refused_even_to_a_role_granted_truncate(
    app_role: AppRole, child: tuple[Trust, Account, int], table: str
) -> None:
    sql(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    try:
        with pytest.raises(psycopg.errors.IntegrityError, match=f"TRUNCATE on {table} refused"):
            app_role.run([f"TRUNCATE {table} CASCADE"])
    finally:
        sql(f"REVOKE TRUNCATE ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    assert JournalEntry.objects.exists() and AuditEvent.objects.exists()


def test_truncate_is_refused_to_the_application_role_without_the_grant(
    app_role: AppRole, child: tuple[Trust, Account, int]
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.run(["TRUNCATE trust_posting, trust_entry"])


def test_truncating_the_ledger_with_the_triggers_off_is_reported(
    postgres_tx: None, child: tuple[Trust, Account, int]
) -> None:
    trust, _, entry_id = child
    with triggers_off():
        sql("TRUNCATE trust_posting, trust_entry CASCADE")
    code, lines = run_check()
    assert code == 1
    assert any(f"names entry #{entry_id} (trust #{trust.pk}), which is not there" in line
               for line in lines)  # fmt: skip
    assert any("[stored-balance]" in line for line in lines)
    assert f"names entry #{entry_id}" in run_verify()[1]


def test_truncating_the_trail_with_the_triggers_off_is_reported(
    postgres_tx: None, child: tuple[Trust, Account, int]
) -> None:
    trust, _, entry_id = child
    with triggers_off():
        sql("TRUNCATE trust_audit_event, trust_audit_checkpoint, trust_audit_chain CASCADE")
    code, lines = run_check()
    assert code == 1
    assert any(line.startswith(f"VIOLATION [entry-trail] entry #{entry_id} (trust #{trust.pk}")
               and "has no audit event" in line for line in lines)  # fmt: skip
    code, output = run_verify()
    assert code == 1
    assert f"entry #{entry_id} (trust #{trust.pk}" in output


def test_check_ledger_knows_the_truncate_triggers(postgres_tx: None) -> None:
    sql("DROP TRIGGER trust_entry_no_truncate ON trust_entry")
    try:
        code, lines = run_check()
    finally:
        from trust.db import install_ledger_database_objects

        install_ledger_database_objects(connection)
    assert code == 1
    assert lines == [
        "VIOLATION [database-guard] trust_entry_no_truncate: trigger or function is missing"
    ]


# --- the check itself, on both backends --------------------------------------------------------


def post(trust: Trust, sub: Account, *keys: str) -> list[int]:
    bank = account(trust, Account.Role.BANK)
    money = Money("10.00", "USD")
    specs = [
        EntrySpec(DAY, [Leg(bank, money), Leg(sub, -money)], key, memo="Receipt", kind="receipt")
        for key in keys
    ]
    return [p.entry_id for p in entries_post(trust=trust, actor=None, entries=specs)]


def test_the_posting_event_binds_each_entry_by_its_id(
    db: None, child: tuple[Trust, Account, int]
) -> None:
    trust, sub, _ = child
    ids = post(trust, sub, "a", "b", "c")
    said = json.loads(bytes(AuditEvent.objects.filter(action="entries.posted").latest("id").data))
    assert [(e["id"], e["key"]) for e in said["changes"]["entries"]] == list(
        zip(ids, ["a", "b", "c"], strict=True)
    )
    report = entries_binding()
    assert report.ok, report.problems
    assert (report.entries, report.by_id, report.by_key) == (4, 4, 0)


def test_a_retried_entry_is_not_committed_twice(
    db: None, child: tuple[Trust, Account, int]
) -> None:
    trust, sub, _ = child
    post(trust, sub, "a")
    post(trust, sub, "a", "b")  # "a" is a retry: only "b" is in the second event
    assert entries_binding().ok
    said = json.loads(bytes(AuditEvent.objects.filter(action="entries.posted").latest("id").data))
    assert [e["key"] for e in said["changes"]["entries"]] == ["b"]


def test_a_hand_written_entry_is_named_on_either_backend(
    db: None, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, sub, _ = child
    for statement in HAND_WRITTEN:
        with connection.cursor() as cursor:
            cursor.execute(statement, hand_params(trust, sub))
    entry_id = hand_written_id(trust)
    problem = (
        f"entry #{entry_id} (trust #{trust.pk}, key '{HAND}'): has no audit event: no"
        " 'entries.posted' event names it (an entry the posting service did not write)"
    )
    assert binding_problems() == [problem]
    assert [str(p) for p in entries_binding(trust_id=trust.pk).problems] == [problem]
    assert entries_binding(trust_id=TrustFactory().pk).ok
    assert bundle_problems(tmp_path) == [problem]


def _rewrite_event(event: AuditEvent, change: Callable[[dict[str, Any]], None]) -> int:
    said = json.loads(bytes(event.data))
    change(said)
    data = json.dumps(said, sort_keys=True, separators=(",", ":")).encode()
    with triggers_off():
        sql("UPDATE trust_audit_event SET data = %s WHERE id = %s", [data, event.pk])
    return event.pk


def test_an_event_from_before_ids_were_bound_is_matched_by_key(
    db: None, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, _sub, entry_id = child
    event = AuditEvent.objects.get(action="entries.posted", trust_id=trust.pk)
    _rewrite_event(event, lambda said: [e.pop("id") for e in said["changes"]["entries"]])
    report = entries_binding()
    assert report.ok, report.problems
    assert (report.by_id, report.by_key) == (0, 1)
    assert bundle_problems(tmp_path) == []
    # ... and what such an event committed is compared all the same.
    _rewrite_event(event, lambda said: said["changes"]["entries"][0].update(memo="Changed"))
    problem = (
        f"entry #{entry_id} (trust #{trust.pk}, key '{JournalEntry.objects.get().idempotency_key}'):"
        f" differs from what event #{event.pk} committed: memo"
    )
    assert binding_problems() == [problem]
    assert bundle_problems(tmp_path / "again") == [problem]


def test_an_event_naming_an_entry_twice_and_an_unreadable_event_are_named(
    db: None, child: tuple[Trust, Account, int], tmp_path: Path
) -> None:
    trust, _, entry_id = child
    first = AuditEvent.objects.get(action="entries.posted", trust_id=trust.pk)
    with transaction.atomic():
        for data in (bytes(first.data), b"not json"):
            audit_insert_raw(
                trust_id=trust.pk,
                actor_id=None,
                at=timezone.now(),
                action="entries.posted",
                object_type="entries",
                data=data,
            )
    copy, junk = AuditEvent.objects.filter(action="entries.posted").order_by("id")[1:]
    key = JournalEntry.objects.get().idempotency_key
    expected = [
        f"entry #{entry_id} (trust #{trust.pk}, key '{key}'): is named by more than one event:"
        f" #{first.pk}, #{copy.pk}",
        f"event #{junk.pk}: its bytes are not the list of entries an 'entries.posted' event holds",
    ]
    assert binding_problems() == expected
    # The bundle does not say which action an event whose bytes are not JSON had (the action is
    # in the bytes): the standalone verifier names the entry named twice.
    assert bundle_problems(tmp_path) == expected[:1]


def test_the_database_path_and_the_python_path_agree(
    db: None, child: tuple[Trust, Account, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the events are parsed by the database; the Python path (SQLite's, and
    PostgreSQL's when an event is not JSON) must find the same."""
    trust, sub, _entry_id = child
    post(trust, sub, "a", "b")
    for statement in HAND_WRITTEN:
        with connection.cursor() as cursor:
            cursor.execute(statement, hand_params(trust, sub))
    event = AuditEvent.objects.filter(action="entries.posted").latest("id")
    _rewrite_event(event, lambda said: said["changes"]["entries"][1].update(kind="fee"))
    fast = binding_problems()
    assert len(fast) == 2
    monkeypatch.setattr(binding, "_pg_event_rows", binding._python_event_rows)
    assert binding_problems() == fast
