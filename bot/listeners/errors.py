"""The one error handler: a ``DomainError`` becomes its catalog message in the user's
language; anything else is logged (type and traceback, never payloads) and answered with
a generic apology. Answers carry the terms notice like every other answer."""

from __future__ import annotations

import json
import logging
import traceback
from typing import TYPE_CHECKING, Any

from slack_bolt.response import BoltResponse

from bot import blocks as bk
from bot.views.errors import error_blocks
from bot.views.terms import terms_blocks
from core.errors import DomainError

if TYPE_CHECKING:
    from bot.app import SlackDoor

log = logging.getLogger("madoguchi.slack")


def json_response(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps(payload, ensure_ascii=False),
        headers={"content-type": "application/json;charset=utf-8"},
    )


def register(door: SlackDoor) -> None:
    settings = door.settings

    @door.app.error
    async def on_error(
        error: Exception, body: dict[str, Any], context: Any, response: BoltResponse | None
    ) -> BoltResponse | None:
        locale = context.get("locale") or settings.locale
        if isinstance(error, DomainError):
            answer = error_blocks(error, locale)
            if error.message_id == "throttle.wait":
                door.metrics.throttle_hit("slack", "slack")
        else:
            where = "".join(traceback.format_tb(error.__traceback__, limit=-3))
            log.error("slack: listener failed with %s\n%s", type(error).__name__, where)
            door.metrics.error("slack.listener")
            answer = [bk.section(bk.say("slack.error.internal", locale))]
        who = context.get("who")
        if who is not None and who.account_id is not None:
            async with door.core.uow() as uow:
                answer += await terms_blocks(uow, who)
        kind = body.get("type")
        if kind == "view_submission":
            modal = {
                "type": "modal",
                "title": {"type": "plain_text", "text": "madoguchi"},
                "close": {"type": "plain_text", "text": "OK"},
                "blocks": answer,
            }
            payload = {"response_action": "update", "view": modal}
            return json_response(payload) if response is not None else None
        if body.get("command") and response is not None:
            return json_response({"response_type": "ephemeral", "text": bk.plain(answer), "blocks": answer})
        respond = context.get("respond")
        if body.get("response_url") and respond is not None:

            async def tell() -> None:
                await respond(
                    text=bk.plain(answer), blocks=answer, response_type="ephemeral", replace_original=False
                )

            context["after_ack"](tell)
        elif kind == "block_actions" and context.get("client") is not None:
            client = context["client"]
            user = (body.get("user") or {}).get("id")
            if user:

                async def dm() -> None:
                    opened = await client.conversations_open(users=user)
                    await client.chat_postMessage(
                        channel=opened["channel"]["id"], text=bk.plain(answer), blocks=answer
                    )

                context["after_ack"](dm)
        return BoltResponse(status=200, body="") if response is not None else None
