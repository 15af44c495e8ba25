"""``/support ask``, ``/support inquiries [ID] [all]`` and ``/support inquiry
show|reply|close`` (SPEC §4.8, §5): words to core calls, results to Block Kit.

``ask`` opens the modal (``views.open`` with the command's trigger, after the ack); the
modal's submission and buttons are ``bot.listeners.inquiries``.
"""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.commands import Blocks, Sub
from bot.views.inquiries import ask_modal, inquiry_detail, inquiry_list
from bot.who import Who
from core import inquiries, support_ids
from core.dates import long_date
from core.snapshots import Reader
from core.unit_of_work import UnitOfWork


async def ask_view(source: Reader, who: Who, *, body: str = "") -> dict[str, Any]:
    """The ask modal for this user: their support IDs (one is chosen already) and its
    products in force."""
    names = [s.name for s in await support_ids.list_for_account(source, who.actor)]
    chosen = names[0] if len(names) == 1 else None
    products = await inquiries.products_for(source, who.actor, chosen)
    subject = " ".join(body.split())[: inquiries.MAX_SUBJECT] if body else ""
    return ask_modal(who.locale, names, chosen, products, subject=subject[:60], body=body)


async def h_ask(source: Reader, who: Who, args: list[str], context: Any) -> Blocks:
    view = await ask_view(source, who)
    client, trigger = context.get("client"), context.get("trigger_id")

    async def show() -> None:
        await client.views_open(trigger_id=trigger, view=view)

    context["after_ack"](show)
    return [bk.section(bk.say("slack.inquiry.form_opening", who.locale))]


def list_args(args: list[str]) -> tuple[str | None, bool]:
    """``[ID] [all]`` in either order: the support ID, and whether closed ones too. Later
    pages come from the list's button (a support ID may be all digits, so a number here
    could not be told from a page)."""
    support_id: str | None = None
    everything = False
    for arg in args:
        if arg.lower() in ("all", "すべて") and not everything:
            everything = True
        else:
            support_id = arg
    return support_id, everything


async def h_list(source: Reader, who: Who, args: list[str], context: Any) -> Blocks:
    support_id, everything = list_args(args)
    found = await inquiries.list_for_user(source, who.actor, support_id, include_closed=everything)
    return inquiry_list(found, who.locale, support_id=support_id, include_closed=everything)


async def h_show(source: Reader, who: Who, args: list[str], context: Any) -> Blocks:
    return inquiry_detail(await inquiries.show(source, who.actor, args[0]), who.locale)


def replied_blocks(replied: inquiries.Replied, locale: str) -> Blocks:
    label = inquiries.format_number(replied.number)
    if replied.opened is not None:
        text = bk.say(
            "slack.inquiry.followup_opened",
            locale,
            previous=label,
            number=replied.opened.label,
            due=long_date(replied.opened.due_on, locale),
        )
    else:
        text = bk.say(
            "slack.inquiry.reopened" if replied.reopened else "slack.inquiry.replied", locale, number=label
        )
    return [bk.section(text)]


def free_text(context: Any, words: int, args: list[str]) -> str:
    """The command's text after its first ``words`` words, line breaks kept (the router
    splits at every space; a reply is prose)."""
    parts = str(context.get("command_text") or "").split(None, words)
    return parts[words] if len(parts) > words else " ".join(args)


async def h_reply(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    text = free_text(context, 3, args[1:])
    replied = await inquiries.reply(uow, who.actor, args[0], text)
    return replied_blocks(replied, who.locale)


async def h_close(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    closed = await inquiries.close(uow, who.actor, args[0])
    return [bk.section(bk.say("slack.inquiry.closed", who.locale, number=inquiries.format_number(closed.id)))]


CUSTOMER = [
    Sub(("ask",), "", 0, 0, h_ask, uses=(support_ids.list_for_account, inquiries.products_for)),
    Sub(("inquiries",), "[ID] [all]", 0, 2, h_list, uses=(inquiries.list_for_user,)),
    Sub(("inquiry", "show"), "INQ", 1, 1, h_show, uses=(inquiries.show,)),
    Sub(("inquiry", "reply"), "INQ text…", 2, None, h_reply, uses=(inquiries.reply,)),
    Sub(("inquiry", "close"), "INQ", 1, 1, h_close, uses=(inquiries.close,)),
]
STAFF: list[Sub] = []
