"""Exact conversions between py-moneyed ``Money`` and integer minor units.

Pure Python (no Django): the ledger stores amounts as integers in the currency's minor unit, and every
boundary speaks ``Money``. A value with more decimal places than its currency has is refused, never
rounded.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from moneyed import Currency, Money, get_currency
from moneyed.classes import CurrencyDoesNotExist


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in its currency."""


def currency_of(code: str) -> Currency:
    """The py-moneyed currency for an ISO 4217 code, or ``MoneyError`` if unknown."""
    try:
        currency = get_currency(str(code).upper())
    except CurrencyDoesNotExist as exc:
        raise MoneyError(f"unknown currency {code!r}") from exc
    if currency.sub_unit is None:
        raise MoneyError(f"currency {code!r} has no defined minor unit")
    return currency


@lru_cache(maxsize=512)
def minor_exponent(code: str) -> int:
    """Decimal places of a currency's minor unit: USD 2, JPY 0, BHD 3."""
    sub_unit = currency_of(code).sub_unit
    exponent = len(str(sub_unit)) - 1
    if 10**exponent != sub_unit:
        raise MoneyError(f"currency {code!r} has a non-decimal minor unit ({sub_unit})")
    return exponent


def to_minor(amount: Money) -> int:
    """``Money`` to an integer count of minor units; refuses floats and extra decimal places."""
    if not isinstance(amount, Money):
        raise MoneyError(f"expected Money, got {type(amount).__name__}")
    value = amount.amount
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MoneyError(f"amount {value!r} is not a finite decimal")
    exponent = minor_exponent(amount.currency.code)
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{value} {amount.currency.code} has more than {exponent} decimal places")
    return int(scaled)


def from_minor(minor: int, code: str) -> Money:
    """An integer count of minor units back to ``Money`` with the currency's exact scale."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"minor units must be an integer, got {type(minor).__name__}")
    exponent = minor_exponent(code)
    return Money(Decimal(minor).scaleb(-exponent), currency_of(code).code)


def format_money(amount: Money) -> str:
    """``1,234.50 USD`` with the currency's own number of decimals (for pages and reports)."""
    exponent = minor_exponent(amount.currency.code)
    to_minor(amount)  # refuses more decimals than the currency has: shown exactly or not at all
    return f"{amount.amount:,.{exponent}f} {amount.currency.code}"
