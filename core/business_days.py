"""The business-day calendar (SPEC §4.10): weekends, Japanese public holidays, the year-end
closure and configured closures. Every due date in the product comes from here.

Holidays come from the ``holidays`` package so the calendar stays right without us editing
dates every year. Build it with :func:`calendar_for` — one object per configuration, cached,
because a new ``holidays`` instance recomputes each year's holidays on first use.

What customers see of it is built here too, so the Slack grid, the web page and the
iCalendar feed cannot disagree with the due dates: :func:`month_view` (a month, today, the
next business day and the answer date of an inquiry sent now) and :func:`closed_days`
(the named closed days of a period, for ``/calendar.ics``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Literal

import holidays

from core.clock import JST
from core.errors import DomainError
from core.messages import render

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
        # The same holidays named in English, for the English page and feed.
        self._holidays_en = holidays.country_holidays("JP", language="en_US")
        self.year_end_closure = year_end_closure
        self.cutoff = cutoff

    def holiday_name(self, day: date, locale: str = "ja") -> str | None:
        """The name of a public holiday (元日, 成人の日… or in English), else None."""
        name = (self._holidays_en if locale == "en" else self._holidays).get(day)
        return str(name) if name else None

    def is_configured_closure(self, day: date) -> bool:
        """A day of MADOGUCHI_CLOSURES (not the year-end closure)."""
        return day in self._closures

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


# -- what customers see of the calendar (SPEC §4.10) ----------------------------------

# Why a day is closed, most specific first: a holiday or a vendor closure is named, a
# plain weekend is not.
Reason = Literal["holiday", "year_end", "closure", "weekend"]

# Months a customer may ask for: wide enough for any plan, narrow enough that nobody
# makes the holidays library compute year 9999.
FIRST_YEAR, LAST_YEAR = 2000, 2099
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{1,2})$")


@dataclass(frozen=True)
class CalendarDay:
    day: date
    business: bool
    reasons: tuple[Reason, ...]  # empty on a business day
    names: tuple[str, ...]  # the holiday's and the closure's names, in the reader's language
    today: bool


@dataclass(frozen=True)
class MonthView:
    year: int
    month: int
    # Weeks from Sunday to Saturday (the Japanese wall calendar); None outside the month.
    weeks: tuple[tuple[CalendarDay | None, ...], ...]
    today: date
    today_is_business_day: bool
    next_business_day: date
    # The answer date promised to an inquiry sent now (cut-off and answer days included).
    answer_due: date
    previous: tuple[int, int]
    following: tuple[int, int]

    @property
    def named_days(self) -> list[CalendarDay]:
        """The closed days worth a line of their own: holidays and closures (not weekends)."""
        return [d for week in self.weeks for d in week if d is not None and d.names]


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month); anything else is ``calendar.bad_month``. Full-width
    digits and dash (２０２７－０１, what a Japanese IME types) read as their ASCII."""
    match = _MONTH.match(unicodedata.normalize("NFKC", text).strip().replace("ー", "-"))
    if match is None or not 1 <= int(match[2]) <= 12 or not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        raise DomainError("calendar.bad_month", month=text, first=FIRST_YEAR, last=LAST_YEAR)
    return int(match[1]), int(match[2])


def describe(calendar: BusinessCalendar, day: date, locale: str, today: date | None = None) -> CalendarDay:
    """One day as the customer sees it: open or closed, why, and the names."""
    reasons: list[Reason] = []
    names: list[str] = []
    holiday = calendar.holiday_name(day, locale)
    if holiday:
        reasons.append("holiday")
        names.append(holiday)
    if calendar.is_configured_closure(day):
        reasons.append("closure")
        names.append(render("calendar.closure", locale))
    elif calendar.year_end_closure and year_end(day):
        reasons.append("year_end")
        names.append(render("calendar.year_end", locale))
    if day.weekday() >= 5:
        reasons.append("weekend")
    return CalendarDay(day, not reasons, tuple(reasons), tuple(names), day == today)


def month_view(
    settings: Settings, now: datetime, locale: str, month: tuple[int, int] | None = None
) -> MonthView:
    """The month (this month unless ``month`` is given) with today's facts, in JST."""
    calendar = calendar_for(settings)
    today = now.astimezone(JST).date()
    year, number = month or (today.year, today.month)
    first = date(year, number, 1)
    following = (year + 1, 1) if number == 12 else (year, number + 1)
    previous = (year - 1, 12) if number == 1 else (year, number - 1)
    days = (date(*following, 1) - first).days
    # Sunday first: Python's Monday is 0, so Sunday is (weekday + 1) % 7 columns in.
    cells: list[CalendarDay | None] = [None] * ((first.weekday() + 1) % 7)
    cells += [describe(calendar, first + timedelta(days=n), locale, today) for n in range(days)]
    cells += [None] * (-len(cells) % 7)
    weeks = tuple(tuple(cells[i : i + 7]) for i in range(0, len(cells), 7))
    return MonthView(
        year=year,
        month=number,
        weeks=weeks,
        today=today,
        today_is_business_day=calendar.is_business_day(today),
        next_business_day=calendar.next_business_day(today),
        answer_due=calendar.answer_due(now, settings.answer_business_days),
        previous=previous,
        following=following,
    )


def closed_days(settings: Settings, first: date, last: date, locale: str) -> list[CalendarDay]:
    """The named closed days from ``first`` to ``last`` (holidays and closures, weekends or
    not; plain weekends are left out: every calendar client knows them)."""
    calendar = calendar_for(settings)
    out = []
    for n in range((last - first).days + 1):
        described = describe(calendar, first + timedelta(days=n), locale)
        if described.names:
            out.append(described)
    return out
