"""``trust.allocation.allocate``: pro rata, largest remainder, individuals first (DOMAIN.md rule 5).

Pure: no database. The properties are checked against what the test computes itself from the
claims (exact shares as fractions), never against the module's own helpers.

Hypothesis settings come from two profiles registered here: ``allocation`` (the default, a hundred
examples per property, a few seconds) and ``allocation-thorough`` (thousands, for a change to the
rule): ``ALLOCATION_PROFILE=allocation-thorough pytest tests/trust/test_allocation.py``.
"""

from __future__ import annotations

import os
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.allocation import (
    INDIVIDUAL_TIER,
    ORGANISATION_TIER,
    Allocation,
    AllocationError,
    Claim,
    allocate,
)

settings.register_profile("allocation", max_examples=100, deadline=None)
settings.register_profile("allocation-thorough", max_examples=5000, deadline=None)
PROPERTY = settings.get_profile(os.environ.get("ALLOCATION_PROFILE", "allocation"))


# --- strategies ------------------------------------------------------------------------------


@st.composite
def claim_lists(draw: st.DrawFn, max_claims: int = 8) -> list[Claim]:
    """Claims with unique integer keys, outstanding amounts from zero (paid in full) to large,
    in one or two tiers; amounts often equal, so ties between remainders happen."""
    keys = draw(st.lists(st.integers(0, 10_000), unique=True, max_size=max_claims))
    outstanding = st.one_of(
        st.integers(0, 10),
        st.sampled_from([100, 333, 1_000, 10_000, 1_000_000]),
        st.integers(0, 10**12),
    )
    return [
        Claim(
            key=key,
            outstanding=draw(outstanding),
            tier=draw(st.sampled_from([INDIVIDUAL_TIER, ORGANISATION_TIER])),
        )
        for key in keys
    ]


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, list[Claim]]:
    """Claims and an amount: less than, equal to or more than what they are owed in all."""
    claims = draw(claim_lists())
    owed = sum(c.outstanding for c in claims)
    amount = draw(
        st.one_of(
            st.integers(0, max(owed, 1)),
            st.just(owed),
            st.integers(owed, owed + 10**6),
            st.integers(0, 50),
        )
    )
    return amount, claims


# --- what the test expects, computed independently ----------------------------------------------


def owed(claims: list[Claim]) -> int:
    return sum(c.outstanding for c in claims)


def split_tier(amount: int, claims: list[Claim]) -> tuple[int | None, int]:
    """The tier the amount runs out in (None if every claim is paid in full), and what is left
    of the amount when that tier is reached."""
    left = amount
    for tier in sorted({c.tier for c in claims}):
        in_tier = owed([c for c in claims if c.tier == tier])
        if left < in_tier:
            return tier, left
        left -= in_tier
    return None, left


def exact_shares(amount: int, claims: list[Claim]) -> dict[int, Fraction]:
    """Each claim's exact pro-rata share of ``amount`` within its tier, as a fraction."""
    total = owed(claims)
    return {c.key: Fraction(amount * c.outstanding, total) for c in claims if c.outstanding}


# --- properties ------------------------------------------------------------------------------


@PROPERTY
@given(cases())
def test_allocation_adds_up_to_the_amount_less_unallocated(case: tuple[int, list[Claim]]) -> None:
    amount, claims = case
    result = allocate(amount, claims)
    assert sum(result.shares.values()) == amount - result.unallocated
    assert result.allocated == amount - result.unallocated
    assert result.amount == amount


@PROPERTY
@given(cases())
def test_unallocated_is_what_exceeds_the_total_owed(case: tuple[int, list[Claim]]) -> None:
    amount, claims = case
    result = allocate(amount, claims)
    assert result.unallocated == max(0, amount - owed(claims))
    if amount <= owed(claims):
        assert result.unallocated == 0


@PROPERTY
@given(cases())
def test_allocation_caps_at_outstanding(case: tuple[int, list[Claim]]) -> None:
    amount, claims = case
    result = allocate(amount, claims)
    by_key = {c.key: c for c in claims}
    for key, share in result.shares.items():
        assert 0 < share <= by_key[key].outstanding, (key, share)


@PROPERTY
@given(cases())
def test_shares_name_only_claims_with_something_outstanding(
    case: tuple[int, list[Claim]],
) -> None:
    amount, claims = case
    result = allocate(amount, claims)
    assert set(result.shares) <= {c.key for c in claims if c.outstanding > 0}
    assert all(share > 0 for share in result.shares.values())


@PROPERTY
@given(cases())
def test_shares_stay_within_one_cent_of_the_exact_pro_rata_share(
    case: tuple[int, list[Claim]],
) -> None:
    """Largest remainder bound: in the tier being split, floor(exact) <= share <= floor + 1, and a
    share is exactly the floor when the exact share is a whole number."""
    amount, claims = case
    tier, left = split_tier(amount, claims)
    if tier is None:
        return
    members = [c for c in claims if c.tier == tier]
    result = allocate(amount, claims)
    for key, exact in exact_shares(left, members).items():
        share = result.shares.get(key, 0)
        assert floor(exact) <= share <= floor(exact) + 1, (key, exact, share)
        assert abs(share - exact) < 1
        if exact.denominator == 1:
            assert share == exact


@PROPERTY
@given(cases())
def test_extra_cents_go_to_the_largest_remainders_then_the_lowest_keys(
    case: tuple[int, list[Claim]],
) -> None:
    """Of two claims in the split tier, one that got the extra cent never has a smaller remainder
    than one that did not, nor the same remainder and a higher key."""
    amount, claims = case
    tier, left = split_tier(amount, claims)
    if tier is None:
        return
    members = [c for c in claims if c.tier == tier and c.outstanding]
    result = allocate(amount, claims)
    exact = exact_shares(left, members)
    remainder = {key: value - floor(value) for key, value in exact.items()}
    bumped = {key for key, value in exact.items() if result.shares.get(key, 0) > floor(value)}
    for winner in bumped:
        for loser in set(exact) - bumped:
            assert (remainder[winner], -winner) > (remainder[loser], -loser), (winner, loser)


@PROPERTY
@given(cases())
def test_a_lower_tier_is_paid_in_full_before_a_higher_tier_gets_anything(
    case: tuple[int, list[Claim]],
) -> None:
    amount, claims = case
    result = allocate(amount, claims)
    individuals = [c for c in claims if c.tier == INDIVIDUAL_TIER and c.outstanding]
    organisations = [c for c in claims if c.tier == ORGANISATION_TIER and c.outstanding]
    if any(result.shares.get(c.key, 0) for c in organisations):
        assert all(result.shares.get(c.key) == c.outstanding for c in individuals)
    if amount <= owed(individuals):
        assert not any(c.key in result.shares for c in organisations)


@PROPERTY
@given(cases(), st.randoms(use_true_random=False))
def test_allocation_does_not_depend_on_the_order_of_the_claims(
    case: tuple[int, list[Claim]], random: object
) -> None:
    amount, claims = case
    shuffled = list(claims)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    first, second = allocate(amount, claims), allocate(amount, list(reversed(claims)))
    third = allocate(amount, shuffled)
    assert first == second == third
    # The shares are listed in key order, whatever order the claims came in.
    assert list(first.shares.items()) == list(third.shares.items())
    assert list(first.shares) == sorted(first.shares)


@PROPERTY
@given(cases())
def test_allocation_is_deterministic(case: tuple[int, list[Claim]]) -> None:
    amount, claims = case
    first, again = allocate(amount, claims), allocate(amount, claims)
    assert first == again
    assert list(first.shares.items()) == list(again.shares.items())


# --- worked examples -------------------------------------------------------------------------


def test_three_equal_lines_give_the_extra_cent_to_the_lowest_key() -> None:
    """DOMAIN.md worked example 2: 100.00 among three equal lines is 33.34, 33.33, 33.33."""
    claims = [Claim(key=key, outstanding=10_000) for key in (3, 1, 2)]
    result = allocate(10_000, claims)
    assert result == Allocation(amount=10_000, shares={1: 3334, 2: 3333, 3: 3333}, unallocated=0)


def test_largest_remainder_wins_the_cent_before_the_lower_key() -> None:
    """10 among 10 and 19 owed: exact 3.45 and 6.55; key 2 has the larger remainder."""
    result = allocate(10, [Claim(key=1, outstanding=10), Claim(key=2, outstanding=19)])
    assert result.shares == {1: 3, 2: 7}


def test_equal_remainders_give_the_cent_to_the_lower_key() -> None:
    """10 among 7, 7 and 6 owed: exact 3.5, 3.5 and 3; the tie between "a" and "b" goes to "a"."""
    result = allocate(
        10,
        [
            Claim(key="b", outstanding=7),
            Claim(key="c", outstanding=6),
            Claim(key="a", outstanding=7),
        ],
    )
    assert result.shares == {"a": 4, "b": 3, "c": 3}


def test_tuple_keys_break_ties_by_their_first_element_then_the_next() -> None:
    """Receipts use (judgment day, order, position, line) keys: an earlier judgment wins a tie."""
    early, late = (738000, 9, 2, 20), (738001, 1, 1, 10)
    result = allocate(1, [Claim(key=late, outstanding=5), Claim(key=early, outstanding=5)])
    assert result.shares == {early: 1}


def test_individuals_are_paid_in_full_before_the_government() -> None:
    """DOMAIN.md worked example 3, in minor units."""
    claims = [
        Claim(key=1, outstanding=100_000, tier=ORGANISATION_TIER),
        Claim(key=2, outstanding=100_000),
        Claim(key=3, outstanding=100_000),
    ]
    assert allocate(150_000, claims).shares == {2: 75_000, 3: 75_000}
    assert allocate(250_000, claims).shares == {1: 50_000, 2: 100_000, 3: 100_000}


def test_overpayment_stays_unallocated() -> None:
    result = allocate(
        2_000_000, [Claim(key=1, outstanding=700_000), Claim(key=2, outstanding=400_000)]
    )
    assert result.shares == {1: 700_000, 2: 400_000}
    assert result.unallocated == 900_000


def test_no_claims_leaves_everything_unallocated() -> None:
    assert allocate(12_345, []) == Allocation(amount=12_345, shares={}, unallocated=12_345)


def test_claims_paid_in_full_get_nothing() -> None:
    result = allocate(500, [Claim(key=1, outstanding=0), Claim(key=2, outstanding=300)])
    assert result.shares == {2: 300}
    assert result.unallocated == 200


def test_zero_amount_allocates_nothing() -> None:
    assert allocate(0, [Claim(key=1, outstanding=5)]) == Allocation(amount=0)


# --- bad input -------------------------------------------------------------------------------


def test_negative_amount_is_refused() -> None:
    with pytest.raises(AllocationError, match="whole number >= 0"):
        allocate(-1, [Claim(key=1, outstanding=5)])


@pytest.mark.parametrize(
    "amount", [Decimal("1.00"), Decimal(1), 1.0, True, False, "100", None], ids=repr
)
def test_amount_that_is_not_an_int_is_refused(amount: object) -> None:
    with pytest.raises(AllocationError, match="whole number"):
        allocate(amount, [Claim(key=1, outstanding=5)])  # type: ignore[arg-type]


def test_negative_outstanding_is_refused() -> None:
    with pytest.raises(AllocationError, match="cannot be negative"):
        allocate(10, [Claim(key=1, outstanding=5), Claim(key=2, outstanding=-1)])


@pytest.mark.parametrize("outstanding", [Decimal(5), 5.0, True], ids=repr)
def test_outstanding_that_is_not_an_int_is_refused(outstanding: object) -> None:
    with pytest.raises(AllocationError, match="whole number"):
        allocate(10, [Claim(key=1, outstanding=outstanding)])  # type: ignore[arg-type]


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(AllocationError, match="appears twice"):
        allocate(10, [Claim(key=1, outstanding=5), Claim(key=1, outstanding=7)])


def test_duplicate_keys_are_refused_even_when_one_is_paid_in_full() -> None:
    with pytest.raises(AllocationError, match="appears twice"):
        allocate(10, [Claim(key=1, outstanding=0), Claim(key=1, outstanding=7)])


def test_duplicate_keys_are_refused_across_tiers() -> None:
    with pytest.raises(AllocationError, match="appears twice"):
        allocate(
            10, [Claim(key=1, outstanding=5), Claim(key=1, outstanding=5, tier=ORGANISATION_TIER)]
        )
