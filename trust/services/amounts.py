"""The one check every service applies to an amount it is given."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from moneyed import Money

from trust.errors import field_error
from trust.money import MoneyError, to_minor


def positive_minor(amount: Any, field: str) -> int:
    """``amount`` in minor units, if it is a ``Money`` above zero, in a currency this
    installation accepts, with no more decimals than the currency has; otherwise a
    ``ValidationError`` on ``field`` (codes: required, bad_currency, bad_amount, not_positive)."""
    if not isinstance(amount, Money):
        raise field_error(field, "An amount with its currency is required.", code="required")
    if amount.currency.code not in settings.CURRENCIES:
        raise field_error(
            field,
            f"{amount.currency.code} is not one of the currencies this installation accepts",
            code="bad_currency",
        )
    try:
        minor = to_minor(amount)
    except MoneyError as exc:
        raise field_error(field, str(exc), code="bad_amount") from exc
    if minor <= 0:
        raise field_error(field, "The amount must be more than zero.", code="not_positive")
    return minor
