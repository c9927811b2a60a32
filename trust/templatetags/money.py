from decimal import Decimal
from typing import Any, Protocol

from django import template
from django.utils.html import format_html
from moneyed import Money

from trust.money import format_money, from_minor

register = template.Library()


class BalancePointLike(Protocol):
    day: Any
    balance: Money


@register.filter
def money(value: Money) -> str:
    """``1,234.50 USD``."""
    return format_money(value)


@register.simple_tag
def minor(amount: int, currency: str) -> str:
    """Minor units of a currency, formatted: ``{% minor 123450 "USD" %}`` gives 1,234.50 USD."""
    return format_money(from_minor(int(amount), currency))


@register.filter
def words(code: str) -> str:
    """A code as words: "document_invoice" -> "Document invoice"."""
    return str(code).replace("_", " ").replace(".", ": ").capitalize()


@register.filter
def absolute(amount: int) -> int:
    """An integer's size: a credit of -12345 shown in its own column as 12345."""
    return abs(int(amount))


@register.simple_tag
def balance_chart(points: list[BalancePointLike], width: int = 640, height: int = 160) -> str:
    """An SVG line of balances over time (``BalancePoint``s, oldest first). Coordinates are
    computed in ``Decimal`` like every amount; the page puts the same figures in a table beside
    it for screen readers."""
    if not points:
        return ""
    values = [p.balance.amount for p in points]
    zero = Decimal(0)
    low, high = min([*values, zero]), max([*values, zero])
    span = (high - low) or Decimal(1)
    step = Decimal(width) / max(1, len(values) - 1)
    room = Decimal(height - 16)
    coords = " ".join(
        f"{(i * step).quantize(Decimal('0.1'))},"
        f"{(height - 8 - (v - low) / span * room).quantize(Decimal('0.1'))}"
        for i, v in enumerate(values)
    )
    label = (
        f"Balance from {points[0].day:%Y-%m} to {points[-1].day:%Y-%m}:"
        f" {format_money(points[0].balance)} to {format_money(points[-1].balance)}"
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="2" points="{}"/></svg>',
        width,
        height,
        label,
        coords,
    )
