"""``/support calendar [YYYY-MM]`` through signed slash commands (SPEC §4.10): the month
grid, holidays by name, today's facts, for registered and unregistered users alike."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.clock import JST, FrozenClock
from tests import factories
from tests.integration.slack.conftest import Slack
from tests.integration.slack.test_home_and_terms import texts


def grid_of(blocks: list[dict]) -> list[str]:
    """The lines of the month's code block."""
    for b in blocks:
        text = (b.get("text") or {}).get("text", "")
        if text.startswith("```"):
            return text.strip("`").strip("\n").split("\n")
    raise AssertionError(f"no grid in {blocks}")


def cell(lines: list[str], day: int) -> str:
    """The four-column cell of ``day`` in the grid (marker, two digits, marker)."""
    for line in lines[1:]:
        for start in range(0, len(line), 4):
            piece = line[start : start + 4].ljust(4)
            if piece[1:3].strip() == str(day):
                return piece
    raise AssertionError(f"day {day} not in the grid:\n" + "\n".join(lines))


@pytest.fixture
def clock_of(slack: Slack) -> FrozenClock:
    clock = slack.door.core.clock
    assert isinstance(clock, FrozenClock)
    return clock


async def test_an_unregistered_user_gets_this_month_with_today_and_the_answer_date(slack: Slack) -> None:
    # TEST_NOW is Thursday 2026-11-26 10:00 JST; the answer is 3 business days later.
    answer = await slack.command("/support", "calendar", user="UNKNOWN9")
    text = texts(answer["blocks"])
    assert "2026年11月の営業日カレンダー" in text
    assert "今日（2026年11月26日（木））は営業日です。" in text
    assert "次の営業日：2026年11月27日（金）" in text
    assert "回答予定日：2026年12月1日（火）" in text
    assert "2026年11月23日（月）　勤労感謝の日" in text
    lines = grid_of(answer["blocks"])
    assert lines[0].split() == ["日", "月", "火", "水", "木", "金", "土"]
    assert cell(lines, 26) == ">26 "  # today, open
    assert cell(lines, 23) == " 23*"  # a holiday
    assert cell(lines, 28) == " 28*"  # a Saturday
    assert cell(lines, 24) == " 24 "
    # Sunday 1 November is the first column.
    assert lines[1].startswith("  1*")
    assert answer["response_type"] == "ephemeral"


async def test_a_registered_user_gets_the_month_asked_for_in_their_language(slack: Slack) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow)
        await factories.account(
            uow, company, "en@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1", locale="en"
        )
        await uow.commit()
    answer = await slack.command("/support", "calendar 2027-01", user="U1")
    text = texts(answer["blocks"])
    assert "Business-day calendar for January 2027" in text
    assert "Fri, January 1, 2027" in text and "New Year's Day" in text
    assert "Coming of Age Day" in text
    assert "Year-end holidays" in text
    lines = grid_of(answer["blocks"])
    assert lines[0].split() == ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"]
    assert cell(lines, 1) == "  1*" and cell(lines, 11) == " 11*" and cell(lines, 4) == "  4 "


async def test_the_year_end_closure_and_the_cutoff_move_the_answer_date(
    slack: Slack, clock_of: FrozenClock
) -> None:
    clock_of.set(datetime(2026, 12, 28, 17, 29, tzinfo=JST))
    before = texts((await slack.command("/support", "calendar", user="UX"))["blocks"])
    # Received Mon 12/28; 12/29–1/3 closed: 1/4, 1/5, 1/6.
    assert "回答予定日：2027年1月6日（水）" in before
    assert "次の営業日：2027年1月4日（月）" in before
    clock_of.set(datetime(2026, 12, 28, 17, 31, tzinfo=JST))
    after = texts((await slack.command("/support", "calendar", user="UX"))["blocks"])
    assert "回答予定日：2027年1月7日（木）" in after
    clock_of.set(datetime(2026, 12, 30, 9, 0, tzinfo=JST))
    closed = texts((await slack.command("/support", "calendar", user="UX"))["blocks"])
    assert "今日（2026年12月30日（水））は休業日です。" in closed
    assert "2026年12月29日（火）　年末年始休業" in closed


@pytest.mark.parametrize("bad", ["2027-13", "2027/01", "next", "1999-12", "2027-1-1"])
async def test_a_bad_month_gets_a_clear_message_and_the_usage(slack: Slack, bad: str) -> None:
    answer = await slack.command("/support", f"calendar {bad}", user="UX")
    text = texts(answer["blocks"])
    assert f"「{bad}」は月として読み取れません。" in text
    assert "`/support calendar [YYYY-MM]`" in text
    assert "```" not in text


async def test_too_many_words_get_the_usage_line(slack: Slack) -> None:
    answer = await slack.command("/support", "calendar 2027-01 2027-02", user="UX")
    assert "`/support calendar [YYYY-MM]`" in texts(answer["blocks"])


async def test_a_month_argument_cannot_smuggle_markup(slack: Slack) -> None:
    answer = await slack.command("/support", "calendar <!channel>", user="UX")
    text = texts(answer["blocks"])
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


async def test_help_lists_the_calendar(slack: Slack) -> None:
    answer = await slack.command("/support", "help", user="UX")
    assert "/support calendar [YYYY-MM]" in texts(answer["blocks"])
