from django import template
from moneyed import Money

from trust.money import format_money, from_minor

register = template.Library()


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
