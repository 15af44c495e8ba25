"""The staff check every staff button and modal passes, and the ephemeral refusal it
answers with. Separate because the request desk (``staff_actions``) and the inquiry desk
(``inquiry_desk``) admit staff the same way: one rule, ``core.staff.admit``, one answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.views.errors import error_text
from bot.who import Who, identify
from core import staff
from core.errors import Forbidden

if TYPE_CHECKING:
    from bot.app import SlackDoor


def tell_ephemeral(body: dict[str, Any], context: Any, answer: list[bk.Block]) -> None:
    """``answer`` to the one who pressed, after the ack, where Slack gave a response_url."""
    respond = context.get("respond")
    if respond is None or not body.get("response_url"):
        return

    async def tell() -> None:
        await respond(**bk.ephemeral(answer), replace_original=False)

    context["after_ack"](tell)


async def staff_or_refuse(door: SlackDoor, body: dict[str, Any], context: Any, attempted: str) -> Who | None:
    """Who acts, when staff may do ``attempted``; else None, the refusal told to them."""
    async with door.core.uow() as uow:
        who = await identify(door, uow, body, context, staff=True)
        context["who"] = who
        try:
            await staff.admit(uow, who.actor, attempted)
        except Forbidden as refused:
            answer = [bk.section(error_text(refused, who.locale))]
        else:
            return who
    tell_ephemeral(body, context, answer)
    return None
