"""``/calendar`` and ``/calendar.ics`` over real HTTP (SPEC §4.10): the month page in ja and
en, and the feed parsed back by a real iCalendar library."""

from __future__ import annotations

from datetime import date, datetime

import aiohttp
import icalendar

from core.clock import JST, FrozenClock
from madoguchi.serve import Server, web_pages
from tests.integration.web.conftest import PUBLIC_URL, Site


async def _get(site: Site, path: str, **headers: str) -> tuple[int, str, aiohttp.ClientResponse]:
    async with aiohttp.ClientSession() as http, http.get(site.base + path, headers=headers) as response:
        return response.status, await response.text(), response


async def _feed(site: Site, query: str = "") -> tuple[aiohttp.ClientResponse, icalendar.Calendar]:
    async with aiohttp.ClientSession() as http, http.get(f"{site.base}/calendar.ics{query}") as response:
        body = await response.read()
    return response, icalendar.Calendar.from_ical(body)


def _events(cal: icalendar.Calendar) -> dict[date, icalendar.Event]:
    events = {}
    for event in cal.walk("VEVENT"):
        start = event.decoded("dtstart")
        assert isinstance(start, date) and not isinstance(start, datetime)  # all-day
        assert event.decoded("dtend") == date.fromordinal(start.toordinal() + 1)
        assert start not in events, f"two events on {start}"
        events[start] = event
    return events


async def test_the_page_shows_this_month_in_japanese_with_today_and_the_answer_date(site: Site) -> None:
    # TEST_NOW: Thursday 2026-11-26 10:00 JST.
    status, html, response = await _get(site, "/calendar", **{"Accept-Language": "ja"})
    assert status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'lang="ja"' in html
    assert "2026年11月の営業日カレンダー" in html
    assert "今日（2026年11月26日（木））は営業日です。" in html
    assert "次の営業日：2026年11月27日（金）" in html
    assert "回答予定日：2026年12月1日（火）" in html
    assert "2026年11月23日（月）　勤労感謝の日" in html
    assert 'data-date="2026-11-23" class="closed"' in html
    assert 'data-date="2026-11-28" class="closed"' in html  # a Saturday
    assert 'data-date="2026-11-26" class="open today"' in html
    assert f'href="{PUBLIC_URL}/calendar.ics"' in html
    assert f'href="{PUBLIC_URL}/calendar?month=2026-12&amp;lang=ja"' in html


async def test_the_page_speaks_english_and_shows_the_month_asked_for(site: Site) -> None:
    status, html, _ = await _get(site, "/calendar?month=2027-01&lang=en")
    assert status == 200
    assert 'lang="en"' in html
    assert "Business-day calendar for January 2027" in html
    assert "Fri, January 1, 2027　New Year&#39;s Day・Year-end holidays" in html
    assert "Coming of Age Day" in html
    assert 'data-date="2027-01-04" class="open"' in html
    assert 'data-date="2027-01-11" class="closed"' in html
    # The language links keep the month.
    assert f'href="{PUBLIC_URL}/calendar?month=2027-01&amp;lang=ja"' in html


async def test_a_bad_month_is_a_400_page_that_says_what_to_type(site: Site) -> None:
    for bad in ("2027-13", "<script>", "1999-01"):
        status, html, _ = await _get(site, f"/calendar?month={bad}&lang=ja")
        assert status == 400
        assert "「YYYY-MM」の形" in html
        assert "<script>" not in html
        assert f'href="{PUBLIC_URL}/calendar?lang=ja"' in html


async def test_the_feed_is_valid_icalendar_with_the_closed_days_named(site: Site) -> None:
    response, cal = await _feed(site)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert str(cal["version"]) == "2.0" and cal.get("prodid")
    events = _events(cal)
    # This year and next (2026, 2027), holidays and closures only.
    assert min(events) == date(2026, 1, 1) and max(events) == date(2027, 12, 31)
    assert str(events[date(2027, 1, 1)]["summary"]) == "元日・年末年始休業"
    assert str(events[date(2027, 1, 11)]["summary"]) == "成人の日"
    for day in (29, 30, 31):
        assert str(events[date(2026, 12, day)]["summary"]) == "年末年始休業"
    assert str(events[date(2027, 1, 3)]["summary"]) == "年末年始休業"  # a Sunday, but a closure
    assert date(2027, 1, 4) not in events  # the first business day
    assert date(2026, 11, 28) not in events  # a plain Saturday is not an event
    assert str(events[date(2027, 1, 11)]["uid"]) == "closed-20270111@support.example.test"


async def test_the_feed_uids_are_stable_and_english_names_on_request(site: Site, clock: FrozenClock) -> None:
    _, first = await _feed(site)
    clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=JST))
    _, again = await _feed(site, "?lang=en")
    assert sorted(str(e["uid"]) for e in first.walk("VEVENT")) == sorted(
        str(e["uid"]) for e in again.walk("VEVENT")
    )
    assert str(_events(again)[date(2027, 1, 11)]["summary"]) == "Coming of Age Day"


async def test_without_the_year_end_closure_12_29_is_open_and_closures_are_listed(site: Site) -> None:
    # A second server on the same database with other settings.
    settings = site.core.settings.model_copy(
        update={"year_end_closure": False, "closures": frozenset({date(2027, 5, 6)})}
    )
    other = Server(settings, components=[web_pages], migrate=False, clock=site.core.clock)
    await other.start()
    try:
        base = f"http://127.0.0.1:{other.http_port}"
        async with aiohttp.ClientSession() as http, http.get(f"{base}/calendar.ics") as r:
            events = _events(icalendar.Calendar.from_ical(await r.read()))
        async with aiohttp.ClientSession() as http, http.get(f"{base}/calendar?month=2026-12&lang=ja") as r:
            html = await r.text()
    finally:
        await other.stop()
    assert date(2026, 12, 29) not in events
    assert str(events[date(2027, 1, 1)]["summary"]) == "元日"
    assert str(events[date(2027, 5, 6)]["summary"]) == "当社休業日"
    assert 'data-date="2026-12-29" class="open"' in html
