"""The Slack door's hook into ``madoguchi serve`` (see ``madoguchi.components``)."""

from __future__ import annotations

from typing import Any

from bot.app import SlackDoor, slack_configured


def build(rt: Any) -> SlackDoor | None:
    """Add /slack/events (and the OAuth pages) to the one aiohttp app; None, said once in
    the log, when no Slack credentials are set."""
    if not slack_configured(rt.core):
        rt.log.warning(
            "Slack door is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_CLIENT_ID, "
            "SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET; SLACK_APP_TOKEN for Socket Mode)"
        )
        return None
    door = SlackDoor(rt.core)
    door.metrics = getattr(rt, "metrics", None)
    routes = door.routes()
    if rt.core.settings.slack_app_token:  # Socket Mode: no event URL, OAuth pages still served
        routes = [r for r in routes if r.method == "GET"]
    rt.app.add_routes(routes)
    rt.log.info(
        "Slack door is on (%s)", "Socket Mode" if rt.core.settings.slack_app_token else "HTTP /slack/events"
    )
    return door
