"""``/support calendar [YYYY-MM]`` (SPEC §4.10): the business-day calendar for anyone in
the workspace, registered or not; it reads no account, only the one calendar in core."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.commands import Blocks, Sub, usage_blocks
from bot.views.calendar import month_blocks
from bot.who import Who
from core import business_days
from core.errors import DomainError
from core.snapshots import Reader


async def h_calendar(source: Reader, who: Who, args: list[str], context: Any) -> Blocks:
    try:
        month = business_days.parse_month(args[0]) if args else None
    except DomainError as exc:
        # The message says what was wrong; the usage line says what to type.
        problem = bk.section(bk.say(exc.message_id, who.locale, **exc.params))
        return [problem, *usage_blocks("/support", CALENDAR, who.locale)]
    settings = source.settings
    view = business_days.month_view(settings, source.clock.now(), who.locale, month)
    return month_blocks(view, who.locale, settings.cutoff.strftime("%H:%M"), settings.answer_business_days)


CALENDAR = Sub(("calendar",), "[YYYY-MM]", 0, 1, h_calendar)
CUSTOMER = [CALENDAR]
STAFF: list[Sub] = []
