"""How a date or an instant is written for a person: the one formatter (docs/wording.md).

Why one: customers and staff read dates in answers, mails and pages; if each door wrote
its own, one screen would say ``2026-12-08`` and the next ``12/8``, and the UTC instant
the database stores would leak beside a JST one. Here every instant is turned into Japan
time first, and Japanese reads ``2026年12月8日（火）`` (``14:05`` after it when the time
matters), English ``Tue, December 8, 2026`` (``14:05 JST``). The template environment has it as
the filter ``long_date`` (``{{ expires_on | long_date }}``, ``{{ at | long_date('en', time=True) }}``);
the Slack door calls it directly.

Accepted values: a ``date``, an aware ``datetime`` (a naive one is UTC, as SQLite hands
back what was stored), or their ISO text (mail contexts are JSON, so dates travel as
``2026-12-08``). ``None`` is a dash: "no date" must still be readable.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from core.clock import JST, aware
from core.messages import render

NONE = "—"


def _parse(value: str) -> date | datetime:
    text = value.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def long_date(value: date | datetime | str | None, locale: str = "ja", *, time: bool = False) -> str:
    """The date (and with ``time`` the JST hour and minute) as a reader of ``locale`` expects.

    A plain date has no time of day; ``time`` is ignored for it. The words (weekday and
    month names, the order) are the catalog's (``calendar.date``, ``dates.with_time``)."""
    if value is None or value == "":
        return NONE
    if isinstance(value, str):
        value = _parse(value)
    clock = ""
    if isinstance(value, datetime):
        local = aware(value).astimezone(JST)
        day = local.date()
        if time:
            clock = f"{local:%H:%M}"
    else:
        day = value
    text = _day(day, locale)
    return render("dates.with_time", locale, date=text, time=clock) if clock else text


@lru_cache(maxsize=4096)
def _day(day: date, locale: str) -> str:
    """Kept per day: a list of inquiries writes twenty dates, mostly the same few days,
    and each took three catalog renders."""
    return render(
        "calendar.date",
        locale,
        year=day.year,
        month=day.month,
        day=day.day,
        weekday=render("calendar.weekdays", locale).split(",")[day.weekday()],
        month_name=render("calendar.months", locale).split(",")[day.month - 1],
    )


def day_text(day: date, locale: str) -> str:
    """A calendar day alone: ``2026年12月8日（火）`` / ``Tuesday, December 8, 2026``."""
    return long_date(day, locale)


def moment_text(at: datetime, locale: str) -> str:
    """An exact instant such as a link's expiry (SPEC §4.11), in JST:
    ``2026年12月8日（火）17:30`` / ``Tuesday, December 8, 2026 17:30 JST``."""
    return long_date(at, locale, time=True)
