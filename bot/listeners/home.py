"""The App Home's buttons (register) and the terms agreement buttons (declaration first,
then the recorded agreement); the views are ``bot.views.home`` and ``bot.views.terms``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.views.home import REGISTER_ACTION, home_view
from bot.views.registration import open_registration
from bot.views.terms import TERMS_AGREE_ACTION, TERMS_CONFIRM_ACTION, declaration_blocks, terms_blocks
from bot.who import Who, identify
from core import terms

if TYPE_CHECKING:
    from bot.app import SlackDoor


def register(door: SlackDoor) -> None:
    app = door.app

    @app.action(REGISTER_ACTION)
    async def register_button(ack: Any, body: dict[str, Any], context: Any) -> None:
        await open_registration(door, ack, body, context)

    @app.action(TERMS_AGREE_ACTION)
    async def agree_start(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context)
            context["who"] = who
            # The same checks as /support agree, before anything is declared.
            declaration = await terms.declaration_for(uow, who.actor, str(action.get("value", "")))
        await ack()
        answer = declaration_blocks(declaration, who.locale)
        await _tell(door, body, context, who, answer)

    @app.action(TERMS_CONFIRM_ACTION)
    async def agree(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        name = str(action.get("value", ""))
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context)
            context["who"] = who
            agreement = await terms.agree(uow, who.actor, name, entitled=True)
            done = "terms.already_agreed" if agreement.already else "terms.agreed"
            answer = [
                bk.section(
                    bk.say(
                        done,
                        who.locale,
                        support_id=agreement.support_id,
                        terms_version=agreement.terms_version,
                    )
                )
            ]
            answer += await terms_blocks(uow, who)
            view = await home_view(uow, who) if body.get("view", {}).get("type") == "home" else None
        await ack()
        await _tell(door, body, context, who, answer, home=view)


async def _tell(
    door: SlackDoor,
    body: dict[str, Any],
    context: Any,
    who: Who,
    answer: list[bk.Block],
    *,
    home: dict[str, Any] | None = None,
) -> None:
    """Answer a button: ephemerally where it was pressed, or re-publish the App Home."""
    client = context["client"]
    respond = context.get("respond")
    in_home = body.get("view", {}).get("type") == "home"

    async def send() -> None:
        if in_home:
            if home is None:
                async with door.core.uow() as uow:
                    view = await home_view(uow, who)
            else:
                view = home
            # The declaration / result shows at the top of the home tab.
            view = {**view, "blocks": bk.clip(answer + [bk.divider()] + view["blocks"])}
            await client.views_publish(user_id=who.user_id, view=view)
        elif body.get("response_url") and respond is not None:
            await respond(**bk.ephemeral(answer), replace_original=False)

    context["after_ack"](send)
