"""The Slack door's component in ``madoguchi serve``: ``build(core, app=..., metrics=...)``.

The staff channel the outbox worker posts to is ``bot.staff_posts.build_staff_channel``;
the composition root builds both. ``token_answers`` is ``madoguchi check``'s question
to Slack: do the configured tokens work, asked of SLACK_API_URL as the door would.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import SlackDoor, slack_configured
from core.config import Settings
from core.ports import Metrics
from core.unit_of_work import Core

log = logging.getLogger("madoguchi")


def build(core: Core, *, app: web.Application, metrics: Metrics) -> SlackDoor | None:
    """Add /slack/events (and the OAuth pages) to the one aiohttp app; None, said once in
    the log, when no Slack credentials are set."""
    if not slack_configured(core):
        log.warning(
            "Slack door is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_CLIENT_ID, "
            "SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET; SLACK_APP_TOKEN for Socket Mode)"
        )
        return None
    door = SlackDoor(core)
    door.metrics = metrics
    routes = door.routes()
    socket_mode = bool(core.settings.slack_app_token)
    if socket_mode:  # Socket Mode: no event URL, OAuth pages still served
        routes = [r for r in routes if r.method == "GET"]
    app.add_routes(routes)
    log.info("Slack door is on (%s)", "Socket Mode" if socket_mode else "HTTP /slack/events")
    return door


async def token_answers(settings: Settings, *, timeout: int = 10) -> dict[str, Any]:
    """``auth.test`` with the bot token and, in Socket Mode, ``apps.connections.open``
    with the app token (it only hands out a WebSocket URL): Slack's answer to the first.
    Raises ``SlackApiError`` when Slack refuses a token, an ``aiohttp`` or ``OSError``
    when it cannot be reached."""
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=timeout)
    answer = await client.auth_test(token=settings.slack_bot_token)
    if settings.slack_app_token:
        await client.apps_connections_open(app_token=settings.slack_app_token)
    return dict(answer.data) if isinstance(answer.data, dict) else {}
