"""How a date or an instant is written for a person: the one formatter (docs/wording.md).

Why one: customers and staff read dates in answers, mails and pages; if each door wrote
its own, one screen would say ``2026-12-08`` and the next ``12/8``, and the UTC instant
the database stores would leak beside a JST one. Here every instant is turned into Japan
time first, and Japanese reads ``2026年12月8日（火）`` (``14:05`` after it when the time
matters), English ``Tue 8 Dec 2026`` (``14:05 JST``). The template environment has it as
the filter ``long_date`` (``{{ expires_on | long_date }}``, ``{{ at | long_date('en', time=True) }}``);
the Slack door calls it directly.

Accepted values: a ``date``, an aware ``datetime`` (a naive one is UTC, as SQLite hands
back what was stored), or their ISO text (mail contexts are JSON, so dates travel as
``2026-12-08``). ``None`` is a dash: "no date" must still be readable.
"""

from __future__ import annotations

from datetime import date, datetime

from core.clock import JST, aware

_JA_WEEKDAYS = "月火水木金土日"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NONE = "—"


def _parse(value: str) -> date | datetime:
    text = value.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def long_date(value: date | datetime | str | None, locale: str = "ja", *, time: bool = False) -> str:
    """The date (and with ``time`` the JST hour and minute) as a reader of ``locale`` expects.

    A plain date has no time of day; ``time`` is ignored for it."""
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
    if locale == "en":
        text = f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
        return f"{text} {clock} JST" if clock else text
    text = f"{day.year}年{day.month}月{day.day}日（{_JA_WEEKDAYS[day.weekday()]}）"
    return f"{text}{clock}" if clock else text


def day_text(day: date, locale: str) -> str:
    """A calendar day alone: ``2026年12月8日（火）`` / ``Tue 8 Dec 2026``."""
    return long_date(day, locale)


def moment_text(at: datetime, locale: str) -> str:
    """An exact instant such as a link's expiry (SPEC §4.11), in JST:
    ``2026年12月8日（火）17時30分`` / ``Tue 8 Dec 2026, 17:30 JST``."""
    local = aware(at).astimezone(JST)
    if locale == "en":
        return f"{long_date(local.date(), locale)}, {local:%H:%M} JST"
    return f"{long_date(local.date(), locale)}{local.hour}時{local.minute:02d}分"
