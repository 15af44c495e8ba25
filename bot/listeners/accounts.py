"""The account lifecycle's buttons and modal (SPEC §4.11) over ``core.activation`` and
``core.profile``: the pending answer's resend button, ``/support profile``'s edit
(callback_id ``profile``) and product-information buttons. Views are
``bot.views.accounts``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.views.accounts import (
    EDIT_ACTION,
    OPT_IN_ACTION,
    OPT_OUT_ACTION,
    PROFILE_CALLBACK,
    RESEND_ACTION,
    done_modal,
    profile_blocks,
    profile_modal,
    updated_blocks,
)
from bot.views.registration import submitted_values
from bot.who import Who, identify
from core import activation, profile
from core.errors import ValidationFailed

if TYPE_CHECKING:
    from bot.app import SlackDoor


def register(door: SlackDoor) -> None:
    app = door.app

    async def who_of(body: dict[str, Any], context: Any, uow: Any) -> Who:
        who = await identify(door, uow, body, context)
        context["who"] = who
        return who

    def tell(body: dict[str, Any], context: Any, answer: list[bk.Block]) -> None:
        """Answer a button where it was pressed (ephemerally), after the ack."""
        respond = context.get("respond")
        if body.get("response_url") and respond is not None:

            async def send() -> None:
                await respond(**bk.ephemeral(answer), replace_original=False)

            context["after_ack"](send)

    @app.action(RESEND_ACTION)
    async def resend(ack: Any, body: dict[str, Any], context: Any) -> None:
        async with door.core.uow() as uow:
            who = await who_of(body, context, uow)
            email = await activation.resend_own_link(uow, who.actor)
        await ack()
        text = bk.say("accounts.link_resent", who.locale, email=email, contact=door.settings.contact_address)
        tell(body, context, [bk.section(text)])

    async def marketing(ack: Any, body: dict[str, Any], context: Any, opt_in: bool) -> None:
        async with door.core.uow() as uow:
            who = await who_of(body, context, uow)
            await profile.set_marketing(uow, who.actor, opt_in)
            shown = await profile.show(uow, who.actor)
        await ack()
        done = "profile.opted_in" if opt_in else "profile.opted_out"
        tell(body, context, [bk.section(bk.say(done, who.locale)), *profile_blocks(shown, who.locale)])

    @app.action(OPT_IN_ACTION)
    async def opt_in(ack: Any, body: dict[str, Any], context: Any) -> None:
        await marketing(ack, body, context, True)

    @app.action(OPT_OUT_ACTION)
    async def opt_out(ack: Any, body: dict[str, Any], context: Any) -> None:
        await marketing(ack, body, context, False)

    @app.action(EDIT_ACTION)
    async def edit(ack: Any, body: dict[str, Any], context: Any) -> None:
        async with door.core.uow() as uow:
            who = await who_of(body, context, uow)
            shown = await profile.show(uow, who.actor)
        await ack()
        client, trigger = context["client"], body.get("trigger_id")
        view = profile_modal(shown, who.locale)

        async def show() -> None:
            await client.views_open(trigger_id=trigger, view=view)

        context["after_ack"](show)

    @app.view(PROFILE_CALLBACK)
    async def submission(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        values = submitted_values(view)
        async with door.core.uow() as uow:
            who = await who_of(body, context, uow)
            try:
                result = await profile.update_details(uow, who.actor, values)
            except ValidationFailed as error:
                errors = {
                    field: bk.say(mid, who.locale, **error.params)
                    for field, mid in error.fields.items()
                    if field in values
                }
                if errors:
                    await ack(response_action="errors", errors=errors)
                    return
                raise
        await ack(response_action="update", view=done_modal(updated_blocks(result, who.locale), who.locale))
