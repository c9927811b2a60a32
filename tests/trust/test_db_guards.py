"""The database itself refuses what would break the ledger, also for raw SQL (trust/db.py).

SQLite guards with row triggers: immutability, lock date, and each posting's account, currency and
date. It has no deferred triggers, so an unbalanced entry is not refused there (documented; the
posting service is the guard). PostgreSQL guards the same and, at commit, that every entry has at
least two postings summing to zero per currency: those tests need real commits (``postgres_tx``).
"""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from moneyed import Money

from tests.factories import TrustFactory, account, beneficiary, fund
from trust.invariants import ledger_violations
from trust.models import Account, JournalEntry, Posting, Trust
from trust.services.ledger import EntrySpec, Leg, entries_post
from trust.services.trusts import trust_set_lock_date

DAY = date(2026, 1, 15)
RECORDED = "2026-01-15 12:00:00"


def insert_entry(cursor, trust: Trust, on: date = DAY, key: str = "raw-entry") -> int:
    """A journal entry written with raw SQL, as a session outside the app could."""
    cursor.execute(
        "INSERT INTO trust_entry (trust_id, effective_date, recorded_at, memo, kind,"
        " idempotency_key, payload_hash, reverses_id, reason, created_by_id)"
        " VALUES (%s, %s, %s, 'raw SQL (test)', 'adjustment', %s, %s, NULL, '', NULL)"
        " RETURNING id",
        [trust.pk, on.isoformat(), RECORDED, key, "0" * 64],
    )
    return cursor.fetchone()[0]


def insert_posting(
    cursor, entry_id: int, acc: Account, minor: int, currency: str | None = None, on: date = DAY
) -> None:
    cursor.execute(
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        " VALUES (%s, %s, %s, %s, %s)",
        [entry_id, acc.pk, minor, currency or acc.currency, on.isoformat()],
    )


@pytest.fixture
def funded(db):
    """A trust with one beneficiary's sub-ledger funded with 100.00 USD."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    posted = fund(trust, sub, "100.00", on=DAY)
    return trust, sub, posted.entry_id


def other_trust_bank() -> Account:
    return account(TrustFactory(), Account.Role.BANK)


# --- immutability, on both backends -------------------------------------------------------------

IMMUTABLE_STATEMENTS = [
    pytest.param("UPDATE trust_entry SET memo = 'edited' WHERE id = %s", id="update-entry"),
    pytest.param("DELETE FROM trust_entry WHERE id = %s", id="delete-entry"),
    pytest.param(
        "UPDATE trust_posting SET amount_minor = amount_minor * 2 WHERE entry_id = %s",
        id="update-posting",
    ),
    pytest.param("DELETE FROM trust_posting WHERE entry_id = %s", id="delete-posting"),
]


@pytest.mark.parametrize("sql", IMMUTABLE_STATEMENTS)
def test_raw_change_of_ledger_rows_is_refused(funded, sql):
    _, _, entry_id = funded
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry_id])
    entry = JournalEntry.objects.get(pk=entry_id)
    assert entry.memo == "Receipt (test)"
    assert sorted(entry.postings.values_list("amount_minor", flat=True)) == [-10000, 10000]


# --- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_committed(transactional_db):
    """SQLite with real commits, so that a second, raw sqlite3 session sees the rows."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-specific: runs in the default `make test` pass")


def test_raw_sqlite3_session_cannot_change_ledger_rows(sqlite_committed):
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    entry_id = fund(trust, sub, "100.00").entry_id
    raw = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        for sql in (
            "UPDATE trust_entry SET memo = 'edited' WHERE id = ?",
            "DELETE FROM trust_entry WHERE id = ?",
            "UPDATE trust_posting SET amount_minor = 1 WHERE entry_id = ?",
            "DELETE FROM trust_posting WHERE entry_id = ?",
        ):
            # The guard calls ledger_guard_off(), which only Django's connections define.
            with pytest.raises(sqlite3.DatabaseError, match="ledger_guard_off"):
                raw.execute(sql, [entry_id])
        raw.rollback()
        memo, postings = raw.execute(
            "SELECT e.memo, COUNT(p.id) FROM trust_entry e JOIN trust_posting p"
            " ON p.entry_id = e.id WHERE e.id = ? GROUP BY e.id",
            [entry_id],
        ).fetchone()
    finally:
        raw.close()
    assert (memo, postings) == ("Receipt (test)", 2)
    assert ledger_violations().ok


def test_raw_posting_in_other_currency_than_account_is_refused_on_sqlite(sqlite, funded):
    trust, sub, _ = funded
    with transaction.atomic(), connection.cursor() as cursor:
        entry_id = insert_entry(cursor, trust)
        with pytest.raises(IntegrityError, match="posting refused"), transaction.atomic():
            insert_posting(cursor, entry_id, sub, -500, currency="EUR")
        insert_posting(cursor, entry_id, sub, -500)  # the same posting in USD is accepted
    assert list(Posting.objects.filter(entry_id=entry_id).values_list("currency", flat=True)) == [
        "USD"
    ]


def test_raw_posting_to_account_of_another_trust_is_refused_on_sqlite(sqlite, funded):
    trust, _, _ = funded
    foreign = other_trust_bank()
    with connection.cursor() as cursor:
        entry_id = insert_entry(cursor, trust)
        with pytest.raises(IntegrityError, match="posting refused"), transaction.atomic():
            insert_posting(cursor, entry_id, foreign, 500)
    assert not Posting.objects.filter(entry_id=entry_id).exists()


def test_raw_posting_dated_differently_from_its_entry_is_refused_on_sqlite(sqlite, funded):
    trust, sub, _ = funded
    with connection.cursor() as cursor:
        entry_id = insert_entry(cursor, trust)
        with pytest.raises(IntegrityError, match="posting refused"), transaction.atomic():
            insert_posting(cursor, entry_id, sub, -500, on=date(2026, 1, 16))


@pytest.mark.parametrize("on", [date(2026, 3, 30), date(2026, 3, 31)], ids=["before", "on"])
def test_raw_entry_in_closed_period_is_refused_on_sqlite(sqlite, funded, on):
    trust, _, _ = funded
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    with (
        pytest.raises(IntegrityError, match="period closed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_entry(cursor, trust, on=on)
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_raw_entry_after_lock_date_is_accepted_on_sqlite(sqlite, funded):
    trust, _, _ = funded
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    with connection.cursor() as cursor:
        insert_entry(cursor, trust, on=date(2026, 4, 1))
    assert JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_raw_entry_in_closed_trust_is_refused_on_sqlite(sqlite, funded):
    trust, _, _ = funded
    Trust.objects.filter(pk=trust.pk).update(status=Trust.Status.CLOSED)
    with (
        pytest.raises(IntegrityError, match="trust not active"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_entry(cursor, trust, on=date(2026, 4, 1))


# --- PostgreSQL: checks at commit ---------------------------------------------------------------


@pytest.fixture
def pg_trust(postgres_tx):
    """A committed trust with a funded sub-ledger, for raw transactions that really commit."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    entry_id = fund(trust, sub, "100.00", on=DAY).entry_id
    return trust, sub, entry_id


def commit_raw(write) -> None:
    """Run ``write(cursor)`` in one transaction and commit it (deferred triggers run now)."""
    with transaction.atomic(), connection.cursor() as cursor:
        write(cursor)


def test_unbalanced_raw_entry_fails_at_commit_on_postgres(pg_trust):
    trust, sub, _ = pg_trust
    bank = account(trust, Account.Role.BANK)

    def write(cursor):
        entry_id = insert_entry(cursor, trust)
        insert_posting(cursor, entry_id, bank, 10000)
        insert_posting(cursor, entry_id, sub, -9000)

    with pytest.raises(IntegrityError, match="does not balance in USD"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_raw_entry_with_one_posting_fails_at_commit_on_postgres(pg_trust):
    trust, sub, _ = pg_trust

    def write(cursor):
        insert_posting(cursor, insert_entry(cursor, trust), sub, -500)

    with pytest.raises(IntegrityError, match=r"fewer than two postings|does not balance"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_raw_entry_without_postings_fails_at_commit_on_postgres(pg_trust):
    trust, _, _ = pg_trust
    with pytest.raises(IntegrityError, match="fewer than two postings"):
        commit_raw(lambda cursor: insert_entry(cursor, trust))
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_posting_appended_to_committed_entry_fails_at_commit_on_postgres(pg_trust):
    _, sub, entry_id = pg_trust
    with pytest.raises(IntegrityError, match="does not balance"):
        commit_raw(lambda cursor: insert_posting(cursor, entry_id, sub, -1))
    assert Posting.objects.filter(entry_id=entry_id).count() == 2
    assert ledger_violations().ok


def test_raw_posting_to_account_of_another_trust_fails_at_commit_on_postgres(pg_trust):
    trust, sub, _ = pg_trust
    foreign = other_trust_bank()

    def write(cursor):
        entry_id = insert_entry(cursor, trust)
        insert_posting(cursor, entry_id, foreign, 500)
        insert_posting(cursor, entry_id, sub, -500)

    with pytest.raises(IntegrityError, match="account of another trust"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_raw_postings_in_other_currency_than_accounts_fail_at_commit_on_postgres(pg_trust):
    trust, sub, _ = pg_trust
    bank = account(trust, Account.Role.BANK)

    def write(cursor):
        entry_id = insert_entry(cursor, trust)
        insert_posting(cursor, entry_id, bank, 500, currency="EUR")
        insert_posting(cursor, entry_id, sub, -500, currency="EUR")

    with pytest.raises(IntegrityError, match="currency other than its account"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_raw_entry_in_closed_period_fails_at_commit_on_postgres(pg_trust):
    trust, sub, _ = pg_trust
    bank = account(trust, Account.Role.BANK)
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))

    def write(cursor):
        entry_id = insert_entry(cursor, trust, on=date(2026, 3, 31))
        insert_posting(cursor, entry_id, bank, 500, on=date(2026, 3, 31))
        insert_posting(cursor, entry_id, sub, -500, on=date(2026, 3, 31))

    with pytest.raises(IntegrityError, match="closed period"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_balanced_raw_entry_commits_on_postgres(pg_trust):
    """The commit-time triggers refuse bad entries, not every raw insert."""
    trust, sub, _ = pg_trust
    bank = account(trust, Account.Role.BANK)

    def write(cursor):
        entry_id = insert_entry(cursor, trust)
        insert_posting(cursor, entry_id, bank, 500)
        insert_posting(cursor, entry_id, sub, -500)

    commit_raw(write)
    entry = JournalEntry.objects.get(idempotency_key="raw-entry")
    assert sorted(entry.postings.values_list("amount_minor", flat=True)) == [-500, 500]


def test_entry_of_5000_postings_commits_on_postgres(pg_trust):
    """The balance trigger checks each entry once, not once per posting."""
    trust, sub, _ = pg_trust
    bank = account(trust, Account.Role.BANK)
    one = Money("1.00", "USD")
    legs = [Leg(bank, one) for _ in range(2500)] + [Leg(sub, -one) for _ in range(2500)]
    [posted] = entries_post(
        trust=trust,
        actor=None,
        entries=[EntrySpec(effective_date=DAY, legs=legs, idempotency_key="large-entry")],
    )
    assert posted.created
    assert Posting.objects.filter(entry_id=posted.entry_id).count() == 5000
    sub.refresh_from_db()
    assert sub.balance == Money("2600.00", "USD")
    assert ledger_violations().ok


def _batch_of_receipts(trust: Trust, sub: Account, n: int) -> list[int]:
    bank = account(trust, Account.Role.BANK)
    one = Money("1.00", "USD")
    specs = [EntrySpec(DAY, [Leg(bank, one), Leg(sub, -one)], f"batch-{i}") for i in range(n)]
    return [p.entry_id for p in entries_post(trust=trust, actor=None, entries=specs)]


def test_posting_slipped_into_a_batch_fails_at_commit_on_postgres(pg_trust):
    """The batch is checked as one range at commit; a raw posting added to one of its entries in
    the same transaction is part of what that check sees."""
    trust, sub, _ = pg_trust

    def write(cursor):
        ids = _batch_of_receipts(trust, sub, 50)
        insert_posting(cursor, ids[25], sub, -1)

    with pytest.raises(IntegrityError, match="does not balance in USD"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key__startswith="batch-").exists()


def test_posting_added_to_a_checked_batch_fails_at_commit_on_postgres(pg_trust):
    """After the batch's checks ran (SET CONSTRAINTS ALL IMMEDIATE), a posting added to one of its
    entries is newer than every posting checked, so it is checked again."""
    trust, sub, _ = pg_trust

    def write(cursor):
        ids = _batch_of_receipts(trust, sub, 50)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        insert_posting(cursor, ids[25], sub, -1)

    with pytest.raises(IntegrityError, match="does not balance in USD"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key__startswith="batch-").exists()


def test_posting_slipped_into_an_earlier_batch_fails_at_commit_on_postgres(pg_trust):
    """Inside a longer transaction each batch is checked when it is posted; a posting added to an
    entry of the first batch after the second was posted is still checked at commit."""
    trust, sub, _ = pg_trust
    bank = account(trust, Account.Role.BANK)
    one = Money("1.00", "USD")

    def write(cursor):
        first = _batch_of_receipts(trust, sub, 20)
        later = [EntrySpec(DAY, [Leg(bank, one), Leg(sub, -one)], f"batch-b{i}") for i in range(20)]
        entries_post(trust=trust, actor=None, entries=later)
        insert_posting(cursor, first[3], sub, -1)

    with pytest.raises(IntegrityError, match="does not balance in USD"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key__startswith="batch-").exists()


def test_batch_commits_and_later_raw_tampering_is_refused_on_postgres(pg_trust):
    trust, sub, _ = pg_trust
    ids = _batch_of_receipts(trust, sub, 50)
    assert Posting.objects.filter(entry_id__in=ids).count() == 100
    with pytest.raises(IntegrityError, match="does not balance in USD"):
        commit_raw(lambda cursor: insert_posting(cursor, ids[-1], sub, -1))
    assert ledger_violations().ok


# --- references checked without foreign keys ----------------------------------------------------


@pytest.mark.parametrize("table", ["trust_trust", "trust_account"])
def test_trusts_and_accounts_cannot_be_deleted(funded, table):
    trust, sub, _ = funded
    row_id = trust.pk if table == "trust_trust" else sub.pk
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row_id])
    assert Account.objects.filter(pk=sub.pk).exists()


def test_raw_entry_of_a_trust_that_does_not_exist_is_refused_on_sqlite(sqlite, funded):
    trust, _, _ = funded
    with (
        pytest.raises(IntegrityError, match="no such trust"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_entry(cursor, Trust(pk=trust.pk + 1000))


def test_raw_posting_to_an_account_that_does_not_exist_fails_at_commit_on_postgres(pg_trust):
    trust, sub, _ = pg_trust
    ghost = Account(pk=sub.pk + 100000, currency="USD")

    def write(cursor):
        entry_id = insert_entry(cursor, trust)
        insert_posting(cursor, entry_id, ghost, 500)
        insert_posting(cursor, entry_id, sub, -500)

    with pytest.raises(IntegrityError, match="which does not exist"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key="raw-entry").exists()


def test_raw_posting_to_an_entry_that_does_not_exist_fails_at_commit_on_postgres(pg_trust):
    _, sub, entry_id = pg_trust
    with pytest.raises(IntegrityError, match="which does not exist"):
        commit_raw(lambda cursor: insert_posting(cursor, entry_id + 100000, sub, 500))
    assert Posting.objects.count() == 2


def test_raw_entry_of_a_trust_that_does_not_exist_fails_at_commit_on_postgres(pg_trust):
    trust, sub, _ = pg_trust
    bank = account(trust, Account.Role.BANK)

    def write(cursor):
        cursor.execute(
            "INSERT INTO trust_entry (trust_id, effective_date, recorded_at, memo, kind,"
            " idempotency_key, payload_hash, reason) VALUES (%s, %s, %s, '', 'adjustment',"
            " 'ghost', '', '') RETURNING id",
            [trust.pk + 1000, DAY.isoformat(), RECORDED],
        )
        entry_id = cursor.fetchone()[0]
        insert_posting(cursor, entry_id, bank, 500)
        insert_posting(cursor, entry_id, sub, -500)

    with pytest.raises(IntegrityError, match=r"trust \d+ is not active"):
        commit_raw(write)
    assert not JournalEntry.objects.filter(idempotency_key="ghost").exists()
