"""The staff channel in Slack: posts, thread replies and updates rendered into Block Kit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.staff_posts import RetryLater, StaffPoster, build_staff_channel
from core.models import OutboxMessage
from core.outbox import enqueue_slack
from core.outbox_worker import OutboxWorker
from core.ports import PostRef
from core.unit_of_work import Core
from mail.transport import build_transport
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import BOT_TOKEN

NEW = {
    "number": 123,
    "request": "REQ-000123",
    "category": "forgot_password",
    "sender": "user@customer-a.example.jp",
    "subject": "パスワードを忘れました",
    "excerpt": "ログインできません。<b>助けて</b>",
    "actions": ["reply", "close", "resend_activation"],
}


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks for e in b.get("elements", []) if "action_id" in e]


def _channel(core: Core) -> StaffPoster:
    channel = build_staff_channel(core)
    assert channel is not None
    return channel


async def test_a_new_request_is_posted_with_its_buttons_and_returns_where(
    slack_core: Core, fake: FakeSlack
) -> None:
    where = await _channel(slack_core).post("request_new", "ja", NEW)
    call = fake.of("chat.postMessage")[0]
    assert call.body["channel"] == "CSTAFF"
    assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert where.channel == "CSTAFF" and where.ts
    blocks = call.body["blocks"]
    assert action_ids(blocks) == ["staff_request_reply", "staff_request_close", "staff_request_resend"]
    assert all(e["value"] == "REQ-000123" for b in blocks for e in b.get("elements", []) if "value" in e)
    text = str(blocks)
    assert "REQ-000123" in text and "&lt;b&gt;" in text and "<b>" not in text


async def test_a_followup_is_a_reply_in_the_requests_thread(slack_core: Core, fake: FakeSlack) -> None:
    parent = PostRef("CSTAFF", "111.222")
    await _channel(slack_core).reply(parent, "request_followup", "en", NEW)
    call = fake.of("chat.postMessage")[0]
    assert call.body["channel"] == "CSTAFF" and call.body["thread_ts"] == "111.222"
    assert action_ids(call.body["blocks"]) == []


async def test_a_post_is_updated_in_place(slack_core: Core, fake: FakeSlack) -> None:
    where = await _channel(slack_core).update(PostRef("CSTAFF", "111.222"), "request_new", "ja", NEW)
    call = fake.of("chat.update")[0]
    assert call.body["channel"] == "CSTAFF" and call.body["ts"] == "111.222"
    assert "REQ-000123" in str(call.body["blocks"])
    assert where.channel == "CSTAFF"


async def test_a_followup_before_its_parent_is_posted_is_retried_later(
    slack_core: Core, fake: FakeSlack
) -> None:
    async with slack_core.uow() as uow:
        enqueue_slack(uow, "request_followup", {**NEW, "channel": None, "thread_ts": None})
        await uow.commit()
    channel = _channel(slack_core)
    await OutboxWorker(slack_core, build_transport(slack_core.settings), staff=channel).drain()
    assert fake.calls == []
    async with slack_core.uow() as uow:
        row = await uow.session.scalar(select(OutboxMessage))
    assert row is not None and row.status == "pending" and "parent post" in row.last_error


async def test_a_staff_alert_renders_its_catalog_message(slack_core: Core, fake: FakeSlack) -> None:
    await _channel(slack_core).post(
        "staff_alert", "ja", {"message_id": "throttle.wait", "params": {"minutes": 7}}
    )
    assert "7分後" in fake.of("chat.postMessage")[0].body["text"]


async def test_a_rate_limited_post_waits_for_retry_after_and_succeeds(
    slack_core: Core, fake: FakeSlack
) -> None:
    fake.rate_limited["chat.postMessage"] = 1
    assert await _channel(slack_core).post("request_new", "ja", NEW)
    assert len(fake.of("chat.postMessage")) == 2


async def test_slack_errors_raise_so_the_worker_retries(slack_core: Core, fake: FakeSlack) -> None:
    from slack_sdk.errors import SlackApiError

    fake.answers["chat.postMessage"] = lambda call: {"ok": False, "error": "channel_not_found"}
    with pytest.raises(SlackApiError):
        await _channel(slack_core).post("request_new", "ja", NEW)


async def test_before_the_app_is_installed_posts_wait(slack_core: Core, fake: FakeSlack) -> None:
    oauth = slack_core.settings.model_copy(
        update={"slack_bot_token": None, "slack_client_id": "1.2", "slack_client_secret": "s"}
    )
    with pytest.raises(RetryLater):
        await _channel(Core(slack_core.sessions, oauth, slack_core.clock)).post("request_new", "ja", NEW)
    assert fake.calls == []


async def test_without_a_staff_channel_there_is_no_poster(slack_core: Core) -> None:
    core = Core(
        slack_core.sessions, slack_core.settings.model_copy(update={"staff_channel": None}), slack_core.clock
    )
    assert build_staff_channel(core) is None
