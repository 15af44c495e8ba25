"""The Slack door inside ``madoguchi serve``: on with credentials, off (said once) without."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import aiohttp
import pytest

from core.config import Settings
from madoguchi.serve import Server, slack_door
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import BOT_TOKEN, SIGNING_SECRET, sign


async def test_serve_without_slack_credentials_says_once_that_the_door_is_off(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = Server(settings.model_copy(update={"http_port": 0}), components=[slack_door], migrate=False)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{server.http_port}/slack/events", data=b"x") as resp,
        ):
            assert resp.status in (404, 405)
    finally:
        await server.stop()
    assert sum("Slack door is off" in r.getMessage() for r in caplog.records) == 1


async def test_serve_with_credentials_answers_slash_commands(settings: Settings, fake: FakeSlack) -> None:
    configured = settings.model_copy(
        update={
            "http_port": 0,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.url,
        }
    )
    server = Server(configured, components=[slack_door], migrate=False)
    await server.start()
    try:
        body = urlencode({"command": "/support", "text": "help", "team_id": "T1", "user_id": "U1"})
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{server.http_port}/slack/events", data=body, headers=headers
            ) as resp,
        ):
            assert resp.status == 200
            assert "/support id list" in await resp.text()
    finally:
        await server.stop()
    assert "auth.test" in fake.methods()
