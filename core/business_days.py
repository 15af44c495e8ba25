"""The business-day calendar (SPEC §4.10): weekends, Japanese public holidays, the year-end
closure and configured closures. Every due date in the product comes from here.

Holidays come from the ``holidays`` package so the calendar stays right without us editing
dates every year. Build it with :func:`calendar_for` — one object per configuration, cached,
because a new ``holidays`` instance recomputes each year's holidays on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING

import holidays

from core.clock import JST

if TYPE_CHECKING:
    from core.config import Settings

DEFAULT_CUTOFF = time(17, 30)


def year_end(day: date) -> bool:
    """12/29–1/3, the closure almost every Japanese vendor keeps."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


class BusinessCalendar:
    def __init__(
        self,
        closures: Iterable[date] = (),
        *,
        year_end_closure: bool = False,
        cutoff: time = DEFAULT_CUTOFF,
    ) -> None:
        self._closures = frozenset(closures)
        self._holidays = holidays.country_holidays("JP", language="ja")
        self.year_end_closure = year_end_closure
        self.cutoff = cutoff

    def holiday_name(self, day: date) -> str | None:
        """The Japanese name of a public holiday (元日, 成人の日…), else None."""
        name = self._holidays.get(day)
        return str(name) if name else None

    def is_vendor_closure(self, day: date) -> bool:
        return day in self._closures or (self.year_end_closure and year_end(day))

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays and not self.is_vendor_closure(day)

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

    def received_on(self, received_at: datetime) -> date:
        """The business day a message received at ``received_at`` counts from: the same day
        if that is a business day and before the cut-off (JST), else the next business day."""
        local = received_at.astimezone(JST)
        day = local.date()
        if self.is_business_day(day) and local.time() < self.cutoff:
            return day
        return self.next_business_day(day)

    def answer_due(self, received_at: datetime, business_days: int) -> date:
        """The answer date promised for a message received at ``received_at``."""
        return self.add_business_days(self.received_on(received_at), business_days)


@cache
def _calendar(closures: frozenset[date], year_end_closure: bool, cutoff: time) -> BusinessCalendar:
    return BusinessCalendar(closures, year_end_closure=year_end_closure, cutoff=cutoff)


def calendar_for(settings: Settings) -> BusinessCalendar:
    """The calendar of this configuration (built once)."""
    return _calendar(frozenset(settings.closures), settings.year_end_closure, settings.cutoff)
