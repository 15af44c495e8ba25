"""Dates and times as customers read them: the Japanese calendar day and JST.

Why here: a customer reads 「2026年12月8日（火）17時30分」, never ``2026-12-08T08:30Z``;
mails, Slack answers and pages all state expiries and due dates, so the one spelling per
language lives in one place (the doors and the templates get finished strings).
"""

from __future__ import annotations

from datetime import date, datetime

from core.clock import JST

_WEEKDAYS_JA = "月火水木金土日"
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: date, locale: str) -> str:
    """``2026年12月8日（火）`` / ``Tue 8 Dec 2026``."""
    if locale == "en":
        return f"{_WEEKDAYS_EN[day.weekday()]} {day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日（{_WEEKDAYS_JA[day.weekday()]}）"


def moment_text(at: datetime, locale: str) -> str:
    """An instant in JST: ``2026年12月8日（火）17時30分`` / ``Tue 8 Dec 2026, 17:30 JST``."""
    local = at.astimezone(JST)
    if locale == "en":
        return f"{day_text(local.date(), locale)}, {local:%H:%M} JST"
    return f"{day_text(local.date(), locale)}{local.hour}時{local.minute:02d}分"
