"""The business-day calendar in Block Kit (SPEC §4.10): the month as a monospace grid,
its holidays and closures by name, and today's facts (open or closed, the next business
day, the answer date of an inquiry sent now).

Why a code block: Slack has no table, and a wall calendar is read by its columns. Each
cell is four columns wide (a marker, two digits, a marker), so the full-width heads
(日 月 …) line up in a monospace font; closed days carry ``*``, today ``>``.
"""

from __future__ import annotations

from bot import blocks as bk
from core.business_days import CalendarDay, MonthView
from core.dates import long_date


def _cell(day: CalendarDay | None) -> str:
    if day is None:
        return "    "
    return f"{'>' if day.today else ' '}{day.day.day:>2}{' ' if day.business else '*'}"


def _head(text: str) -> str:
    # A full-width head (日) is two columns, an ASCII one (Su) two characters.
    return f" {text} "


def grid(view: MonthView, locale: str) -> str:
    """The month as lines of text, Sunday first; no user data in it (digits and catalog
    heads), so it needs no escaping beyond the catalog's own."""
    heads = bk.say("calendar.grid_heads", locale).split(",")
    lines = ["".join(_head(h) for h in heads).rstrip()]
    lines += ["".join(_cell(day) for day in week).rstrip() for week in view.weeks]
    return "\n".join(lines)


def month_blocks(view: MonthView, locale: str, cutoff: str, answer_days: int) -> list[bk.Block]:
    t = bk.speaker(locale)
    month_name = t("calendar.months").split(",")[view.month - 1]
    named = view.named_days
    listed = (
        "\n".join(f"• {bk.esc(long_date(d.day, locale))}　{bk.esc('・'.join(d.names))}" for d in named)
        if named
        else t("calendar.no_closed_days")
    )
    today = bk.esc(long_date(view.today, locale))
    facts = [
        t("calendar.today_open" if view.today_is_business_day else "calendar.today_closed", date=today),
        t("calendar.next_business_day", date=bk.esc(long_date(view.next_business_day, locale))),
        t(
            "calendar.answer_due",
            date=bk.esc(long_date(view.answer_due, locale)),
            days=answer_days,
            cutoff=cutoff,
        ),
    ]
    example = f"{view.following[0]:04d}-{view.following[1]:02d}"
    return [
        bk.header(t("calendar.month_title", year=view.year, month=view.month, month_name=month_name)),
        bk.section(bk.Mrkdwn("```\n" + grid(view, locale) + "\n```")),
        bk.context_block(t("calendar.legend")),
        bk.section(bk.Mrkdwn(f"*{t('calendar.closed_days')}*\n{listed}")),
        bk.section(bk.Mrkdwn("\n".join(facts))),
        bk.context_block(t("calendar.slack_hint", example=example)),
    ]
