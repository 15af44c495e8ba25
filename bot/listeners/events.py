"""Events API: de-duplication, then ``app_home_opened``, direct messages (a customer's
message is offered as an inquiry) and (one workspace) the token's revocation.

Slack retries an event it thinks was not acked (``X-Slack-Retry-Num``), and Bolt does
not de-duplicate. The (team_id, event_id) pair is claimed (``core.workspaces``) before
the listener runs and so before the ack; a retry finds it and is acked without being
processed again, on whichever instance it lands.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.response import BoltResponse

from bot import blocks as bk
from bot.views.home import publish_home
from bot.views.inquiries import offer_from_message
from bot.who import identify
from core import workspaces

if TYPE_CHECKING:
    from bot.app import SlackDoor

log = logging.getLogger("madoguchi.slack")


# Old event ids are pruned now and then, after an ack.
PRUNE_ONE_IN = 200


async def prune(door: SlackDoor) -> None:
    async with door.core.uow() as uow:
        await workspaces.prune_events(uow)


def register(door: SlackDoor) -> None:
    app = door.app

    @app.middleware
    async def once_per_event(body: dict[str, Any], context: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        if body.get("type") != "event_callback" or not body.get("event_id"):
            return await next()
        team = str(body.get("team_id") or body.get("enterprise_id") or "")
        async with door.core.uow() as uow:
            first = await workspaces.claim_event(uow, team, str(body["event_id"]))
        if not first:
            log.info("slack: event %s already processed; retry acked", body["event_id"])
            return BoltResponse(status=200, body="")
        if secrets.randbelow(PRUNE_ONE_IN) == 0:
            context["after_ack"](lambda: prune(door))
        return await next()

    if not door.oauth:
        # One workspace, one token from the environment: nothing stored to forget (OAuth
        # mode's revocation listeners do that), but the operator must learn that the token
        # is dead, and Slack an ack (unanswered events count against the app).
        async def token_gone(body: dict[str, Any]) -> None:
            log.warning(
                "slack: %s for team %s: SLACK_BOT_TOKEN no longer works; reinstall the app and set it again",
                (body.get("event") or {}).get("type"),
                body.get("team_id"),
            )

        app.event("app_uninstalled")(token_gone)
        app.event("tokens_revoked")(token_gone)

    @app.event("app_home_opened")
    async def home_opened(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        await publish_home(door, body, context)

    @app.event("message")
    async def direct_message(body: dict[str, Any], event: dict[str, Any], context: Any, client: Any) -> None:
        # Only people writing to the bot in its DM get an answer: to a customer, an offer
        # to send the message as an inquiry (the ask modal, prefilled); to anyone else,
        # the help text.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context)
        if who.account_id is not None:
            blocks = offer_from_message(who.locale, str(event.get("text") or ""))
        else:
            blocks = [bk.section(bk.say("slack.help.support", who.locale))]
        text = bk.plain(blocks)
        channel = event.get("channel")

        async def answer() -> None:
            await client.chat_postMessage(channel=channel, text=text, blocks=blocks)

        context["after_ack"](answer)
