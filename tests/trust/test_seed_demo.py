"""``manage.py seed_demo``: a fictitious, deterministic, idempotent demo trust (trust/demo.py).

Determinism is tested two ways, because entries are immutable and the same arguments find the
existing trust instead of seeding again:

- within one test, the trust is seeded inside a savepoint, its books digested, the savepoint rolled
  back (a rollback is not a DELETE, so the guards allow it on both backends) and the trust seeded
  again: the digests must be equal, and a different seed must give a different digest;
- across processes, machines and days, the digest of one small demo is pinned (``GOLDEN``): a
  change there means the demo data changed (e.g. something read the clock, a hash or an unordered
  set). If that change is intended, update the constant in the same commit.

The digest covers (effective date, kind, account code, amount in minor units, reverses-or-not) of
every posting, sorted, so it depends neither on database ids nor on row order.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from trust.demo import ANCHOR, DEMO_COURT, demo_case_number, seed_demo_trust
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    AccountDay,
    Beneficiary,
    EntryKind,
    JournalEntry,
    LedgerCheck,
    Posting,
    Trust,
)
from trust.selectors import trust_identity

SIZES = {"beneficiaries": 3, "months": 4, "seed": 5}
# sha256 of the books of seed_demo_trust(beneficiaries=3, months=4, seed=5); see the docstring.
GOLDEN = "4ea272df206dcdaef4930c69e19c8015b5e0e45b18b56f98a1f48d803c781644"
MODELS = (Trust, Beneficiary, Account, JournalEntry, Posting, AccountDay)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, "--quiet", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def books_digest(trust: Trust) -> str:
    rows = sorted(
        (day.isoformat(), kind, code, minor, reverses is not None)
        for day, kind, code, minor, reverses in Posting.objects.filter(
            entry__trust=trust
        ).values_list(
            "entry__effective_date",
            "entry__kind",
            "account__code",
            "amount_minor",
            "entry__reverses_id",
        )
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()


class _Undo(Exception):
    pass


def digest_then_roll_back(**sizes: int) -> str:
    with contextlib.suppress(_Undo), transaction.atomic():
        digest = books_digest(seed_demo_trust(**sizes).trust)
        raise _Undo
    return digest


# --- creating -----------------------------------------------------------------------------------


def test_creates_the_trust_with_the_given_sizes(db):
    out = seed("--beneficiaries", "3", "--months", "4", "--seed", "5")

    trust = Trust.objects.get()
    assert trust.case_number == demo_case_number(3, 4, 5) == "DEMO-5-3x4"
    assert trust.status == Trust.Status.ACTIVE
    assert list(trust.beneficiaries.values_list("pseudonym", flat=True)) == ["MV-1", "MV-2", "MV-3"]
    subs = trust.accounts.filter(role=Account.Role.SUB_LEDGER)
    assert sorted(subs.values_list("code", flat=True)) == ["2100-MV-1", "2100-MV-2", "2100-MV-3"]
    assert all(b.accounts.count() == 1 for b in trust.beneficiaries.all())
    # Receipts in each of the four months up to the anchor, and nothing after it.
    receipts = trust.entries.filter(kind=EntryKind.RECEIPT)
    months = {(d.year, d.month) for d in receipts.values_list("effective_date", flat=True)}
    assert months == {(2026, 7), (2026, 8), (2026, 9), (2026, 10)}
    assert not trust.entries.filter(effective_date__gt=ANCHOR).exists()
    assert trust.entries.filter(kind=EntryKind.PAYMENT).exists()
    # Every beneficiary received a share of the receipts.
    assert all(s.postings.exists() for s in subs)
    entries = trust.entries.count()
    postings = Posting.objects.filter(entry__trust=trust).count()
    assert out.strip() == f"Demo trust #{trust.pk} created: {entries} entries, {postings} postings."


def test_defaults_are_twelve_beneficiaries_over_eighteen_months(db):
    seed()
    trust = Trust.objects.get()
    assert trust.case_number == "DEMO-2026-12x18"
    assert trust.beneficiaries.count() == 12
    dates = trust.entries.filter(kind=EntryKind.RECEIPT).values_list("effective_date", flat=True)
    assert len({(d.year, d.month) for d in dates}) == 18


def test_other_sizes_or_seed_make_another_trust(db):
    seed("--beneficiaries", "2", "--months", "2", "--seed", "1")
    seed("--beneficiaries", "2", "--months", "2", "--seed", "2")
    seed("--beneficiaries", "1", "--months", "2", "--seed", "1")
    assert sorted(Trust.objects.values_list("case_number", flat=True)) == [
        "DEMO-1-1x2",
        "DEMO-1-2x2",
        "DEMO-2-2x2",
    ]


def test_progress_bar_does_not_go_to_stdout(db):
    out = StringIO()
    call_command("seed_demo", "--beneficiaries", "1", "--months", "2", stdout=out)
    assert len(out.getvalue().splitlines()) == 1
    assert out.getvalue().startswith("Demo trust #")


# --- idempotent ---------------------------------------------------------------------------------


def test_second_run_creates_nothing_and_says_so(db):
    seed("--beneficiaries", "3", "--months", "4", "--seed", "5")
    before = counts()
    digest = books_digest(Trust.objects.get())

    out = seed("--beneficiaries", "3", "--months", "4", "--seed", "5")

    trust = Trust.objects.get()
    assert out.strip() == f"Demo trust #{trust.pk} already exists; nothing changed."
    assert counts() == before
    assert books_digest(trust) == digest


def test_seed_demo_trust_returns_the_existing_trust(db):
    first = seed_demo_trust(beneficiaries=2, months=2, seed=3)
    again = seed_demo_trust(beneficiaries=2, months=2, seed=3)
    assert first.created
    assert not again.created
    assert again.trust.pk == first.trust.pk
    assert again.entries == first.entries == first.trust.entries.count()


# --- deterministic ------------------------------------------------------------------------------


def test_same_seed_gives_identical_books(db):
    first = digest_then_roll_back(**SIZES)
    assert not Trust.objects.exists()  # the savepoint took the first trust away
    second = digest_then_roll_back(**SIZES)
    assert first == second


def test_different_seed_gives_different_books(db):
    assert digest_then_roll_back(**SIZES) != digest_then_roll_back(**{**SIZES, "seed": 6})


def test_books_match_the_pinned_digest(db):
    assert books_digest(seed_demo_trust(**SIZES).trust) == GOLDEN


# --- refused arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--beneficiaries", "0"),
        ("--months", "0"),
        ("--beneficiaries", "-1"),
        ("--months", "-12"),
        ("--beneficiaries", "0", "--months", "0"),
    ],
    ids=["no-beneficiaries", "no-months", "negative-beneficiaries", "negative-months", "both"],
)
def test_sizes_below_one_are_a_command_error_and_write_nothing(db, args):
    with pytest.raises(CommandError, match="--beneficiaries and --months must be at least 1"):
        seed(*args)
    assert counts() == dict.fromkeys(counts(), 0)


@pytest.mark.parametrize(
    "args",
    [("--beneficiaries", "three"), ("--months", "1.5"), ("--seed", "x")],
    ids=["word", "decimal", "seed"],
)
def test_non_integer_arguments_are_a_command_error(db, args):
    with pytest.raises(CommandError, match="invalid int value"):
        seed(*args)
    assert not Trust.objects.exists()


@pytest.mark.parametrize(("beneficiaries", "months"), [(0, 1), (1, 0), (-1, 5)])
def test_seed_demo_trust_refuses_sizes_below_one(db, beneficiaries, months):
    with pytest.raises(ValueError, match="at least 1"):
        seed_demo_trust(beneficiaries=beneficiaries, months=months)
    assert not Trust.objects.exists()


# --- what the demo contains ---------------------------------------------------------------------


@pytest.fixture
def demo(db) -> Trust:
    return seed_demo_trust(**SIZES).trust


def test_demo_contains_one_reversal_with_a_reason_mirroring_its_entry(demo):
    [reversal] = demo.entries.filter(reverses__isnull=False)
    assert reversal.kind == EntryKind.REVERSAL
    assert reversal.reason.strip()
    assert reversal.effective_date == ANCHOR
    original = reversal.reverses
    assert original.kind == EntryKind.RECEIPT
    assert original.reversed_by == reversal

    def legs(entry: JournalEntry) -> list[tuple[int, int]]:
        return sorted(entry.postings.values_list("account_id", "amount_minor"))

    assert legs(reversal) == sorted((acc, -minor) for acc, minor in legs(original))
    # The duplicate repeats an earlier receipt leg for leg: that is what the reversal corrects.
    [earlier] = [
        e
        for e in demo.entries.filter(kind=EntryKind.RECEIPT, reverses__isnull=True)
        if e.pk != original.pk and legs(e) == legs(original)
    ]
    assert earlier.effective_date < original.effective_date


def test_check_ledger_is_clean_after_seeding(demo):
    out = StringIO()
    call_command("check_ledger", stdout=out, stderr=StringIO())  # no SystemExit
    assert "OK: every invariant holds." in out.getvalue()
    assert ledger_violations(trust_id=demo.pk).ok
    assert LedgerCheck.objects.get().ok is True


def test_trust_identity_holds_and_nothing_is_negative(demo):
    [line] = trust_identity(trust=demo).values()
    assert line.currency == "USD"
    assert line.holds
    assert line.cash_minor > 0
    assert not demo.accounts.filter(balance_minor__lt=0).exists()


def test_demo_is_fictitious(demo):
    assert demo.court == DEMO_COURT
    assert "Fictional" in DEMO_COURT
    assert "fictitious" in demo.caption
    assert demo.case_number.startswith("DEMO-")
    pseudonyms = list(Beneficiary.objects.filter(trust=demo).values_list("pseudonym", flat=True))
    assert pseudonyms
    assert all(re.fullmatch(r"MV-\d+", p) for p in pseudonyms)
    assert demo.created_by is None
