from __future__ import annotations

from datetime import date, datetime

import pytest

from core.business_days import BusinessCalendar, calendar_for, closed_days, month_view, parse_month
from core.clock import JST
from core.config import Settings
from core.dates import long_date
from core.errors import DomainError


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


# -- the calendar customers see (SPEC §4.10), built from settings as the doors build it ----


def _settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[arg-type]


def test_new_years_day_and_coming_of_age_day_2027_are_closed_and_named() -> None:
    calendar = calendar_for(_settings())
    assert not calendar.is_business_day(date(2027, 1, 1))
    assert calendar.holiday_name(date(2027, 1, 1)) == "元日"
    assert not calendar.is_business_day(date(2027, 1, 11))
    assert calendar.holiday_name(date(2027, 1, 11)) == "成人の日"
    assert calendar.holiday_name(date(2027, 1, 11), "en") == "Coming of Age Day"


def test_the_year_end_closure_is_on_by_default_and_can_be_turned_off() -> None:
    closed = calendar_for(_settings())
    for day in (
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 2),
        date(2027, 1, 3),
    ):
        assert not closed.is_business_day(day), day
    assert closed.is_business_day(date(2027, 1, 4)) and closed.is_business_day(date(2026, 12, 28))
    opened = calendar_for(_settings(MADOGUCHI_YEAR_END_CLOSURE="false"))
    assert opened.is_business_day(date(2026, 12, 29))
    assert not opened.is_business_day(date(2027, 1, 1))  # still 元日


def test_a_saturday_is_closed() -> None:
    assert not calendar_for(_settings()).is_business_day(date(2027, 1, 9))


def test_after_the_cutoff_the_answer_date_moves_one_business_day() -> None:
    settings = _settings()
    calendar = calendar_for(settings)
    # Wed 2027-01-13: before 17:30 it counts from the 13th, after from Thu the 14th.
    before = datetime(2027, 1, 13, 17, 29, tzinfo=JST)
    after = datetime(2027, 1, 13, 17, 31, tzinfo=JST)
    assert calendar.answer_due(before, 3) == date(2027, 1, 18)
    assert calendar.answer_due(after, 3) == date(2027, 1, 19)
    later = calendar_for(_settings(MADOGUCHI_CUTOFF="18:00"))
    assert later.answer_due(after, 3) == date(2027, 1, 18)


def test_the_month_view_starts_on_sunday_and_knows_today() -> None:
    view = month_view(_settings(), datetime(2026, 12, 28, 18, 0, tzinfo=JST), "ja", (2027, 1))
    assert [d.day.day if d else None for d in view.weeks[0]] == [None, None, None, None, None, 1, 2]
    assert all(len(week) == 7 for week in view.weeks)
    assert view.today == date(2026, 12, 28) and view.today_is_business_day
    assert view.next_business_day == date(2027, 1, 4)
    assert view.answer_due == date(2027, 1, 7)  # after the cut-off: 1/4 + 3
    assert [(d.day.day, d.names) for d in view.named_days] == [
        (1, ("元日", "年末年始休業")),
        (2, ("年末年始休業",)),
        (3, ("年末年始休業",)),
        (11, ("成人の日",)),
    ]
    assert (view.previous, view.following) == ((2026, 12), (2027, 2))


def test_closures_from_the_setting_are_named_in_the_closed_days() -> None:
    settings = _settings(MADOGUCHI_CLOSURES="2027-05-06,2027-08-12..2027-08-14")
    days = closed_days(settings, date(2027, 5, 1), date(2027, 8, 31), "ja")
    named = {d.day: d.names for d in days}
    assert named[date(2027, 5, 6)] == ("当社休業日",)
    assert named[date(2027, 8, 13)] == ("当社休業日",)
    assert named[date(2027, 5, 3)] == ("憲法記念日",)


def test_a_month_is_read_as_yyyy_mm_only() -> None:
    assert parse_month("2027-01") == (2027, 1) and parse_month("2027-1") == (2027, 1)
    assert parse_month("２０２７－０１") == (2027, 1)
    for bad in ("2027-13", "2027-00", "27-01", "2027/01", "", "1999-12", "2100-01", "2027-01-01", "٢٠٢٧-01"):
        with pytest.raises(DomainError) as caught:
            parse_month(bad)
        assert caught.value.message_id == "calendar.bad_month"


def test_long_dates_read_as_customers_expect() -> None:
    assert long_date(date(2026, 12, 8), "ja") == "2026年12月8日（火）"
    assert long_date(date(2026, 12, 8), "en") == "Tue, December 8, 2026"


def test_the_terms_link_follows_the_public_url_unless_set() -> None:
    assert _settings(MADOGUCHI_PUBLIC_URL="https://support.example.jp/").terms_link == (
        "https://support.example.jp/terms"
    )
    assert _settings(MADOGUCHI_TERMS_URL="https://example.jp/t").terms_link == "https://example.jp/t"
