"""Outbox rows of channel "slack" rendered and posted to the staff channel."""

from __future__ import annotations

import pytest

from bot.staff_posts import RetryLater, build_deliver
from core.unit_of_work import Core
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


async def test_a_new_request_is_posted_with_its_buttons_and_returns_where(
    slack_core: Core, fake: FakeSlack
) -> None:
    deliver = build_deliver(slack_core)
    assert deliver is not None
    where = await deliver("request_new", "ja", NEW)
    call = fake.of("chat.postMessage")[0]
    assert call.body["channel"] == "CSTAFF"
    assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert where is not None and where["channel"] == "CSTAFF" and where["ts"]
    blocks = call.body["blocks"]
    assert action_ids(blocks) == ["staff_request_reply", "staff_request_close", "staff_request_resend"]
    assert all(e["value"] == "REQ-000123" for b in blocks for e in b.get("elements", []) if "value" in e)
    text = str(blocks)
    assert "REQ-000123" in text and "&lt;b&gt;" in text and "<b>" not in text


async def test_a_followup_is_a_reply_in_the_requests_thread(slack_core: Core, fake: FakeSlack) -> None:
    deliver = build_deliver(slack_core)
    assert deliver is not None
    await deliver("request_followup", "en", {**NEW, "channel": "CSTAFF", "thread_ts": "111.222"})
    call = fake.of("chat.postMessage")[0]
    assert call.body["thread_ts"] == "111.222"
    assert action_ids(call.body["blocks"]) == []


async def test_a_followup_before_its_parent_is_posted_is_retried_later(
    slack_core: Core, fake: FakeSlack
) -> None:
    deliver = build_deliver(slack_core)
    assert deliver is not None
    with pytest.raises(RetryLater):
        await deliver("request_followup", "ja", {**NEW, "channel": None, "thread_ts": None})
    assert fake.calls == []


async def test_a_staff_alert_renders_its_catalog_message(slack_core: Core, fake: FakeSlack) -> None:
    deliver = build_deliver(slack_core)
    assert deliver is not None
    await deliver("staff_alert", "ja", {"message_id": "throttle.wait", "params": {"minutes": 7}})
    assert "7分後" in fake.of("chat.postMessage")[0].body["text"]


async def test_a_rate_limited_post_waits_for_retry_after_and_succeeds(
    slack_core: Core, fake: FakeSlack
) -> None:
    fake.rate_limited["chat.postMessage"] = 1
    deliver = build_deliver(slack_core)
    assert deliver is not None
    assert await deliver("request_new", "ja", NEW)
    assert len(fake.of("chat.postMessage")) == 2


async def test_slack_errors_raise_so_the_worker_retries(slack_core: Core, fake: FakeSlack) -> None:
    from slack_sdk.errors import SlackApiError

    fake.answers["chat.postMessage"] = lambda call: {"ok": False, "error": "channel_not_found"}
    deliver = build_deliver(slack_core)
    assert deliver is not None
    with pytest.raises(SlackApiError):
        await deliver("request_new", "ja", NEW)


async def test_without_a_staff_channel_there_is_no_deliverer(slack_core: Core) -> None:
    core = Core(
        slack_core.sessions, slack_core.settings.model_copy(update={"staff_channel": None}), slack_core.clock
    )
    assert build_deliver(core) is None
