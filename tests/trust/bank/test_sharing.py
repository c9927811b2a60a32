"""The pure sharing of interest and fees (``trust.bank.sharing``): worked examples, then the
invariants under hypothesis: sums exact, no share negative, shares ordered like balances, caps
respected, equal shares within one cent."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.bank.sharing import (
    Holder,
    SharingError,
    balance_days,
    share,
    share_equally,
    share_pro_rata,
)

# --- worked examples -----------------------------------------------------------------------------


def test_balance_days_counts_each_end_of_day_balance() -> None:
    # 10 days; 100.00 before; +50.00 on day 3 (the 4th day); -120.00 on day 7.
    # Days 0-2: 10000 x 3; days 3-6: 15000 x 4; days 7-9: 3000 x 3.
    assert balance_days(10000, [(3, 5000), (7, -12000)], 10) == 30000 + 60000 + 9000


def test_balance_days_counts_a_day_below_zero_as_zero() -> None:
    assert balance_days(0, [(2, -500), (5, 1000)], 7) == 0 * 5 + 500 * 2


def test_balance_days_refuses_a_movement_outside_the_period() -> None:
    with pytest.raises(SharingError):
        balance_days(0, [(7, 100)], 7)


def test_interest_is_shared_by_largest_remainder_ties_to_the_smaller_key() -> None:
    # 100 cents among three equal weights: 33 each, the one cent left to the smallest key.
    assert share_pro_rata(100, {3: 5, 1: 5, 2: 5}) == {1: 34, 2: 33, 3: 33}


def test_pro_rata_shares_follow_the_weights_exactly() -> None:
    # 10.00 among balances 50.00, 30.00, 20.00.
    assert share_pro_rata(1000, {"a": 5000, "b": 3000, "c": 2000}) == {"a": 500, "b": 300, "c": 200}


def test_the_largest_remainder_gets_the_extra_cent() -> None:
    # 8 cents by weights 1, 2, 4: exact 8/7, 16/7, 32/7, floors 1, 2, 4 (7 cents); the cent left
    # goes to the largest remainder, 4/7 (key "c"), not to the smallest key.
    assert share_pro_rata(8, {"a": 1, "b": 2, "c": 4}) == {"a": 1, "b": 2, "c": 5}


def test_a_cap_takes_the_cap_and_the_rest_is_shared_among_the_others() -> None:
    # 90 pro rata to 100, 100, 100 would be 30 each; "a" may bear only 10: 80 left for b and c.
    assert share_pro_rata(90, {"a": 100, "b": 100, "c": 100}, {"a": 10}) == {
        "a": 10,
        "b": 40,
        "c": 40,
    }


def test_caps_are_applied_again_after_redistribution() -> None:
    # 300 among 4 equal: 75 each; "a" capped at 0 -> 100 each for b, c, d; "b" capped at 90 ->
    # 105 each for c and d.
    shares = share_pro_rata(300, dict.fromkeys("abcd", 1000), {"a": 0, "b": 90})
    assert shares == {"a": 0, "b": 90, "c": 105, "d": 105}


def test_not_enough_room_under_the_caps_names_the_shortfall() -> None:
    with pytest.raises(SharingError) as refused:
        share_pro_rata(100, {"a": 50, "b": 50}, {"a": 30, "b": 40})
    assert refused.value.shortfall == 30


def test_nobody_to_share_with_is_refused() -> None:
    with pytest.raises(SharingError):
        share_pro_rata(100, {"a": 0})
    assert share_pro_rata(0, {"a": 0}) == {}


def test_equal_shares_differ_by_one_cent_at_most() -> None:
    assert share_equally(1000, [1, 2, 3]) == {1: 334, 2: 333, 3: 333}


def test_a_repeated_key_is_refused() -> None:
    with pytest.raises(SharingError):
        share(10, [Holder("a", 1), Holder("a", 2)])


# --- invariants ----------------------------------------------------------------------------------

weights = st.dictionaries(
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=0, max_value=10**12),
    min_size=1,
    max_size=40,
)
amounts = st.integers(min_value=0, max_value=10**10)


@given(amount=amounts, weights=weights)
@settings(max_examples=300, deadline=None)
def test_shares_sum_exactly_are_never_negative_and_follow_the_balances(
    amount: int, weights: dict[int, int]
) -> None:
    if not any(weights.values()):
        if amount:
            with pytest.raises(SharingError):
                share_pro_rata(amount, weights)
        return
    shares = share_pro_rata(amount, weights)
    assert sum(shares.values()) == amount
    assert all(value >= 0 for value in shares.values())
    assert set(shares) == {key for key, weight in weights.items() if weight}
    ordered = sorted(shares, key=lambda key: weights[key])
    for smaller, larger in pairwise(ordered):
        if weights[larger] > weights[smaller]:
            assert shares[larger] >= shares[smaller]
    for key, value in shares.items():  # within a cent of the exact share
        assert abs(value * sum(weights.values()) - amount * weights[key]) < sum(weights.values())


@given(amount=amounts, weights=weights)
@settings(max_examples=200, deadline=None)
def test_the_result_does_not_depend_on_the_order_listed(
    amount: int, weights: dict[int, int]
) -> None:
    if not any(weights.values()):
        return
    reversed_weights = dict(reversed(list(weights.items())))
    assert share_pro_rata(amount, weights) == share_pro_rata(amount, reversed_weights)


@given(
    amount=st.integers(min_value=0, max_value=10**9),
    keys=st.sets(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=50),
)
@settings(max_examples=200, deadline=None)
def test_equal_shares_sum_exactly_and_differ_by_at_most_one_cent(
    amount: int, keys: set[int]
) -> None:
    shares = share_equally(amount, keys)
    assert sum(shares.values()) == amount
    assert max(shares.values()) - min(shares.values()) <= 1
    assert all(value >= 0 for value in shares.values())


capped = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**9),  # balance
        st.integers(min_value=0, max_value=10**9),  # reserved
    ),
    min_size=1,
    max_size=30,
)


@given(amount=st.integers(min_value=0, max_value=10**9), holders=capped, equal=st.booleans())
@settings(max_examples=300, deadline=None)
def test_a_fee_never_takes_what_is_reserved_and_is_exact_or_refused(
    amount: int, holders: list[tuple[int, int]], equal: bool
) -> None:
    balances = {i: balance for i, (balance, _) in enumerate(holders) if balance > 0}
    caps = {i: max(balance - reserved, 0) for i, (balance, reserved) in enumerate(holders)}
    caps = {i: caps[i] for i in balances}
    room = sum(caps.values())
    try:
        if equal:
            shares = share_equally(amount, list(balances), caps)
        else:
            shares = share_pro_rata(amount, balances, caps)
    except SharingError as refused:
        assert room < amount
        assert refused.shortfall == amount - room
        return
    assert room >= amount
    assert sum(shares.values()) == amount
    for key, value in shares.items():
        assert 0 <= value <= caps[key]


@given(
    opening=st.integers(min_value=-(10**6), max_value=10**9),
    moves=st.dictionaries(
        st.integers(min_value=0, max_value=30), st.integers(min_value=-(10**6), max_value=10**6)
    ),
)
@settings(max_examples=200, deadline=None)
def test_balance_days_is_the_sum_of_end_of_day_balances_floored_at_zero(
    opening: int, moves: dict[int, int]
) -> None:
    days = 31
    expected, balance = 0, opening
    for day in range(days):
        balance += moves.get(day, 0)
        expected += max(balance, 0)
    assert balance_days(opening, moves.items(), days) == expected
