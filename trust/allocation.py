"""Sharing a payment among what is owed: pro rata, exact to the cent, individuals first.

Pure functions on integers (minor units); no Django, so the rule can be property-tested alone.

The rule (DOMAIN.md rule 5, 18 U.S.C. 3664(i)):

1. Claims are taken tier by tier, lowest tier first (tier 0: individual victims; tier 1: the
   government, insurers and other organisations).
2. If what is left of the payment covers a whole tier, every claim in it is paid in full and the
   rest moves on to the next tier.
3. Otherwise the rest is shared in that tier in proportion to each claim's outstanding amount:
   each claim first gets the floor of its exact share, then the cents still left go one each to the
   claims with the largest remainders (the fractional part of the exact share), ties broken by the
   claim's key in ascending order. No claim ever receives more than it is owed, because a claim
   with a remainder was owed strictly more than the floor of its share.
4. What no claim can take (overpayment, no claims at all) is returned as ``unallocated``.

Given the same claims, the result is the same whatever order they are listed in: nothing depends on
list order, only on amounts, tiers and keys (which must be unique).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

INDIVIDUAL_TIER = 0
ORGANISATION_TIER = 1


class AllocationError(ValueError):
    """The claims or the amount cannot be allocated (negative amounts, repeated keys)."""


@dataclass(frozen=True)
class Claim:
    """What one line is still owed. ``key`` must be unique and orderable (e.g. ``(position,
    line id)``); it decides ties and identifies the share in the result."""

    key: Any
    outstanding: int
    tier: int = INDIVIDUAL_TIER


@dataclass(frozen=True)
class Allocation:
    amount: int
    shares: dict[Hashable, int] = field(default_factory=dict)  # key -> minor units, all > 0
    unallocated: int = 0

    @property
    def allocated(self) -> int:
        return self.amount - self.unallocated


def allocate(amount: int, claims: Sequence[Claim]) -> Allocation:
    """Share ``amount`` (minor units) among ``claims`` by the rule above."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise AllocationError(f"the amount to allocate must be a whole number >= 0, not {amount!r}")
    tiers: dict[int, list[Claim]] = {}
    seen: set[Any] = set()
    for claim in claims:
        if isinstance(claim.outstanding, bool) or not isinstance(claim.outstanding, int):
            raise AllocationError(f"claim {claim.key!r}: outstanding must be a whole number")
        if claim.outstanding < 0:
            raise AllocationError(f"claim {claim.key!r}: outstanding cannot be negative")
        if claim.key in seen:
            raise AllocationError(f"claim {claim.key!r} appears twice")
        seen.add(claim.key)
        if claim.outstanding:
            tiers.setdefault(claim.tier, []).append(claim)

    shares: dict[Hashable, int] = {}
    left = amount
    for tier in sorted(tiers):
        if left == 0:
            break
        members = tiers[tier]
        owed = sum(c.outstanding for c in members)
        if left >= owed:
            for c in members:
                shares[c.key] = c.outstanding
            left -= owed
            continue
        shares.update(_pro_rata(left, owed, members))
        left = 0
    ordered = {c.key: shares[c.key] for c in sorted(_all(tiers), key=_sort_key) if c.key in shares}
    return Allocation(amount=amount, shares=ordered, unallocated=left)


def _pro_rata(amount: int, owed: int, members: list[Claim]) -> dict[Hashable, int]:
    """Largest remainder for ``amount < owed``: floors first, then one cent each by remainder."""
    floors: dict[Hashable, int] = {}
    remainders: list[tuple[int, Claim]] = []
    handed = 0
    for c in members:
        share, remainder = divmod(amount * c.outstanding, owed)
        floors[c.key] = share
        handed += share
        if remainder:
            remainders.append((remainder, c))
    cents = amount - handed  # < number of claims with a remainder
    if cents:
        remainders.sort(key=lambda item: (-item[0], _sort_key(item[1])))
        for _, c in remainders[:cents]:
            floors[c.key] += 1
    return {key: share for key, share in floors.items() if share}


def _all(tiers: dict[int, list[Claim]]) -> list[Claim]:
    return [c for members in tiers.values() for c in members]


def _sort_key(claim: Claim) -> Any:
    return claim.key
