"""``/support kb`` and ``/support-admin kb`` (SPEC §4.9, §5).

Customers: ``kb WORDS…`` (the 10 best), ``kb`` alone (the newest for their products),
``kb show CODE``; anyone in the workspace may ask (public articles need no account),
and what each reader sees is decided in core's query. Staff: ``kb new`` and
``kb edit CODE`` open the article modal (``bot.listeners.knowledge`` handles its
submission), ``kb withdraw CODE``; ``kb from INQ`` opens the same modal holding a
draft from an answered inquiry (personal data taken out by core), published on save.
"""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.commands import Blocks, Sub
from bot.views.knowledge import article, edit_modal, results
from bot.who import Who
from core.knowledge import drafting, editing, search
from core.knowledge.search import ArticleView
from core.snapshots import Snapshot
from core.unit_of_work import UnitOfWork


async def h_kb(snap: Snapshot, who: Who, args: list[str], context: Any) -> Blocks:
    if not args:
        return results(await search.newest(snap, who.actor), who.locale, None)
    words = " ".join(args)
    return results(await search.search(snap, who.actor, words), who.locale, words)


async def h_kb_show(snap: Snapshot, who: Who, args: list[str], context: Any) -> Blocks:
    return article(await search.show(snap, who.actor, args[0]), who.locale)


def _open_modal(context: Any, view: dict[str, Any]) -> None:
    """``views.open`` after the ack, with the command's trigger (kept by
    ``bot.listeners.knowledge``'s middleware: a subcommand handler gets no body)."""
    client = context["client"]
    trigger = context.get("kb_trigger_id")

    async def show() -> None:
        await client.views_open(trigger_id=trigger, view=view)

    context["after_ack"](show)


async def h_new(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    _open_modal(context, edit_modal(who.locale))
    return []


async def h_edit(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    current = await editing.load(uow, who.actor, args[0])
    _open_modal(context, edit_modal(who.locale, current))
    return []


async def h_from(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    draft = await drafting.draft_from_inquiry(uow, who.actor, args[0], who.locale)
    _open_modal(context, edit_modal(who.locale, draft=draft))
    return [bk.section(bk.say("kb.draft.opening", who.locale, number=draft.number))]


async def h_withdraw(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    changed = await editing.withdraw(uow, who.actor, args[0])
    current = await editing.load(uow, who.actor, args[0])
    done = "kb.withdrawn" if changed else "kb.already_withdrawn"
    view = ArticleView(
        current.code,
        current.title,
        current.body,
        current.product_family,
        current.visibility,
        current.updated_on,
        current.tags,
    )
    return [
        bk.section(bk.say(done, who.locale, code=current.code)),
        *article(view, who.locale, withdrawn=True),
    ][: bk.BLOCK_LIMIT]


CUSTOMER = [
    Sub(("kb",), "[WORDS…]", 0, None, h_kb, uses=(search.search, search.newest)),
    Sub(("kb", "show"), "CODE", 1, 1, h_kb_show, uses=(search.show,)),
]
STAFF = [
    Sub(("kb", "new"), "", 0, 0, h_new),
    Sub(("kb", "edit"), "CODE", 1, 1, h_edit, uses=(editing.load,)),
    Sub(("kb", "from"), "INQ", 1, 1, h_from, uses=(drafting.draft_from_inquiry,)),
    Sub(("kb", "withdraw"), "CODE", 1, 1, h_withdraw, uses=(editing.withdraw,)),
]
