"""``/support-admin inquiries [open|overdue|mine|ID] [PAGE]``, ``inquiry show INQ``,
``inquiry assign INQ @user``, ``inquiry close INQ``, ``answer INQ text…`` (SPEC §4.8, §5).

Staff only: ``bot.listeners.admin`` has run ``core.staff.admit`` before any of these.
``answer`` is, with the 回答する modal, the only way staff text reaches a customer
(``core.inquiries.answer``); it keeps the staff member's line breaks and spacing, so it
reads the command's text as typed (``context["command_text"]``), not the split words.
"""

from __future__ import annotations

import re
from typing import Any

from bot import blocks as bk
from bot.commands import Blocks, Sub
from bot.views import inquiry_desk as views
from bot.who import Who
from core import inquiries
from core.snapshots import Reader
from core.unit_of_work import UnitOfWork

USER_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")
LISTS = ("open", "overdue", "mine")


async def h_inquiries(source: Reader, who: Who, args: list[str], context: Any) -> Blocks:
    which = args[0] if args else "open"
    lowered = which.lower()
    if lowered in LISTS:
        which = lowered
    page_text = args[1] if len(args) > 1 else "1"
    if not page_text.isdigit() or int(page_text) < 1:
        return [bk.section(bk.say("inquiry_desk.page_invalid", who.locale))]
    page = int(page_text)
    found = await inquiries.list_for_staff(source, who.actor, which, page=page)
    if which in LISTS:
        title = bk.say(f"inquiry_desk.list.{which}", who.locale, page=page)
    else:
        title = bk.say("inquiry_desk.list.support_id", who.locale, support_id=which, page=page)
    return views.list_blocks(found, which, title, who.locale)


async def h_show(source: Reader, who: Who, args: list[str], context: Any) -> Blocks:
    detail = await inquiries.show(source, who.actor, args[0])
    return views.show_blocks(detail, who.locale)


async def h_assign(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    match = USER_MENTION.match(args[1])
    if match is None:
        return [bk.section(bk.say("inquiry_desk.assign_mention", who.locale))]
    user = match.group(1)
    found = await inquiries.assign(uow, who.actor, args[0], f"slack:{who.team_id}:{user}")
    return [
        bk.section(
            bk.say(
                "inquiry_desk.assigned",
                who.locale,
                inquiry=inquiries.format_number(found.id),
                user=bk.mention(user),
            )
        )
    ]


async def h_close(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    found = await inquiries.close(uow, who.actor, args[0])
    return [bk.section(bk.say("inquiry_desk.closed", who.locale, inquiry=inquiries.format_number(found.id)))]


async def h_answer(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    # The text as typed after "answer INQ", line breaks and all; the words as a fallback.
    typed = str(context.get("command_text") or "") if context is not None else ""
    rest = typed.split(None, 2)
    body = rest[2] if len(rest) > 2 else " ".join(args[1:])
    found = await inquiries.answer(uow, who.actor, args[0], body)
    return [
        bk.section(
            bk.say(
                "inquiry_desk.answered",
                who.locale,
                inquiry=inquiries.format_number(found.id),
                asker=found.asker_email,
            )
        )
    ]


STAFF = [
    Sub(("inquiries",), "[open|overdue|mine|ID] [PAGE]", 0, 2, h_inquiries, (inquiries.list_for_staff,)),
    Sub(("inquiry", "show"), "INQ", 1, 1, h_show, (inquiries.show,)),
    Sub(("inquiry", "assign"), "INQ @user", 2, 2, h_assign, (inquiries.assign,)),
    Sub(("inquiry", "close"), "INQ", 1, 1, h_close, (inquiries.close,)),
    Sub(("answer",), "INQ text…", 2, None, h_answer, (inquiries.answer,)),
]
CUSTOMER: list[Sub] = []
