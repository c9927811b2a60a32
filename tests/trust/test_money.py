"""Exact conversions between ``Money`` and integer minor units (trust/money.py, pure Python).

Every amount here is written as a string or an int: a float never enters a test's arithmetic, and
every result is checked to be an ``int`` or a ``Decimal`` of the currency's exact scale.
"""

from __future__ import annotations

from decimal import Decimal

import moneyed.classes
import pytest
from moneyed import Currency, Money

from trust.money import MoneyError, currency_of, format_money, from_minor, minor_exponent, to_minor

INT64_MAX = 2**63 - 1  # the largest value trust_posting.amount_minor (BIGINT) can hold


# --- minor_exponent / currency_of ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("USD", 2), ("EUR", 2), ("PHP", 2), ("JPY", 0), ("VND", 0), ("KWD", 3), ("BHD", 3)],
)
def test_minor_exponent_follows_iso_4217(code, exponent):
    assert minor_exponent(code) == exponent


def test_currency_code_is_read_case_insensitively():
    assert currency_of("usd").code == "USD"
    assert minor_exponent("bhd") == 3


@pytest.mark.parametrize("code", ["XYZ", "", "US", "USDX", "123"])
def test_unknown_currency_is_refused(code):
    with pytest.raises(MoneyError, match="unknown currency"):
        minor_exponent(code)
    with pytest.raises(MoneyError, match="unknown currency"):
        from_minor(100, code)


def test_currency_with_non_decimal_minor_unit_is_refused(monkeypatch):
    # No ISO currency has one today; an invented one (five sub-units) stands in for it.
    monkeypatch.setitem(moneyed.classes.CURRENCIES, "QQF", Currency("QQF", sub_unit=5))
    with pytest.raises(MoneyError, match="non-decimal minor unit"):
        minor_exponent("QQF")
    with pytest.raises(MoneyError, match="non-decimal minor unit"):
        to_minor(Money("1", "QQF"))


def test_currency_without_minor_unit_is_refused(monkeypatch):
    monkeypatch.setitem(moneyed.classes.CURRENCIES, "QQN", Currency("QQN", sub_unit=None))
    with pytest.raises(MoneyError, match="no defined minor unit"):
        minor_exponent("QQN")


# --- to_minor -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [
        ("1234.56", "USD", 123456),
        ("0.01", "USD", 1),
        ("0", "USD", 0),
        ("1.5", "USD", 150),  # fewer decimals than the currency has
        ("1.50000", "USD", 150),  # trailing zeros are not extra precision
        ("1E+2", "USD", 10000),  # exponent notation
        ("1234", "JPY", 1234),
        ("1234.000", "JPY", 1234),
        ("1.234", "KWD", 1234),
        ("0.001", "BHD", 1),
        ("-1234.56", "USD", -123456),
        ("-0.001", "BHD", -1),
        ("-7", "JPY", -7),
    ],
)
def test_to_minor_is_exact(amount, code, minor):
    result = to_minor(Money(amount, code))
    assert type(result) is int
    assert result == minor


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1.005", "USD"),
        ("0.001", "USD"),
        ("-0.001", "USD"),
        ("1.5", "JPY"),
        ("0.1", "JPY"),
        ("1.2345", "KWD"),
        ("0.0001", "BHD"),
        ("92233720368547758.071", "USD"),  # large and one decimal too many
    ],
)
def test_to_minor_refuses_more_decimals_than_the_currency_has(amount, code):
    with pytest.raises(MoneyError, match="more than"):
        to_minor(Money(amount, code))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_to_minor_refuses_non_finite_amounts(value):
    with pytest.raises(MoneyError, match="not a finite decimal"):
        to_minor(Money(Decimal(value), "USD"))


@pytest.mark.parametrize("value", [Decimal("1.00"), 100, "1.00"], ids=["decimal", "int", "str"])
def test_to_minor_refuses_anything_but_money(value):
    with pytest.raises(MoneyError, match="expected Money"):
        to_minor(value)


def test_to_minor_refuses_a_binary_float():
    """A float is not Money: ``to_minor`` never sees its binary value."""
    with pytest.raises(MoneyError, match="expected Money, got float"):
        to_minor(float("0.1"))


def test_large_amounts_are_exact_beyond_float_precision():
    # 2**53 + 1 minor units: a float would round this to 2**53.
    minor = 2**53 + 1
    money = from_minor(minor, "USD")
    assert money.amount == Decimal("90071992547409.93")
    assert to_minor(money) == minor
    assert to_minor(Money("92233720368547758.07", "USD")) == INT64_MAX
    assert to_minor(Money("-92233720368547758.08", "USD")) == -INT64_MAX - 1
    assert to_minor(Money("9223372036854775807", "JPY")) == INT64_MAX


# --- from_minor -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "code", "text"),
    [
        (150, "USD", "1.50"),
        (1, "USD", "0.01"),
        (0, "USD", "0.00"),
        (-5, "USD", "-0.05"),
        (7, "JPY", "7"),
        (-7, "JPY", "-7"),
        (1234, "BHD", "1.234"),
        (-1, "KWD", "-0.001"),
        (INT64_MAX, "USD", "92233720368547758.07"),
    ],
)
def test_from_minor_has_the_currencys_exact_scale(minor, code, text):
    money = from_minor(minor, code)
    assert type(money.amount) is Decimal
    assert str(money.amount) == text
    assert money.currency.code == code
    assert to_minor(money) == minor  # the round trip is exact


def test_from_minor_normalises_the_currency_code():
    assert from_minor(100, "usd").currency.code == "USD"


@pytest.mark.parametrize(
    "minor",
    [1.0, float("150"), Decimal("150"), "150", True, False, None],
    ids=["float-1", "float-150", "decimal", "str", "true", "false", "none"],
)
def test_from_minor_refuses_anything_but_an_int(minor):
    with pytest.raises(MoneyError, match="must be an integer"):
        from_minor(minor, "USD")


@pytest.mark.parametrize("minor", [0, 1, -1, 99, 100, 12345, -99999, 10**18, -(10**18)])
@pytest.mark.parametrize("code", ["USD", "JPY", "KWD", "BHD"])
def test_round_trip_minor_money_minor(minor, code):
    assert to_minor(from_minor(minor, code)) == minor


# --- format_money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        ("1234.5", "USD", "1,234.50 USD"),
        ("0", "USD", "0.00 USD"),
        ("0.01", "USD", "0.01 USD"),
        ("-1234.5", "USD", "-1,234.50 USD"),
        ("1234567", "JPY", "1,234,567 JPY"),
        ("-5", "JPY", "-5 JPY"),
        ("1234.567", "KWD", "1,234.567 KWD"),
        ("0.5", "BHD", "0.500 BHD"),
        ("12345678901234567.89", "USD", "12,345,678,901,234,567.89 USD"),
    ],
)
def test_format_money(amount, code, text):
    assert format_money(Money(amount, code)) == text


def test_format_money_of_from_minor_shows_every_minor_unit():
    assert format_money(from_minor(INT64_MAX, "USD")) == "92,233,720,368,547,758.07 USD"
    assert format_money(from_minor(-1, "BHD")) == "-0.001 BHD"


def test_format_money_refuses_unknown_currency():
    with pytest.raises(MoneyError, match="unknown currency"):
        format_money(Money("1", Currency("QQX")))


@pytest.mark.parametrize(("amount", "code"), [("1.005", "USD"), ("-0.001", "USD"), ("0.5", "JPY")])
def test_format_money_does_not_round_away_minor_units(amount, code):
    """trust/money.py: "A value with more decimal places than its currency has is refused, never
    rounded." Rounding would show 1.005 USD as ``1.00 USD``, -0.001 USD as ``-0.00 USD`` and
    0.5 JPY as ``0 JPY``, hiding part of the amount on a page or
    report. (Amounts read from the ledger come through ``from_minor`` and are exact, so this
    needs a ``Money`` built elsewhere, e.g. by a form or an import.)
    """
    with pytest.raises(MoneyError):
        format_money(Money(amount, code))
