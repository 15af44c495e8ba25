"""``/support-admin account create | export EMAIL | erase EMAIL`` (SPEC §4.11): staff
register a customer the wizard could not, and answer a person's APPI requests.

``export`` and ``erase`` read every table (``core.privacy``), which may take longer than
Slack waits for an ack: the command is acked at once ("looking…") and the work runs
after the ack in a unit of work of its own, answering through ``response_url``. The file
goes to the staff member's direct messages (``files_upload_v2``). ``erase`` only shows
what would be erased, with a confirm button; the button (``bot.listeners.privacy``)
erases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot import blocks as bk
from bot.commands import Blocks, Sub
from bot.views.errors import error_text
from bot.views.privacy import create_modal, erase_preview
from bot.who import Who
from core import privacy
from core.errors import DomainError
from core.unit_of_work import UnitOfWork


async def h_create(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    client, trigger = context.get("client"), context.get("trigger_id")
    view = create_modal(who.locale)

    async def show() -> None:
        await client.views_open(trigger_id=trigger, view=view)

    context["after_ack"](show)
    return [bk.section(bk.say("privacy.create.opened", who.locale))]


def _after_ack(context: Any, who: Who, work: Callable[[UnitOfWork], Awaitable[Blocks]]) -> None:
    """Run ``work`` once acked, in its own unit of work, and post what it answers (or the
    error's catalog text) through the command's ``response_url``."""
    core, respond = context["core"], context["respond"]

    async def run() -> None:
        try:
            async with core.uow() as uow:
                answer = await work(uow)
        except DomainError as error:
            answer = [bk.section(error_text(error, who.locale))]
        await respond(**bk.ephemeral(answer), replace_original=False)

    context["after_ack"](run)


async def h_export(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    email = args[0].strip().lower()
    client = context.get("client")

    async def work(later: UnitOfWork) -> Blocks:
        exported = await privacy.export(later, who.actor, email)
        comment = bk.plain([bk.section(bk.say("privacy.export.comment", who.locale, email=email))])
        opened = await client.conversations_open(users=who.user_id)
        await client.files_upload_v2(
            channel=opened["channel"]["id"],
            content=exported.content,
            filename=exported.filename,
            title=exported.filename,
            initial_comment=comment,
        )
        rows = sum(exported.counts.values())
        return [bk.section(bk.say("privacy.export.sent", who.locale, email=bk.esc(email), rows=rows))]

    _after_ack(context, who, work)
    return [bk.section(bk.say("privacy.looking", who.locale, email=bk.esc(email)))]


async def h_erase(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    email = args[0].strip().lower()

    async def work(later: UnitOfWork) -> Blocks:
        return erase_preview(await privacy.preview_erasure(later, who.actor, email), who.locale)

    _after_ack(context, who, work)
    return [bk.section(bk.say("privacy.looking", who.locale, email=bk.esc(email)))]


CUSTOMER: list[Sub] = []
STAFF = [
    Sub(("account", "create"), "", 0, 0, h_create),
    Sub(("account", "export"), "EMAIL", 1, 1, h_export),
    Sub(("account", "erase"), "EMAIL", 1, 1, h_erase),
]
