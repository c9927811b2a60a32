"""The posting service: what it writes, what it refuses, and that a refusal writes nothing.

Runs on SQLite in ``make test`` and on PostgreSQL in CI's second pass; the two writers differ
(Python on SQLite, one plpgsql call on PostgreSQL), so each rule is checked on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, connection, transaction
from moneyed import Money

from tests.factories import TrustFactory, account, beneficiary, fund
from trust.invariants import ledger_violations
from trust.models import Account, AccountDay, EntryKind, JournalEntry, Posting, Trust
from trust.selectors import account_balance, account_balance_as_of, trust_identity
from trust.services.ledger import (
    EntrySpec,
    LedgerError,
    Leg,
    entries_post,
    entry_post,
    entry_reverse,
)
from trust.services.trusts import account_create, trust_set_lock_date

DAY = date(2026, 1, 15)


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def books(db):
    """A trust with two beneficiaries; MV-1 holds 100.00 USD."""
    trust = TrustFactory()
    _, sub1 = beneficiary(trust, "MV-1")
    _, sub2 = beneficiary(trust, "MV-2")
    fund(trust, sub1, "100.00", on=DAY)
    return trust, sub1, sub2


def snapshot() -> tuple[int, int, int, list[tuple[int, int]]]:
    """Everything a refused posting must leave unchanged."""
    return (
        JournalEntry.objects.count(),
        Posting.objects.count(),
        AccountDay.objects.count(),
        list(Account.objects.order_by("pk").values_list("pk", "balance_minor")),
    )


@contextmanager
def refused(code: str, match: str | None = None) -> Iterator[None]:
    """The block raises ``LedgerError`` with ``code`` and writes nothing."""
    before = snapshot()
    with pytest.raises(LedgerError, match=match) as caught:
        yield
    assert caught.value.code == code, caught.value
    assert snapshot() == before
    assert ledger_violations().ok


def post(trust: Trust, legs: list[Leg], key: str = "k-1", on: date = DAY, **kwargs):  # type: ignore[no-untyped-def]
    return entry_post(
        trust=trust, actor=None, effective_date=on, legs=legs, idempotency_key=key, **kwargs
    )


# --- what a good posting writes -----------------------------------------------------------------


def test_posting_moves_both_balances_and_records_the_entry(books):
    trust, sub1, sub2 = books
    user = get_user_model().objects.create_user("trustee-test")
    posted = entry_post(
        trust=trust,
        actor=user,
        effective_date=date(2026, 2, 1),
        legs=[Leg(sub1, usd("40.25")), Leg(sub2, usd("-40.25"))],
        idempotency_key="realloc-1",
        memo="Reallocation per order (test)",
        kind=EntryKind.TRANSFER,
    )
    assert posted.created
    entry = posted.entry
    assert (entry.trust_id, entry.kind, entry.memo, entry.created_by_id) == (
        trust.pk,
        EntryKind.TRANSFER,
        "Reallocation per order (test)",
        user.pk,
    )
    assert entry.effective_date == date(2026, 2, 1)
    assert sorted((p.account_id, p.amount_minor) for p in entry.postings.all()) == sorted(
        [(sub1.pk, 4025), (sub2.pk, -4025)]
    )
    # Liabilities carry their balance on the credit side: a debit lowers a sub-ledger.
    assert account_balance(account_id=sub1.pk) == usd("59.75")
    assert account_balance(account_id=sub2.pk) == usd("40.25")
    assert account_balance(account_id=account(trust, Account.Role.BANK).pk) == usd("100.00")
    assert ledger_violations().ok


def test_balance_is_stored_on_the_account_row(books):
    _trust, sub1, _ = books
    sub1.refresh_from_db()
    assert sub1.balance_minor == 10000
    assert sub1.balance == usd("100.00")


def test_accounts_may_be_given_by_id(books):
    trust, sub1, sub2 = books
    post(trust, [Leg(sub1.pk, usd("1.00")), Leg(sub2.pk, usd("-1.00"))])
    assert account_balance(account_id=sub2.pk) == usd("1.00")


def test_entry_in_two_currencies_balances_per_currency(books):
    trust, sub1, _ = books
    eur_bank = account_create(
        trust=trust, code="1010-BANK-EUR", name="Bank EUR", type="asset", role="bank",
        currency="EUR", no_negative=True,
    )  # fmt: skip
    eur_held = account_create(
        trust=trust, code="2910-EUR", name="EUR held", type="liability", role="unallocated",
        currency="EUR",
    )  # fmt: skip
    post(
        trust,
        [
            Leg(eur_bank, Money("9.99", "EUR")),
            Leg(eur_held, Money("-9.99", "EUR")),
            Leg(trust.accounts.get(code="1000-BANK"), usd("5.00")),
            Leg(sub1, usd("-5.00")),
        ],
    )
    assert account_balance(account_id=eur_bank.pk) == Money("9.99", "EUR")
    assert account_balance(account_id=sub1.pk) == usd("105.00")
    assert trust_identity(trust=trust)["EUR"].holds
    assert ledger_violations().ok


def test_one_entry_may_touch_the_same_account_twice(books):
    trust, sub1, sub2 = books
    post(
        trust,
        [Leg(sub1, usd("30.00")), Leg(sub1, usd("-10.00")), Leg(sub2, usd("-20.00"))],
    )
    assert account_balance(account_id=sub1.pk) == usd("80.00")
    assert ledger_violations().ok


def test_no_negative_account_may_be_emptied_exactly(books):
    trust, sub1, _ = books
    post(trust, [Leg(sub1, usd("100.00")), Leg(account(trust, "payable"), usd("-100.00"))])
    assert account_balance(account_id=sub1.pk) == usd("0.00")


def test_account_without_the_flag_may_go_negative(books):
    trust, sub1, _ = books
    suspense = account_create(
        trust=trust, code="2990-SUSPENSE", name="Suspense", type="liability", role="unallocated",
        currency="USD", no_negative=False,
    )  # fmt: skip
    post(trust, [Leg(suspense, usd("5.00")), Leg(sub1, usd("-5.00"))])
    assert account_balance(account_id=suspense.pk) == usd("-5.00")
    assert ledger_violations().ok


def test_zero_decimal_currency(db):
    trust = TrustFactory(base_currency="JPY")
    _, sub = beneficiary(trust, "MV-1")
    post(trust, [Leg(account(trust, "bank"), Money(1500, "JPY")), Leg(sub, Money(-1500, "JPY"))])
    assert account_balance(account_id=sub.pk) == Money(1500, "JPY")
    with refused("bad_amount", match="decimal"):
        post(trust, [Leg(account(trust, "bank"), Money("1.5", "JPY")),
                     Leg(sub, Money("-1.5", "JPY"))], key="k-2")  # fmt: skip


# --- refusals: each leaves the books as they were -----------------------------------------------


def test_fewer_than_two_postings_is_refused(books):
    trust, sub1, _ = books
    with refused("too_few_postings", match="at least two"):
        post(trust, [Leg(sub1, usd("0.00"))])
    with refused("too_few_postings"):
        post(trust, [])


def test_zero_amount_is_refused(books):
    trust, sub1, sub2 = books
    with refused("zero_amount", match="zero"):
        post(trust, [Leg(sub1, usd("0")), Leg(sub2, usd("0.00")), Leg(sub1, usd("0.00"))])


def test_unbalanced_postings_are_refused(books):
    trust, sub1, sub2 = books
    with refused("unbalanced", match="USD off by 1 minor units"):
        post(trust, [Leg(sub1, usd("10.00")), Leg(sub2, usd("-9.99"))])


def test_each_currency_must_balance_on_its_own(books):
    trust, sub1, _ = books
    eur = account_create(
        trust=trust, code="2910-EUR", name="EUR held", type="liability", role="unallocated",
        currency="EUR",
    )  # fmt: skip
    # 10 USD against 10 EUR sums to zero numerically but not per currency.
    with refused("unbalanced", match="EUR off by"):
        post(trust, [Leg(sub1, usd("10.00")), Leg(eur, Money("-10.00", "EUR"))])


def test_amount_in_another_currency_than_the_account_is_refused(books):
    trust, sub1, sub2 = books
    with refused("currency_mismatch", match="holds USD, not EUR"):
        post(trust, [Leg(sub1, Money("5.00", "EUR")), Leg(sub2, Money("-5.00", "EUR"))])


def test_currency_mismatch_is_caught_for_accounts_given_by_id(books):
    trust, sub1, sub2 = books
    with refused("currency_mismatch"):
        post(trust, [Leg(sub1.pk, Money("5.00", "EUR")), Leg(sub2.pk, Money("-5.00", "EUR"))])


def test_more_decimal_places_than_the_currency_has_are_refused(books):
    trust, sub1, sub2 = books
    with refused("bad_amount", match="decimal"):
        post(trust, [Leg(sub1, usd("0.001")), Leg(sub2, usd("-0.001"))])


def test_account_of_another_trust_is_refused(books):
    trust, sub1, _ = books
    foreign = account(TrustFactory(), "bank")
    with refused("foreign_account", match="another trust"):
        post(trust, [Leg(sub1, usd("1.00")), Leg(foreign, usd("-1.00"))])
    with refused("foreign_account", match="another trust"):
        post(trust, [Leg(sub1.pk, usd("1.00")), Leg(foreign.pk, usd("-1.00"))])


def test_unknown_account_is_refused(books):
    trust, sub1, _ = books
    with refused("unknown_account", match="does not exist"):
        post(trust, [Leg(sub1.pk, usd("1.00")), Leg(987654321, usd("-1.00"))])


def test_overdrawing_a_no_negative_account_is_refused(books):
    trust, sub1, sub2 = books
    with refused("overdraft", match="2100-MV-1"):
        post(trust, [Leg(sub1, usd("100.01")), Leg(sub2, usd("-100.01"))])
    assert account_balance(account_id=sub1.pk) == usd("100.00")


def test_posting_in_the_closed_period_is_refused(books):
    trust, sub1, sub2 = books
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    with refused("period_closed", match="closed"):
        post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], on=date(2026, 3, 31))
    post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], on=date(2026, 4, 1))


def test_a_retry_of_an_entry_now_in_the_closed_period_returns_the_first(books):
    """The entry was posted before the period was closed: retrying it writes nothing and answers
    with the first entry, as any retry does; another entry with its key is still refused."""
    trust, sub1, sub2 = books
    legs = [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))]
    first = post(trust, legs, key="before-close", on=date(2026, 3, 1))
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    before = snapshot()
    again = post(trust, legs, key="before-close", on=date(2026, 3, 1))
    assert (again.entry_id, again.created) == (first.entry_id, False)
    assert snapshot() == before
    with refused("key_reused"):
        post(
            trust,
            [Leg(sub1, usd("2.00")), Leg(sub2, usd("-2.00"))],
            key="before-close",
            on=date(2026, 3, 1),
        )
    with refused("period_closed"):
        post(trust, legs, key="new-in-closed", on=date(2026, 3, 1))


def test_a_batch_mixing_a_closed_retry_and_a_new_entry_posts_only_the_new(books):
    trust, sub1, sub2 = books
    legs = [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))]
    first = post(trust, legs, key="old", on=date(2026, 3, 1))
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    posted = entries_post(
        trust=trust,
        actor=None,
        entries=[
            EntrySpec(date(2026, 4, 2), legs, "new"),
            EntrySpec(date(2026, 3, 1), legs, "old"),
        ],
    )
    assert [p.created for p in posted] == [True, False]
    assert posted[1].entry_id == first.entry_id
    assert JournalEntry.objects.filter(trust=trust, idempotency_key="new").count() == 1


def test_a_stale_trust_object_does_not_bypass_the_lock_date(books):
    """The lock date is read again inside the write, not only from the caller's object."""
    trust, sub1, sub2 = books
    stale = Trust.objects.get(pk=trust.pk)
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    with refused("period_closed"):
        post(stale, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], on=date(2026, 2, 1))


def test_lock_date_cannot_move_back(books):
    trust, _, _ = books
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    with pytest.raises(Exception, match="cannot move back"):
        trust_set_lock_date(trust=trust, lock_date=date(2026, 1, 31))
    trust.refresh_from_db()
    assert trust.lock_date == date(2026, 3, 31)


def test_closed_trust_takes_no_entries(books):
    trust, sub1, sub2 = books
    connection.check_constraints()  # as if the entries so far had been committed
    Trust.objects.filter(pk=trust.pk).update(status=Trust.Status.CLOSED)
    stale = trust  # the caller's object still says active: the write checks again
    with refused("trust_closed", match="closed"):
        post(stale, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))])
    trust.refresh_from_db()
    with refused("trust_closed"):
        post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))])


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"idempotency_key": ""}, "key_missing"),
        ({"idempotency_key": "   "}, "key_missing"),
        ({"idempotency_key": "k" * 201}, "key_too_long"),
        ({"effective_date": datetime(2026, 1, 15, 12, 0)}, "bad_date"),
        ({"effective_date": "2026-01-15"}, "bad_date"),
        ({"kind": "gift"}, "bad_kind"),
    ],
)
def test_malformed_entry_is_refused(books, kwargs, code):
    trust, sub1, sub2 = books
    args = {
        "trust": trust,
        "actor": None,
        "effective_date": DAY,
        "legs": [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))],
        "idempotency_key": "k-1",
        **kwargs,
    }
    with refused(code):
        entry_post(**args)


def test_a_leg_must_be_a_leg(books):
    trust, sub1, sub2 = books
    with refused("bad_posting"):
        post(trust, [(sub1, usd("1.00")), (sub2, usd("-1.00"))])  # type: ignore[list-item]


def test_a_float_is_never_an_amount(books):
    trust, sub1, sub2 = books
    with refused("bad_amount"):
        post(trust, [Leg(sub1, 1.0), Leg(sub2, -1.0)])  # type: ignore[arg-type]


# --- batches ------------------------------------------------------------------------------------


def test_batch_is_all_or_nothing(books):
    trust, sub1, sub2 = books
    specs = [
        EntrySpec(DAY, [Leg(sub1, usd("60.00")), Leg(sub2, usd("-60.00"))], "b-1"),
        EntrySpec(DAY, [Leg(sub1, usd("60.00")), Leg(sub2, usd("-60.00"))], "b-2"),  # overdraws
    ]
    with refused("overdraft"):
        entries_post(trust=trust, actor=None, entries=specs)
    assert not JournalEntry.objects.filter(idempotency_key="b-1").exists()


def test_batch_names_the_entry_at_fault(books):
    trust, sub1, sub2 = books
    specs = [
        EntrySpec(DAY, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], "b-1"),
        EntrySpec(DAY, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-2.00"))], "b-2"),
    ]
    with refused("unbalanced", match="^.*entry 2:"):
        entries_post(trust=trust, actor=None, entries=specs)


def test_batch_with_a_repeated_key_is_refused(books):
    trust, sub1, sub2 = books
    spec = EntrySpec(DAY, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], "same")
    with refused("key_repeated"):
        entries_post(trust=trust, actor=None, entries=[spec, spec])
    with refused("empty"):
        entries_post(trust=trust, actor=None, entries=[])


def test_later_entries_of_a_batch_see_earlier_ones(books):
    """A batch may fund an account and then spend from it."""
    trust, sub1, sub2 = books
    specs = [
        EntrySpec(DAY, [Leg(sub1, usd("100.00")), Leg(sub2, usd("-100.00"))], "b-1"),
        EntrySpec(DAY, [Leg(sub2, usd("100.00")), Leg(account(trust, "payable"), usd("-100.00"))], "b-2"),
    ]  # fmt: skip
    posted = entries_post(trust=trust, actor=None, entries=specs)
    assert [p.created for p in posted] == [True, True]
    assert account_balance(account_id=sub2.pk) == usd("0.00")
    assert ledger_violations().ok


# --- idempotency --------------------------------------------------------------------------------


def test_same_key_and_content_returns_the_first_entry(books):
    trust, sub1, sub2 = books
    legs = [Leg(sub1, usd("10.00")), Leg(sub2, usd("-10.00"))]
    first = post(trust, legs, key="retry-me", memo="m")
    before = snapshot()
    again = post(trust, legs, key="retry-me", memo="m")
    assert (again.entry_id, again.created) == (first.entry_id, False)
    assert snapshot() == before


def test_retry_inside_a_batch_returns_the_first_entry_and_posts_the_rest(books):
    trust, sub1, sub2 = books
    old = EntrySpec(DAY, [Leg(sub1, usd("10.00")), Leg(sub2, usd("-10.00"))], "old")
    new = EntrySpec(DAY, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], "new")
    [first] = entries_post(trust=trust, actor=None, entries=[old])
    posted = entries_post(trust=trust, actor=None, entries=[old, new])
    assert posted[0].entry_id == first.entry_id
    assert [p.created for p in posted] == [False, True]
    assert account_balance(account_id=sub2.pk) == usd("11.00")


def test_same_key_with_other_content_is_refused(books):
    trust, sub1, sub2 = books
    post(trust, [Leg(sub1, usd("10.00")), Leg(sub2, usd("-10.00"))], key="once")
    with refused("key_reused", match="once"):
        post(trust, [Leg(sub1, usd("10.01")), Leg(sub2, usd("-10.01"))], key="once")


def test_keys_are_per_trust(books):
    trust, sub1, sub2 = books
    post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], key="shared")
    other = TrustFactory()
    _, sub = beneficiary(other, "MV-1")
    posted = post(
        other, [Leg(account(other, "bank"), usd("1.00")), Leg(sub, usd("-1.00"))], key="shared"
    )
    assert posted.created


# --- reversals ----------------------------------------------------------------------------------


def test_reversal_mirrors_the_entry_and_links_to_it(books):
    trust, sub1, sub2 = books
    wrong = post(trust, [Leg(sub1, usd("25.00")), Leg(sub2, usd("-25.00"))], memo="Wrong child")
    rev = entry_reverse(entry=wrong.entry, actor=None, reason="Posted to the wrong sub-ledger",
                        effective_date=date(2026, 2, 1))  # fmt: skip
    assert rev.created
    reversal = rev.entry
    assert reversal.reverses_id == wrong.entry_id
    assert reversal.kind == EntryKind.REVERSAL
    assert reversal.reason == "Posted to the wrong sub-ledger"
    assert wrong.entry.reversed_by == reversal
    original = sorted(wrong.entry.postings.values_list("account_id", "amount_minor"))
    mirrored = sorted(
        (a, -m) for a, m in reversal.postings.values_list("account_id", "amount_minor")
    )
    assert original == mirrored
    assert account_balance(account_id=sub1.pk) == usd("100.00")
    assert account_balance(account_id=sub2.pk) == usd("0.00")
    assert ledger_violations().ok


def test_reversal_needs_a_reason(books):
    trust, sub1, sub2 = books
    entry = post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))]).entry
    for reason in ("", "   "):
        with refused("reason_missing"):
            entry_reverse(entry=entry, actor=None, reason=reason)


def test_an_entry_is_reversed_at_most_once(books):
    trust, sub1, sub2 = books
    entry = post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))]).entry
    first = entry_reverse(entry=entry, actor=None, reason="Duplicate", effective_date=DAY)
    retry = entry_reverse(entry=entry, actor=None, reason="Duplicate", effective_date=DAY)
    assert (retry.entry_id, retry.created) == (first.entry_id, False)
    with refused("already_reversed"):
        entry_reverse(entry=entry, actor=None, reason="Again", idempotency_key="another-key",
                      effective_date=DAY)  # fmt: skip


def test_the_database_allows_one_reversal_per_entry(books):
    """Even past the service's own check (two racing reversals), the partial unique index holds."""
    trust, sub1, sub2 = books
    entry = post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))]).entry
    entry_reverse(entry=entry, actor=None, reason="Duplicate", effective_date=DAY)
    spec = EntrySpec(DAY, [Leg(sub1, usd("-1.00")), Leg(sub2, usd("1.00"))], "sneaky",
                     kind=EntryKind.REVERSAL, reverses_id=entry.pk, reason="Again")  # fmt: skip
    with refused("already_reversed"):
        entries_post(trust=trust, actor=None, entries=[spec])


def test_reversal_that_would_overdraw_is_refused(books):
    trust, sub1, sub2 = books
    entry = post(trust, [Leg(sub1, usd("50.00")), Leg(sub2, usd("-50.00"))]).entry
    post(trust, [Leg(sub2, usd("50.00")), Leg(account(trust, "payable"), usd("-50.00"))], key="pay")
    with refused("overdraft"):
        entry_reverse(entry=entry, actor=None, reason="Too late", effective_date=DAY)


def test_reversal_of_an_entry_in_a_closed_period_is_dated_in_the_open_one(books):
    trust, sub1, sub2 = books
    entry = post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))]).entry
    trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    with refused("period_closed"):
        entry_reverse(entry=entry, actor=None, reason="Error", effective_date=DAY)
    rev = entry_reverse(entry=entry, actor=None, reason="Error", effective_date=date(2026, 4, 2))
    assert rev.entry.effective_date == date(2026, 4, 2)


# --- balance as of a date -----------------------------------------------------------------------


def test_balance_as_of_a_date(books):
    trust, sub1, sub2 = books
    post(trust, [Leg(sub1, usd("10.00")), Leg(sub2, usd("-10.00"))], key="a", on=date(2026, 2, 1))
    post(trust, [Leg(sub1, usd("5.00")), Leg(sub2, usd("-5.00"))], key="b", on=date(2026, 2, 1))
    post(trust, [Leg(sub2, usd("3.00")), Leg(sub1, usd("-3.00"))], key="c", on=date(2026, 3, 1))
    # Posted out of date order: an entry back-dated before the others still counts on its day.
    post(trust, [Leg(sub1, usd("1.00")), Leg(sub2, usd("-1.00"))], key="d", on=date(2026, 1, 20))
    expected = {
        date(2026, 1, 14): "0.00",
        DAY: "100.00",
        date(2026, 1, 20): "99.00",
        date(2026, 1, 31): "99.00",
        date(2026, 2, 1): "84.00",
        date(2026, 2, 28): "84.00",
        date(2026, 3, 1): "87.00",
        date(2027, 1, 1): "87.00",
    }
    for day, amount in expected.items():
        assert account_balance_as_of(account=sub1, as_of=day) == usd(amount), day
    assert account_balance(account_id=sub1.pk) == usd("87.00")
    # One movement row per account and day, however many entries fall on that day.
    assert AccountDay.objects.filter(account=sub1, day=date(2026, 2, 1)).get().net_minor == -1500


# --- immutability through the ORM ---------------------------------------------------------------


def test_entries_and_postings_cannot_be_changed_through_the_orm(books):
    trust, _sub1, _ = books
    entry = JournalEntry.objects.filter(trust=trust).first()
    entry.memo = "edited"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        Posting.objects.filter(entry=entry).update(amount_minor=1)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).delete()
    assert JournalEntry.objects.get(pk=entry.pk).memo == "Receipt (test)"


def test_database_refuses_a_negative_stored_balance_on_a_no_negative_account(books):
    _, sub1, _ = books
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE trust_account SET balance_minor = -1 WHERE id = %s", [sub1.pk])
    assert account_balance(account_id=sub1.pk) == usd("100.00")


def test_closing_a_period_in_the_transaction_that_posted_into_it(postgres_tx):
    """An entry posted before the lock date moved, in the same transaction, still commits."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    with transaction.atomic():
        fund(trust, sub, "10.00", on=date(2026, 3, 1))
        trust_set_lock_date(trust=trust, lock_date=date(2026, 3, 31))
    assert account_balance(account_id=sub.pk) == usd("10.00")
    assert Trust.objects.get(pk=trust.pk).lock_date == date(2026, 3, 31)
