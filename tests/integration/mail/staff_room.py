"""The staff channel for mail tests: the outbox worker posting through the Slack door's
``StaffPoster`` into the fake Slack (tests/fakeslack.py), which records every post.

Import the ``fake`` fixture into a test module to use it (pytest finds imported fixtures).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from bot.staff_posts import StaffPoster
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from mail.transport import build_transport
from tests.fakeslack import Call, FakeSlack
from tests.integration.mail.conftest import Sink

# What Slack would act on in mrkdwn: <!channel>, <!here>, <@U…>, <#C…>, <http…|…>, <mailto:…>.
LIVE_MARKUP = re.compile(r"<[!@#]|<(?:https?|mailto):", re.I)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


def staff_core(core: Core, fake: FakeSlack) -> Core:
    """The same database and clock, with a bot token pointing at the fake Slack."""
    settings = core.settings.model_copy(update={"slack_bot_token": "xoxb-test", "slack_api_url": fake.url})
    return Core(core.sessions, settings, core.clock)


async def deliver_outbox(core: Core, fake: FakeSlack, sink: Sink | None = None) -> list[Call]:
    """Run the outbox worker as ``madoguchi serve`` does (mail to ``sink`` when given);
    returns every ``chat.postMessage`` the staff channel received so far."""
    posting = staff_core(core, fake)
    if sink is not None:
        posting.settings.relay_url = f"smtp://127.0.0.1:{sink.port}"
    await OutboxWorker(posting, build_transport(posting.settings), staff=StaffPoster(posting)).drain()
    return fake.of("chat.postMessage")


def posted(call: Call) -> str:
    """Everything one post carries (fallback text and blocks), as Slack receives it."""
    return json.dumps(call.body, ensure_ascii=False)
