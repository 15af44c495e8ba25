"""The business-day calendar: weekends, Japanese public holidays, configured closures.

Used for "a key issued by mail is usable from the next business day" and for the expected
answer date of a contact-window request. Holidays come from the ``holidays`` package so
the calendar stays right without us editing dates every year.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import holidays


class BusinessCalendar:
    def __init__(self, closures: Iterable[date] = ()) -> None:
        self._closures = frozenset(closures)
        self._holidays = holidays.country_holidays("JP")

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays and day not in self._closures

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after ``day``."""
        return self.add_business_days(day, 1)

    def add_business_days(self, day: date, count: int) -> date:
        current = day
        remaining = count
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_business_day(current):
                remaining -= 1
        return current
