"""Reporting periods: parsed from what people type ("2026-Q3", "2026-09", "2026",
"2026-07-01..2026-09-30") and named as a court reads them. Pure: no Django."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class PeriodError(ValueError):
    """A period that cannot be parsed or makes no sense (end before start)."""


def long_date(day: date) -> str:
    """``1 July 2026``: unambiguous on both sides of the Atlantic."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError(f"the period ends ({self.end}) before it starts ({self.start})")

    @property
    def key(self) -> str:
        """The shortest text that parses back to this period: ``2026-Q3``, ``2026-09``, ``2026``,
        or ``2026-07-01..2026-09-15``."""
        s, e = self.start, self.end
        month_end = date(e.year, e.month, calendar.monthrange(e.year, e.month)[1])
        if s.day == 1 and e == month_end and s.year == e.year:
            if s.month == 1 and e.month == 12:
                return f"{s.year}"
            if s.month == e.month:
                return f"{s.year}-{s.month:02d}"
            if s.month % 3 == 1 and e.month == s.month + 2:
                return f"{s.year}-Q{(s.month + 2) // 3}"
        return f"{s.isoformat()}..{e.isoformat()}"

    @property
    def label(self) -> str:
        if self.start == self.end:
            return long_date(self.start)
        return f"{long_date(self.start)} to {long_date(self.end)}"

    @property
    def day_before(self) -> date:
        return self.start - timedelta(days=1)

    def __str__(self) -> str:
        return self.key


def month(year: int, number: int) -> Period:
    return Period(date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1]))


def quarter(year: int, number: int) -> Period:
    first = 3 * (number - 1) + 1
    return Period(month(year, first).start, month(year, first + 2).end)


_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/)\s*(\d{4}-\d{2}-\d{2})$")


def parse_period(text: str) -> Period:
    """``2026-Q3``, ``2026-09``, ``2026`` or ``2026-07-01..2026-09-30`` (also with ``/``)."""
    value = (text or "").strip()
    try:
        if m := _QUARTER.match(value):
            return quarter(int(m[1]), int(m[2]))
        if m := _MONTH.match(value):
            if not 1 <= int(m[2]) <= 12:
                raise PeriodError(f"no month {m[2]} in {value!r}")
            return month(int(m[1]), int(m[2]))
        if m := _YEAR.match(value):
            return Period(date(int(m[1]), 1, 1), date(int(m[1]), 12, 31))
        if m := _RANGE.match(value):
            return Period(date.fromisoformat(m[1]), date.fromisoformat(m[2]))
    except ValueError as exc:  # an impossible date such as 2026-02-30
        raise PeriodError(f"{value!r} is not a valid period: {exc}") from exc
    raise PeriodError(
        f"{value!r} is not a period: write 2026-Q3, 2026-09, 2026 or 2026-07-01..2026-09-30"
    )


def previous_month(today: date) -> Period:
    first = today.replace(day=1) - timedelta(days=1)
    return month(first.year, first.month)


def previous_quarter(today: date) -> Period:
    number = (today.month - 1) // 3 + 1
    if number == 1:
        return quarter(today.year - 1, 4)
    return quarter(today.year, number - 1)
