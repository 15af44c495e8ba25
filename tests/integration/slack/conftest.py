"""Fixtures for the Slack door: a fake Slack Web API, the door on a real aiohttp server
bound to a free loopback port, and a client that signs requests exactly like Slack."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.app import SlackDoor
from core.unit_of_work import Core
from tests.fakeslack import FakeSlack, serve_routes

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-bot-token-9876"
TEAM = "T1"


@pytest.fixture
def slack_core(domain: Core, fake: FakeSlack) -> Core:
    settings = domain.settings.model_copy(
        update={
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.url,
        }
    )
    return Core(domain.sessions, settings, domain.clock)


def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Slack:
    """Sends what Slack sends: form bodies for commands, ``payload=`` for interactions,
    JSON envelopes for events; always signed unless told otherwise."""

    url: str
    door: SlackDoor
    fake: FakeSlack
    session: aiohttp.ClientSession
    trigger: int = 0
    events: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    # time.monotonic() when the last answer had been read completely
    answered_at: float = 0.0

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        h = {"Content-Type": content_type, **(headers if headers is not None else sign(body))}
        async with self.session.post(self.url, data=body.encode(), headers=h) as resp:
            await resp.read()
            return resp

    async def raw(self, body: str, content_type: str, headers: dict[str, str]) -> tuple[int, str]:
        h = {"Content-Type": content_type, **headers}
        async with self.session.post(self.url, data=body.encode(), headers=h) as resp:
            return resp.status, await resp.text()

    async def command(
        self, command: str, text: str = "", *, user: str = "U1", team: str = TEAM
    ) -> dict[str, Any]:
        self.trigger += 1
        body = urlencode(
            {
                "token": "legacy",
                "team_id": team,
                "team_domain": "example",
                "channel_id": "C1",
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A1",
                "response_url": f"{self.fake.url}response_url",
                "trigger_id": f"trigger-{self.trigger}",
            }
        )
        return await self._send(body, "application/x-www-form-urlencoded")

    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        return await self._send(body, "application/x-www-form-urlencoded")

    async def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        team: str = TEAM,
        retry: int | None = None,
    ) -> dict[str, Any]:
        self.events += 1
        envelope = {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{self.events:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
        }
        body = json.dumps(envelope)
        extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self._send(body, "application/json", extra)

    async def _send(
        self, body: str, content_type: str, extra: dict[str, str] | None = None
    ) -> dict[str, Any]:
        h = {"Content-Type": content_type, **sign(body), **(extra or {})}
        async with self.session.post(self.url, data=body.encode(), headers=h) as resp:
            text = await resp.text()
            self.answered_at = time.monotonic()
            assert resp.status == 200, (resp.status, text)
        await self.door.drain()
        self.last = json.loads(text) if text.startswith("{") else {}
        return self.last

    # -- interaction payload builders ---------------------------------------------------

    def block_action(
        self,
        action_id: str,
        value: str = "",
        *,
        user: str = "U1",
        view: dict[str, Any] | None = None,
        channel: str | None = None,
        message_ts: str | None = None,
    ) -> dict[str, Any]:
        self.trigger += 1
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A1",
            "team": {"id": TEAM, "domain": "example"},
            "trigger_id": f"trigger-{self.trigger}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "type": "button",
                    "action_ts": "1.2",
                }
            ],
        }
        if view is not None:
            payload["view"] = view
            payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
        if channel:
            payload["channel"] = {"id": channel}
            payload["message"] = {"ts": message_ts or "1.000001", "text": ""}
            payload["container"] = {"type": "message", "channel_id": channel, "message_ts": message_ts}
            payload["response_url"] = f"{self.fake.url}response_url"
        return payload

    def view_submission(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U1"
    ) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for block_id, value in values.items():
            if isinstance(value, bool):
                options = [{"value": "yes", "text": {"type": "mrkdwn", "text": "x"}}] if value else []
                state[block_id] = {"value": {"type": "checkboxes", "selected_options": options}}
            else:
                state[block_id] = {"value": {"type": "plain_text_input", "value": value}}
        return {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A1",
            "trigger_id": "trigger-view",
            "view": {**view, "id": view.get("id", "V1"), "hash": "h1", "state": {"values": state}},
        }


@pytest.fixture
async def slack(slack_core: Core, fake: FakeSlack) -> AsyncIterator[Slack]:
    door = SlackDoor(slack_core)
    await door.start()
    runner, base = await serve_routes(door.routes())
    async with aiohttp.ClientSession() as session:
        yield Slack(f"{base}/slack/events", door, fake, session)
    await door.stop()
    await runner.cleanup()
