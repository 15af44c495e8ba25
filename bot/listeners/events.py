"""Events API: de-duplication, then ``app_home_opened`` and direct messages.

Slack retries an event it thinks was not acked (``X-Slack-Retry-Num``), and Bolt does
not de-duplicate. The (team_id, event_id) pair is inserted before the listener runs and
so before the ack; a retry finds it and is acked without being processed again, on
whichever instance it lands.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot import blocks as bk
from core.messages import render
from core.models import ProcessedSlackEvent

if TYPE_CHECKING:
    from bot.app import SlackDoor

log = logging.getLogger("madoguchi.slack")


# Slack retries within minutes; a day of event ids is plenty. Pruned now and then, after an ack.
KEEP = timedelta(days=1)
PRUNE_ONE_IN = 200


async def prune(door: SlackDoor) -> None:
    async with door.core.uow() as uow:
        await uow.session.execute(
            delete(ProcessedSlackEvent).where(ProcessedSlackEvent.received_at < uow.clock.now() - KEEP)
        )
        await uow.commit()


def register(door: SlackDoor) -> None:
    app = door.app

    @app.middleware
    async def once_per_event(body: dict[str, Any], context: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        if body.get("type") != "event_callback" or not body.get("event_id"):
            return await next()
        team = str(body.get("team_id") or body.get("enterprise_id") or "")
        async with door.core.uow() as uow:
            uow.session.add(
                ProcessedSlackEvent(team_id=team, event_id=str(body["event_id"]), received_at=uow.clock.now())
            )
            try:
                await uow.commit()
            except IntegrityError:
                await uow.rollback()
                log.info("slack: event %s already processed; retry acked", body["event_id"])
                from slack_bolt.response import BoltResponse

                return BoltResponse(status=200, body="")
        if secrets.randbelow(PRUNE_ONE_IN) == 0:
            context["after_ack"](lambda: prune(door))
        return await next()

    @app.event("app_home_opened")
    async def home_opened(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        from bot.listeners.home import publish_home

        await publish_home(door, body, context)

    @app.event("message")
    async def direct_message(body: dict[str, Any], event: dict[str, Any], context: Any, client: Any) -> None:
        # Only people writing to the bot in its DM get an answer: the help text.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        from bot.who import identify

        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context)
        text = render("slack.help.support", who.locale)
        channel = event.get("channel")

        async def answer() -> None:
            await client.chat_postMessage(channel=channel, text=text, blocks=[bk.section(text)])

        context["after_ack"](answer)
