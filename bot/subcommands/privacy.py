"""``/support-admin account create | export EMAIL | erase EMAIL`` (SPEC §4.11): staff
register a customer the wizard could not, and answer a person's APPI requests.

``export`` sends the file to the staff member's direct messages once the command is
acked (``files_upload_v2``: a Web API call); ``erase`` only shows what would be erased
with a confirm button — the button (``bot.listeners.privacy``) erases.
"""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.commands import Blocks, Sub
from bot.views.privacy import create_modal, erase_preview
from bot.who import Who
from core import privacy
from core.unit_of_work import UnitOfWork


async def h_create(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    client, trigger = context.get("client"), context.get("trigger_id")
    view = create_modal(who.locale)

    async def show() -> None:
        await client.views_open(trigger_id=trigger, view=view)

    context["after_ack"](show)
    return [bk.section(bk.say("privacy.create.opened", who.locale))]


async def h_export(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    exported = await privacy.export(uow, who.actor, args[0])
    client = context.get("client")
    email = args[0].strip().lower()
    comment = bk.plain([bk.section(bk.say("privacy.export.comment", who.locale, email=email))])

    async def upload() -> None:
        opened = await client.conversations_open(users=who.user_id)
        await client.files_upload_v2(
            channel=opened["channel"]["id"],
            content=exported.content,
            filename=exported.filename,
            title=exported.filename,
            initial_comment=comment,
        )

    context["after_ack"](upload)
    rows = sum(exported.counts.values())
    return [bk.section(bk.say("privacy.export.sent", who.locale, email=bk.esc(email), rows=rows))]


async def h_erase(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    plan = await privacy.preview_erasure(uow, who.actor, args[0])
    return erase_preview(plan, who.locale)


CUSTOMER: list[Sub] = []
STAFF = [
    Sub(("account", "create"), "", 0, 0, h_create),
    Sub(("account", "export"), "EMAIL", 1, 1, h_export),
    Sub(("account", "erase"), "EMAIL", 1, 1, h_erase),
]
