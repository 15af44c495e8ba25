from __future__ import annotations

from datetime import date

from core.business_days import BusinessCalendar
from core.config import Settings


def test_the_next_business_day_after_a_friday_is_the_monday() -> None:
    assert BusinessCalendar().next_business_day(date(2026, 11, 27)) == date(2026, 11, 30)


def test_a_japanese_public_holiday_is_not_a_business_day() -> None:
    calendar = BusinessCalendar()
    # 勤労感謝の日 2026-11-23 is a Monday.
    assert not calendar.is_business_day(date(2026, 11, 23))
    assert calendar.next_business_day(date(2026, 11, 20)) == date(2026, 11, 24)


def test_configured_closures_are_skipped_like_holidays() -> None:
    closures = Settings(MADOGUCHI_CLOSURES="2026-12-29..2027-01-03", _env_file=None).closures
    calendar = BusinessCalendar(closures)
    assert not calendar.is_business_day(date(2026, 12, 29))
    assert calendar.next_business_day(date(2026, 12, 28)) == date(2027, 1, 4)
    assert BusinessCalendar().next_business_day(date(2026, 12, 28)) == date(2026, 12, 29)


def test_adding_business_days_counts_only_business_days() -> None:
    # Thu 11-19 + 3 business days: Fri 20, (Sat, Sun, holiday Mon 23), Tue 24, Wed 25.
    assert BusinessCalendar().add_business_days(date(2026, 11, 19), 3) == date(2026, 11, 25)
    assert BusinessCalendar().add_business_days(date(2026, 11, 19), 0) == date(2026, 11, 19)
