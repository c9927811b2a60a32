"""An audit event as a person reads it: what changed, with amounts formatted in their currency,
``before -> after`` for a change, long lists counted rather than printed, and at most a dozen
lines (the whole event has a page of its own). Plain Python and py-moneyed: no Django."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from moneyed import Money

from trust.money import format_money, from_minor

MAX_LINES = 12
MAX_ITEMS = 5
MAX_TEXT = 120


@dataclass(frozen=True)
class Summary:
    lines: list[tuple[str, str]]
    more: bool  # something was left out: the event's own page shows it whole


def _label(key: str) -> str:
    return key.removesuffix("_minor").replace("_", " ").capitalize()


def _money(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        try:
            return format_money(Money(Decimal(str(value["amount"])), value["currency"]))
        except Exception:  # not an amount after all: shown as it is
            return None
    return None


def _text(value: Any, currency: str | None = None, key: str = "") -> tuple[str, bool]:
    """``value`` as a short text, and whether something of it was left out."""
    if (shown := _money(value)) is not None:
        return shown, False
    if isinstance(value, dict) and set(value) == {"before", "after"}:
        before, cut1 = _text(value["before"], currency, key)
        after, cut2 = _text(value["after"], currency, key)
        return f"{before} → {after}", cut1 or cut2
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and key.endswith("_minor")
        and currency
    ):
        try:
            return format_money(from_minor(value, currency)), False
        except Exception:
            return str(value), False
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return f"{len(value):,} items", True
        parts = [_text(v, currency)[0] for v in value]
        return ", ".join(parts) or "none", False
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            return f"{len(value):,} fields", True
        parts = [f"{_label(k)}: {_text(v, currency, k)[0]}" for k, v in value.items()]
        return "; ".join(parts), False
    if value is None:
        return "—", False
    if isinstance(value, bool):
        return "yes" if value else "no", False
    text = str(value)
    if len(text) > MAX_TEXT:
        return text[: MAX_TEXT - 1] + "…", True
    return text, False


def summarise(changes: dict[str, Any]) -> Summary:
    """The lines of ``changes`` a person reads; ``more`` when the summary left something out."""
    currency = changes.get("currency") if isinstance(changes.get("currency"), str) else None
    lines: list[tuple[str, str]] = []
    more = False
    for key, value in changes.items():
        if key == "currency" and currency:
            continue  # shown with the amounts it belongs to
        if len(lines) == MAX_LINES:
            more = True
            break
        text, cut = _text(value, currency, key)
        lines.append((_label(key), text))
        more = more or cut
    return Summary(lines, more)
