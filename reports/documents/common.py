"""Formatting shared by the documents: amounts as printed, dates, category names."""

from __future__ import annotations

from datetime import date

from disbursements.models import Category
from trust.money import minor_exponent


def amount(minor: int, currency: str, *, sign: bool = False) -> str:
    """``1,234.50`` (``-1,234.50`` when negative; ``+1,234.50`` with ``sign``), exact to the
    currency's minor unit: integer arithmetic, never a float."""
    exponent = minor_exponent(currency)
    negative = minor < 0
    whole, part = divmod(abs(minor), 10**exponent) if exponent else (abs(minor), 0)
    text = f"{whole:,}" + (f".{part:0{exponent}d}" if exponent else "")
    if negative:
        return "-" + text
    return ("+" + text) if sign and minor > 0 else text


def with_code(minor: int, currency: str) -> str:
    return f"{amount(minor, currency)} {currency}"


def day(value: date) -> str:
    return value.isoformat()


def category_label(code: str) -> str:
    if not code:
        return "Not categorised"
    try:
        return str(Category(code).label)
    except ValueError:
        return code
