"""Periods as people type them, and as a court reads them."""

from __future__ import annotations

from datetime import date

import pytest

from reports.periods import Period, PeriodError, parse_period, previous_month, previous_quarter


@pytest.mark.parametrize(
    ("text", "start", "end", "key"),
    [
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"),
        ("2026q1", date(2026, 1, 1), date(2026, 3, 31), "2026-Q1"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        ("2026", date(2026, 1, 1), date(2026, 12, 31), "2026"),
        ("2026-07-01..2026-09-15", date(2026, 7, 1), date(2026, 9, 15), "2026-07-01..2026-09-15"),
        (" 2026-07-01/2026-07-31 ", date(2026, 7, 1), date(2026, 7, 31), "2026-07"),
    ],
)
def test_periods_parse_and_name_themselves(text: str, start: date, end: date, key: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.key) == (start, end, key)
    assert parse_period(period.key) == period


@pytest.mark.parametrize(
    "text",
    ["", "2026-Q5", "2026-13", "Q3 2026", "2026-02-30..2026-03-01", "2026-09-30..2026-07-01"],
)
def test_bad_periods_say_how_to_write_one(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


def test_labels_and_schedules() -> None:
    assert Period(date(2026, 7, 1), date(2026, 9, 30)).label == "1 July 2026 to 30 September 2026"
    assert previous_month(date(2026, 1, 1)).key == "2025-12"
    assert previous_quarter(date(2026, 1, 1)).key == "2025-Q4"
    assert previous_quarter(date(2026, 11, 30)).key == "2026-Q3"
