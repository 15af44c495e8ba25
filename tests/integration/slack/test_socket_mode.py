"""Socket Mode (SLACK_APP_TOKEN): the same listeners over a WebSocket, no request URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import SlackDoor
from core.unit_of_work import Core
from madoguchi.metrics import Metrics
from tests.fakeslack import FakeSlack


@pytest.fixture
async def socket_door(slack_core: Core, fake: FakeSlack) -> AsyncIterator[SlackDoor]:
    settings = slack_core.settings.model_copy(update={"slack_app_token": "xapp-test-app-token"})
    door = SlackDoor(Core(slack_core.sessions, settings, slack_core.clock))
    await door.start()
    try:
        yield door
    finally:
        await door.stop()


async def test_a_slash_command_over_socket_mode_is_acked_with_its_answer(
    socket_door: SlackDoor, fake: FakeSlack
) -> None:
    assert fake.of("apps.connections.open")[0].headers["Authorization"] == "Bearer xapp-test-app-token"
    await fake.push(
        {
            "envelope_id": "env-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "command": "/support",
                "text": "help",
                "team_id": "T1",
                "user_id": "U1",
                "trigger_id": "t1",
                "response_url": f"{fake.url}response_url",
            },
        }
    )
    ack = await asyncio.wait_for(fake.socket_received.get(), timeout=10)
    assert ack["envelope_id"] == "env-1"
    assert "/support id list" in str(ack["payload"])


async def test_an_event_over_socket_mode_runs_its_web_api_work_after_the_ack(
    socket_door: SlackDoor, fake: FakeSlack
) -> None:
    await fake.push(
        {
            "envelope_id": "env-2",
            "type": "events_api",
            "accepts_response_payload": False,
            "payload": {
                "type": "event_callback",
                "team_id": "T1",
                "event_id": "EvSock1",
                "event": {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"},
            },
        }
    )
    ack = await asyncio.wait_for(fake.socket_received.get(), timeout=10)
    assert ack["envelope_id"] == "env-2"
    await socket_door.drain()
    assert fake.of("views.publish")[0].body["user_id"] == "U1"


async def test_a_socket_mode_ack_is_timed_by_its_kind(socket_door: SlackDoor, fake: FakeSlack) -> None:
    metrics = Metrics()
    socket_door.metrics = metrics
    payload = {"command": "/support", "text": "help", "team_id": "T1", "user_id": "U1", "trigger_id": "t9"}
    await fake.push(
        {
            "envelope_id": "env-9",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": payload,
        }
    )
    await asyncio.wait_for(fake.socket_received.get(), timeout=10)
    for _ in range(100):  # the observation follows the send; give the handler its turn
        if 'madoguchi_slack_ack_seconds_count{kind="command"} 1.0' in metrics.render().decode():
            break
        await asyncio.sleep(0.01)
    assert 'madoguchi_slack_ack_seconds_count{kind="command"} 1.0' in metrics.render().decode()
