"""Sharing interest, fees and expenses among beneficiaries, exact to the cent.

Pure functions on integers (minor units); no Django, so the rules can be property-tested alone
(``tests/trust/bank/test_sharing.py``). ``trust.bank.services.charges`` reads the balances and
writes the entry; this module only decides the shares.

The rule, for every kind of charge:

1. Each holder (a beneficiary's sub-ledger) has a ``weight``: its balance-days over the interest
   period (``balance_days``), its balance (a fee shared pro rata), or 1 (a fee shared equally).
   A holder may have a ``cap``: the most it may bear (a fee never takes a sub-ledger below what is
   reserved for it). Holders of weight 0 take nothing.
2. Capped holders whose exact proportional share is more than their cap take their cap, and the
   rest is shared again among the others, until every exact share fits (water-filling: taking the
   holders by cap/weight, smallest first, makes this one pass).
3. What is left is shared in proportion to weight by largest remainder: each holder first gets the
   floor of its exact share, then the cents still left go one each to the largest remainders,
   ties to the smaller key. A holder with a remainder had an exact share strictly below its cap, so
   the extra cent never breaks a cap.

The result depends only on keys, weights and caps, never on the order holders are listed in.
Without caps, a larger weight never gets a smaller share, and shares sum exactly to the amount.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


class SharingError(ValueError):
    """The amount cannot be shared: bad input, nobody to share with, or not enough room under
    the caps (``shortfall`` says how much is missing, in minor units)."""

    def __init__(self, message: str, *, shortfall: int = 0) -> None:
        super().__init__(message)
        self.shortfall = shortfall


@dataclass(frozen=True)
class Holder:
    """One sub-ledger taking part: ``key`` unique and orderable (it breaks ties), ``weight`` >= 0,
    ``cap`` the most it may take (``None``: no limit)."""

    key: Any
    weight: int
    cap: int | None = None


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SharingError(f"{what} must be a whole number, not {value!r}")
    if value < 0:
        raise SharingError(f"{what} cannot be negative ({value})")
    return value


def share(amount: int, holders: Sequence[Holder]) -> dict[Hashable, int]:
    """Share ``amount`` among ``holders`` by the rule above: key -> share, for every holder of
    positive weight (a share may be 0), in key order. Refuses (``SharingError``) when no holder
    has any weight and the amount is not 0, and when the caps leave less room than the amount."""
    _whole(amount, "the amount")
    seen: set[Any] = set()
    taking: list[Holder] = []
    for holder in holders:
        if holder.key in seen:
            raise SharingError(f"holder {holder.key!r} appears twice")
        seen.add(holder.key)
        _whole(holder.weight, f"the weight of {holder.key!r}")
        if holder.cap is not None:
            _whole(holder.cap, f"the cap of {holder.key!r}")
        if holder.weight:
            taking.append(holder)
    if not taking:
        if amount:
            raise SharingError("nobody to share with: every weight is 0", shortfall=amount)
        return {}
    room = sum(h.cap for h in taking if h.cap is not None)
    if all(h.cap is not None for h in taking) and room < amount:
        raise SharingError(f"the caps leave room for {room} of {amount}", shortfall=amount - room)

    shares: dict[Hashable, int] = {}
    left = amount
    total = sum(h.weight for h in taking)
    # Smallest cap per unit of weight first: if that one fits at the current level, all do.
    capped = sorted(
        (h for h in taking if h.cap is not None), key=lambda h: (Fraction(h.cap, h.weight), h.key)
    )
    free = {h.key for h in taking}
    for holder in capped:
        assert holder.cap is not None
        if left * holder.weight <= holder.cap * total:
            break
        shares[holder.key] = holder.cap
        left -= holder.cap
        total -= holder.weight
        free.discard(holder.key)
    shares.update(_largest_remainder(left, [h for h in taking if h.key in free]))
    return {key: shares[key] for key in sorted(shares)}


def _largest_remainder(amount: int, holders: list[Holder]) -> dict[Hashable, int]:
    """``amount`` in proportion to weight: floors, then one cent each by remainder, then key."""
    total = sum(h.weight for h in holders)
    if not holders or total == 0:
        return {}
    floors: dict[Hashable, int] = {}
    remainders: list[tuple[int, Any]] = []
    handed = 0
    for holder in holders:
        part, remainder = divmod(amount * holder.weight, total)
        floors[holder.key] = part
        handed += part
        if remainder:
            remainders.append((remainder, holder.key))
    cents = amount - handed  # fewer than the holders with a remainder
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, key in remainders[:cents]:
        floors[key] += 1
    return floors


def share_pro_rata(
    amount: int, weights: dict[Any, int], caps: dict[Any, int] | None = None
) -> dict[Hashable, int]:
    """``amount`` in proportion to ``weights`` (balance-days, balances), each share within its
    cap in ``caps`` when given. See ``share``."""
    caps = caps if caps is not None else {}
    return share(amount, [Holder(key, weight, caps.get(key)) for key, weight in weights.items()])


def share_equally(
    amount: int, keys: Iterable[Any], caps: dict[Any, int] | None = None
) -> dict[Hashable, int]:
    """``amount`` in equal parts among ``keys`` (they differ by at most one cent, the extra cents
    to the smaller keys), each within its cap in ``caps`` when given. See ``share``."""
    caps = caps if caps is not None else {}
    return share(amount, [Holder(key, 1, caps.get(key)) for key in keys])


def balance_days(opening: int, movements: Iterable[tuple[int, int]], days: int) -> int:
    """The sum of an account's end-of-day balances over a period of ``days`` days: ``opening``
    is the balance before the period, ``movements`` are (day index from 0, net movement) within
    it, at most one per day. A day that ends below zero counts as zero. Divided by ``days`` it is
    the average daily balance. (The service computes the same in SQL for every sub-ledger at
    once; this is its definition, and what the tests compare it with.)"""
    _whole(days, "the number of days")
    total = 0
    balance = opening
    day = 0
    for index, net in sorted(movements):
        if not 0 <= index < days:
            raise SharingError(f"movement on day {index} is outside the period of {days} days")
        total += max(balance, 0) * (index - day)
        balance += net
        day = index
    total += max(balance, 0) * (days - day)
    return total
