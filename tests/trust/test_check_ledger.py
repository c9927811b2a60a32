"""``manage.py check_ledger``: recomputes every invariant, exits 1 naming each violation.

The command returns normally when the books are sound and raises ``SystemExit(1)`` otherwise, with
one ``VIOLATION [rule] subject: detail`` line per problem on stderr and the summary on stdout.
Ledger rows are immutable, so the damage is done where raw SQL still can: the stored balance of an
account, the daily movements (``trust_account_day``), and, on the connection of a test that never
commits (so PostgreSQL's commit-time triggers do not run), raw entries the service would refuse.
"""

from __future__ import annotations

import contextlib
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from tests.factories import TrustFactory, account, beneficiary, fund
from trust.db import PG_TRIGGERS, SQLITE_TRIGGERS, install_ledger_database_objects
from trust.demo import seed_demo_trust
from trust.models import Account, AccountDay, JournalEntry, LedgerCheck, Posting, Trust

DAY = date(2026, 1, 15)


def run_check(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``check_ledger``."""
    out, err = StringIO(), StringIO()
    try:
        call_command("check_ledger", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    return code, out.getvalue(), err.getvalue()


def violations(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("VIOLATION ")]


def raw(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def summary_line(scope: str, trusts: int, trust_id: int | None = None) -> str:
    accounts = Account.objects.all()
    entries = JournalEntry.objects.all()
    postings = Posting.objects.all()
    if trust_id is not None:
        accounts = accounts.filter(trust_id=trust_id)
        entries = entries.filter(trust_id=trust_id)
        postings = postings.filter(entry__trust_id=trust_id)
    return (
        f"Checked {scope}: {trusts} trust(s), {accounts.count()} accounts, "
        f"{entries.count()} entries, {postings.count()} postings."
    )


@pytest.fixture
def demo(db) -> Trust:
    """A small seeded demo trust: two beneficiaries, three months."""
    return seed_demo_trust(beneficiaries=2, months=3, seed=11).trust


@pytest.fixture
def funded(db):
    """A factory trust whose only beneficiary (MV-9) is owed 100.00 USD."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-9")
    fund(trust, sub, "100.00", on=DAY)
    return trust, sub


def usd_cash(trust: Trust) -> int:
    return account(trust, Account.Role.BANK).balance_minor


# --- a sound ledger -----------------------------------------------------------------------------


def test_clean_demo_trust_exits_0_with_a_summary(demo):
    code, out, err = run_check()
    assert code == 0
    assert out.splitlines() == [summary_line("all trusts", 1), "OK: every invariant holds."]
    assert demo.entries.count() > 0
    assert err == ""
    check = LedgerCheck.objects.get()
    assert check.ok is True
    assert check.finished_at is not None
    assert check.trust is None
    assert check.violations == []
    assert check.summary["entries"] == demo.entries.count()


def test_empty_database_is_clean(db):
    code, out, err = run_check()
    assert code == 0
    assert "Checked all trusts: 0 trust(s), 0 accounts, 0 entries, 0 postings." in out
    assert err == ""


def test_each_run_is_recorded_as_its_own_check(demo):
    run_check()
    run_check()
    assert LedgerCheck.objects.count() == 2
    assert len(set(LedgerCheck.objects.values_list("operation_id", flat=True))) == 2


# --- stored balances and daily movements changed by hand ----------------------------------------


@pytest.mark.parametrize(
    ("code", "difference"), [("2100-MV-1", -1), ("1000-BANK", 1)], ids=["sub-ledger", "bank"]
)
def test_raw_change_of_stored_balance_exits_1_naming_the_account(demo, code, difference):
    """The stored balance is not an immutable row: raw SQL can change it, on both backends (the
    guard is the check). A sub-ledger is a liability, the bank an asset: the identity moves the
    opposite way."""
    acc = demo.accounts.get(code=code)
    before = acc.balance_minor
    cash = usd_cash(demo)
    raw("UPDATE trust_account SET balance_minor = balance_minor + 1 WHERE id = %s", [acc.pk])

    status, out, err = run_check()

    assert status == 1
    assert "OK" not in out
    assert summary_line("all trusts", 1) in out
    obligations = cash + (1 if difference < 0 else 0)
    cash_now = cash + (1 if difference > 0 else 0)
    assert violations(err) == [
        f"VIOLATION [stored-balance] account {code} (trust #{demo.pk}): stored {before + 1} USD,"
        f" postings give {before} USD",
        f"VIOLATION [trust-identity] trust #{demo.pk} USD: cash {cash_now} != obligations"
        f" {obligations} (difference {difference})",
    ]
    assert err.splitlines()[-1] == "FAILED: 2 violation(s)."
    check = LedgerCheck.objects.get()
    assert check.ok is False
    assert check.summary["violations"] == 2
    assert check.violations == [line.removeprefix("VIOLATION ") for line in violations(err)]


def test_restoring_the_stored_balance_makes_the_check_pass_again(demo):
    acc = demo.accounts.get(code="2100-MV-2")
    raw("UPDATE trust_account SET balance_minor = balance_minor + 500 WHERE id = %s", [acc.pk])
    assert run_check()[0] == 1
    raw("UPDATE trust_account SET balance_minor = balance_minor - 500 WHERE id = %s", [acc.pk])
    assert run_check()[0] == 0


def test_stored_balance_below_zero_on_no_negative_account_is_named(funded):
    """The table's CHECK refuses a negative balance on a no-negative account; a zeroed balance is
    accepted by the database and caught by the check."""
    trust, sub = funded
    raw("UPDATE trust_account SET balance_minor = 0 WHERE id = %s", [sub.pk])
    status, _, err = run_check()
    assert status == 1
    assert (
        f"VIOLATION [stored-balance] account 2100-MV-9 (trust #{trust.pk}): stored 0 USD,"
        " postings give 10000 USD" in (violations(err))
    )


def first_day(acc: Account) -> AccountDay:
    return AccountDay.objects.filter(account=acc).order_by("day").first()


@pytest.mark.parametrize("change", ["update", "delete", "insert"])
def test_raw_change_of_daily_movement_exits_1_naming_account_and_day(demo, change):
    bank = account(demo, Account.Role.BANK)
    row = first_day(bank)
    if change == "update":
        raw("UPDATE trust_account_day SET net_minor = net_minor + 7 WHERE id = %s", [row.pk])
        day, stored, recomputed = row.day, row.net_minor + 7, row.net_minor
    elif change == "delete":
        raw("DELETE FROM trust_account_day WHERE id = %s", [row.pk])
        day, stored, recomputed = row.day, 0, row.net_minor
    else:  # a movement on a day without postings
        day = date(2020, 2, 29)
        AccountDay.objects.create(account=bank, day=day, net_minor=700)
        stored, recomputed = 700, 0
    assert not demo.entries.filter(effective_date=date(2020, 2, 29)).exists()

    status, _, err = run_check()

    assert status == 1
    # The stored balance and the trust identity are untouched: only the movement is named.
    assert violations(err) == [
        f"VIOLATION [daily-movement] account 1000-BANK (trust #{demo.pk}) on {day.isoformat()}:"
        f" stored {stored}, postings give {recomputed}"
    ]
    assert LedgerCheck.objects.get().ok is False


# --- rules that the database enforces at commit (PostgreSQL) or not at all (SQLite) -------------


def insert_entry(trust: Trust, key: str, reverses: int | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO trust_entry (trust_id, effective_date, recorded_at, memo, kind,"
            " idempotency_key, payload_hash, reverses_id, reason, created_by_id)"
            " VALUES (%s, %s, %s, 'raw SQL (test)', 'adjustment', %s, %s, %s, %s, NULL)"
            " RETURNING id",
            [
                trust.pk,
                DAY.isoformat(),
                "2026-01-15 12:00:00",
                key,
                "0" * 64,
                reverses,
                "raw reversal (test)" if reverses else "",
            ],
        )
        return cursor.fetchone()[0]


def insert_posting(
    entry_id: int, acc: Account, minor: int, currency: str | None = None, on: date = DAY
) -> None:
    raw(
        "INSERT INTO trust_posting (entry_id, account_id, amount_minor, currency, effective_date)"
        " VALUES (%s, %s, %s, %s, %s)",
        [entry_id, acc.pk, minor, currency or acc.currency, on.isoformat()],
    )


class _Undo(Exception):
    pass


def check_and_roll_back(write) -> tuple[int, str, str]:
    """Run ``write()`` and the check in a savepoint, then roll it back: on PostgreSQL the test
    teardown sets every constraint IMMEDIATE, which would fire the commit-time triggers."""
    with contextlib.suppress(_Undo), transaction.atomic():
        write()
        result = run_check()
        raise _Undo
    return result


def test_unbalanced_raw_entry_is_named(funded):
    trust, sub = funded
    ids = []

    def write():
        ids.append(insert_entry(trust, "raw-unbalanced"))
        insert_posting(ids[0], account(trust, Account.Role.BANK), 500)
        insert_posting(ids[0], sub, -400)

    status, _, err = check_and_roll_back(write)
    assert status == 1
    assert f"VIOLATION [balanced] entry #{ids[0]}: USD postings sum to 100" in violations(err)


def test_raw_entry_with_one_posting_is_named(funded):
    trust, sub = funded
    ids = []

    def write():
        ids.append(insert_entry(trust, "raw-single"))
        insert_posting(ids[0], sub, -400)

    status, _, err = check_and_roll_back(write)
    assert status == 1
    assert f"VIOLATION [two-postings] entry #{ids[0]}: has 1 posting(s)" in violations(err)


@contextlib.contextmanager
def sqlite_posting_guard_lifted():
    """SQLite refuses an inconsistent posting at insert (PostgreSQL only at commit): drop that
    trigger for the insert, and put it back before the check runs."""
    if connection.vendor == "sqlite":
        raw("DROP TRIGGER trust_posting_consistent", [])
    try:
        yield
    finally:
        install_ledger_database_objects(connection)


@pytest.mark.parametrize("problem", ["foreign-account", "currency", "date"])
def test_inconsistent_raw_posting_is_named(funded, problem):
    trust, sub = funded
    bank = account(trust, Account.Role.BANK)
    foreign_bank = account(TrustFactory(), Account.Role.BANK)
    expected = []

    def write():
        with sqlite_posting_guard_lifted():
            entry_id = insert_entry(trust, "raw-inconsistent")
            if problem == "foreign-account":
                insert_posting(entry_id, foreign_bank, 500)
                insert_posting(entry_id, sub, -500)
            elif problem == "currency":
                insert_posting(entry_id, bank, 500, currency="EUR")
                insert_posting(entry_id, sub, -500, currency="EUR")
            else:
                insert_posting(entry_id, bank, 500, on=date(2026, 1, 16))
                insert_posting(entry_id, sub, -500, on=date(2026, 1, 16))
        for posting in Posting.objects.filter(entry_id=entry_id).select_related("account"):
            detail = {
                "foreign-account": "account of another trust",
                "currency": "currency EUR in a USD account",
                "date": "dated differently from its entry",
            }[problem]
            if problem != "foreign-account" or posting.account_id == foreign_bank.pk:
                expected.append(
                    f"VIOLATION [posting] posting #{posting.pk} (entry #{entry_id},"
                    f" {posting.account.code} (trust #{posting.account.trust_id})): {detail}"
                )

    status, _, err = check_and_roll_back(write)
    assert status == 1
    assert [v for v in violations(err) if v.startswith("VIOLATION [posting]")] == expected
    assert expected
    assert "[database-guard]" not in err


def test_reversal_that_does_not_mirror_its_entry_is_named(funded):
    trust, sub = funded
    original = trust.entries.get()
    bank = account(trust, Account.Role.BANK)
    entry_id = insert_entry(trust, "raw-reversal", reverses=original.pk)
    insert_posting(entry_id, sub, 4000)  # takes back 40.00 of the 100.00
    insert_posting(entry_id, bank, -4000)
    status, _, err = run_check()
    assert status == 1
    assert (
        f"VIOLATION [reversal] entry #{entry_id}: does not mirror entry #{original.pk}"
        " on 1000-BANK (net 6000)"
    ) in violations(err)
    assert (
        f"VIOLATION [reversal] entry #{entry_id}: does not mirror entry #{original.pk}"
        " on 2100-MV-9 (net -6000)"
    ) in violations(err)


def test_missing_database_guard_is_named(demo):
    if connection.vendor == "postgresql":
        name = PG_TRIGGERS["trust_posting"][0]
        sql = f"DROP TRIGGER {name} ON trust_posting"
    else:
        name = SQLITE_TRIGGERS[3]
        sql = f"DROP TRIGGER {name}"
    try:
        raw(sql, [])
        status, _, err = run_check()
    finally:
        install_ledger_database_objects(connection)
    assert status == 1
    assert violations(err) == [f"VIOLATION [database-guard] {name}: trigger or function is missing"]
    assert run_check()[0] == 0


def test_no_negative_history_reports_the_lowest_balance_on_the_normal_side(funded):
    """A raw entry pays out 150.00 from a sub-ledger owed 100.00. It balances, so PostgreSQL's
    commit-time triggers would accept it too (they do not know balances): both the sub-ledger and
    the bank went down to -50.00, and the check must say so on each account's normal side.

    (The report once showed the raw running sum, without the sign: -100.00 for the sub-ledger,
    a balance it never had.)
    """
    trust, sub = funded
    bank = account(trust, Account.Role.BANK)
    entry_id = insert_entry(trust, "raw-overdraft")
    insert_posting(entry_id, sub, 15000)
    insert_posting(entry_id, bank, -15000)
    status, _, err = run_check()
    assert status == 1
    found = [v for v in violations(err) if "[no-negative-history]" in v]
    assert found == [
        f"VIOLATION [no-negative-history] account 1000-BANK (trust #{trust.pk}):"
        " went down to -5000 USD in its history",
        f"VIOLATION [no-negative-history] account 2100-MV-9 (trust #{trust.pk}):"
        " went down to -5000 USD in its history",
    ]


# --- one trust ----------------------------------------------------------------------------------


@pytest.fixture
def demo_and_broken(demo, funded):
    """The sound demo trust, and another trust whose sub-ledger MV-9 and bank day were altered."""
    other, sub = funded
    raw("UPDATE trust_account SET balance_minor = balance_minor + 3 WHERE id = %s", [sub.pk])
    bank_day = first_day(account(other, Account.Role.BANK))
    raw("UPDATE trust_account_day SET net_minor = net_minor + 3 WHERE id = %s", [bank_day.pk])
    return demo, other


def test_trust_option_checks_only_that_trust(demo_and_broken):
    demo, _ = demo_and_broken
    status, out, err = run_check("--trust", str(demo.pk))
    assert status == 0
    assert out.splitlines() == [
        summary_line(f"trust #{demo.pk}", 1, trust_id=demo.pk),
        "OK: every invariant holds.",
    ]
    assert err == ""
    check = LedgerCheck.objects.get()
    assert (check.ok, check.trust_id) == (True, demo.pk)


def test_trust_option_on_the_broken_trust_names_its_violations(demo_and_broken):
    demo, other = demo_and_broken
    status, out, err = run_check("--trust", str(other.pk))
    assert status == 1
    assert summary_line(f"trust #{other.pk}", 1, trust_id=other.pk) in out
    found = violations(err)
    assert [v.split("]")[0] for v in found] == [
        "VIOLATION [stored-balance",
        "VIOLATION [daily-movement",
        "VIOLATION [trust-identity",
    ]
    assert f"account 2100-MV-9 (trust #{other.pk}):" in found[0]
    assert f"account 1000-BANK (trust #{other.pk}) on 2026-01-15:" in found[1]
    assert f"trust #{other.pk} USD" in found[2]
    assert f"#{demo.pk} " not in err and f"#{demo.pk})" not in err


def test_without_trust_option_every_trust_is_checked(demo_and_broken):
    demo, other = demo_and_broken
    status, out, err = run_check()
    assert status == 1
    assert summary_line("all trusts", 2) in out
    assert len(violations(err)) == 3
    assert f"trust #{other.pk} USD" in err
    assert f"trust #{demo.pk} " not in err


def test_unknown_trust_is_a_command_error(demo):
    missing = Trust.objects.order_by("-pk").first().pk + 1000
    with pytest.raises(CommandError, match=f"^no trust with id {missing}$"):
        call_command("check_ledger", "--trust", str(missing), stdout=StringIO())
    with pytest.raises(CommandError, match="no trust with id 0"):
        call_command("check_ledger", "--trust", "0", stdout=StringIO())
    assert not LedgerCheck.objects.exists()  # nothing was checked or recorded


def test_non_numeric_trust_is_a_command_error(demo):
    with pytest.raises(CommandError, match="--trust: invalid int value"):
        call_command("check_ledger", "--trust", "MV-1", stdout=StringIO())
    assert not LedgerCheck.objects.exists()


# --- privacy ------------------------------------------------------------------------------------


def test_output_names_beneficiaries_only_by_pseudonym(demo_and_broken, django_user_model):
    """Violations name accounts by code (a sub-ledger's code carries the court pseudonym) and
    entries by number: never the caption, court or case number, nor memo or reason texts."""
    demo, other = demo_and_broken
    sub = demo.accounts.get(code="2100-MV-2")
    raw("UPDATE trust_account SET balance_minor = balance_minor + 1 WHERE id = %s", [sub.pk])
    outputs = [run_check(), run_check("--trust", str(demo.pk))]
    text = "\n".join(out + err for _, out, err in outputs)
    assert f"account 2100-MV-2 (trust #{demo.pk}):" in text
    assert f"account 2100-MV-9 (trust #{other.pk}):" in text
    private = set()
    for trust in (demo, other):
        private |= {trust.caption, trust.court, trust.case_number}
        private |= set(trust.entries.values_list("memo", flat=True))
        private |= set(trust.entries.exclude(reason="").values_list("reason", flat=True))
        private |= {a.name for a in trust.accounts.all()}
    private.discard("")
    leaked = sorted(p for p in private if p in text)
    assert not leaked, f"{len(leaked)} private text(s) in the output"
    stored = " ".join(" ".join(c.violations) for c in LedgerCheck.objects.all())
    assert not [p for p in private if p in stored]
