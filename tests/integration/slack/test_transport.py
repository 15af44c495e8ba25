"""The Slack endpoint itself: signatures, acks, de-duplication, help, logging hygiene."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import func, select

from core.models import ProcessedSlackEvent, SlackUser
from tests.integration.slack.conftest import BOT_TOKEN, SIGNING_SECRET, Slack, sign

FORM = "application/x-www-form-urlencoded"
BODY = "command=%2Fsupport&text=help&team_id=T1&user_id=U1&trigger_id=t1"


async def test_a_signed_help_command_is_answered_ephemerally_in_japanese(slack: Slack) -> None:
    answer = await slack.command("/support", "help")
    assert answer["response_type"] == "ephemeral"
    text = answer["blocks"][0]["text"]["text"]
    assert "/support id list" in text and "登録" in text


async def test_an_empty_command_shows_help(slack: Slack) -> None:
    answer = await slack.command("/support", "")
    assert "/support register" in answer["blocks"][0]["text"]["text"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "１２３４５６７８９０", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=ｆｆ"},
        {"X-Slack-Request-Timestamp": str(int(time.time()))},
        {"X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
    ],
    ids=["missing", "non-numeric-ts", "fullwidth-ts", "non-ascii-sig", "no-sig", "no-ts", "wrong-sig"],
)
async def test_a_missing_or_malformed_signature_is_401_never_500(
    slack: Slack, headers: dict[str, str]
) -> None:
    status, _ = await slack.raw(BODY, FORM, headers)
    assert status == 401


async def test_a_stale_timestamp_is_401(slack: Slack) -> None:
    status, _ = await slack.raw(BODY, FORM, sign(BODY, int(time.time()) - 6 * 60))
    assert status == 401


async def test_a_request_signed_with_another_secret_is_401(slack: Slack) -> None:
    status, _ = await slack.raw(BODY, FORM, sign(BODY, secret="someone-else"))
    assert status == 401


async def test_a_body_that_is_not_utf8_is_401(slack: Slack) -> None:
    async with slack.session.post(
        slack.url, data=b"\xff\xfe", headers={"Content-Type": FORM, **sign("x")}
    ) as resp:
        assert resp.status == 401


async def test_url_verification_echoes_the_challenge(slack: Slack) -> None:
    import json

    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
    status, text = await slack.raw(body, "application/json", sign(body))
    assert status == 200 and "abc123" in text


async def test_a_retried_event_is_processed_once(slack: Slack) -> None:
    event = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    await slack.event(event, event_id="EvSAME")
    await slack.event(event, event_id="EvSAME", retry=1)
    await slack.event(event, event_id="EvSAME", retry=2)
    assert len(slack.fake.of("views.publish")) == 1
    async with slack.door.core.uow() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(ProcessedSlackEvent))
    assert count == 1


async def test_the_same_event_id_in_another_team_is_another_event(slack: Slack) -> None:
    event = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    await slack.event(event, event_id="EvX", team="T1")
    await slack.event(event, event_id="EvX", team="T2")
    assert len(slack.fake.of("views.publish")) == 2


async def test_web_api_calls_go_to_the_configured_url_with_the_bot_token(slack: Slack) -> None:
    await slack.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    publish = slack.fake.of("views.publish")[0]
    assert publish.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert publish.body["user_id"] == "U1"


async def test_a_rate_limited_web_api_call_is_retried_after_retry_after(slack: Slack) -> None:
    slack.fake.rate_limited["views.publish"] = 1
    slack.fake.retry_after = 1
    await slack.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    assert len(slack.fake.of("views.publish")) == 2


async def test_the_users_language_is_learnt_after_the_ack_and_used_next_time(slack: Slack) -> None:
    slack.fake.user_locales["UEN"] = "en-US"
    first = await slack.command("/support", "help", user="UEN")
    assert "登録" in first["blocks"][0]["text"]["text"]  # default language before users.info
    assert [c.body.get("user") for c in slack.fake.of("users.info")] == ["UEN"]
    second = await slack.command("/support", "help", user="UEN")
    assert "register your support account" in second["blocks"][0]["text"]["text"]
    assert len(slack.fake.of("users.info")) == 1
    async with slack.door.core.uow() as uow:
        row = await uow.session.get(SlackUser, ("T1", "UEN"))
    assert row is not None and row.locale == "en"


async def test_an_unknown_subcommand_answers_with_the_help_hint(slack: Slack) -> None:
    answer = await slack.command("/support", "frobnicate")
    assert "/support help" in answer["blocks"][0]["text"]["text"]


async def test_wrong_arity_answers_with_the_usage_line(slack: Slack) -> None:
    answer = await slack.command("/support", "id show")
    assert answer["blocks"][0]["text"]["text"] == "使い方：`/support id show ID`"


async def test_a_direct_message_is_answered_with_help_after_the_ack(slack: Slack) -> None:
    await slack.event({"type": "message", "channel_type": "im", "user": "U1", "channel": "D1", "text": "hi"})
    post = slack.fake.of("chat.postMessage")[0]
    assert post.body["channel"] == "D1" and "/support" in post.body["text"]


async def test_no_secret_appears_in_any_log_line(slack: Slack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await slack.command("/support", "id new SK-SECRET-KEY-1234 MYID")
    await slack.raw(BODY + "&text=SK-SECRET-KEY-1234", FORM, {"X-Slack-Signature": "v0=1"})
    await slack.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (BOT_TOKEN, SIGNING_SECRET, "SK-SECRET-KEY-1234"):
        assert secret not in logged


async def test_a_signed_but_malformed_payload_is_a_400_not_a_500(slack: Slack) -> None:
    import json
    from urllib.parse import urlencode

    body = urlencode(
        {"payload": json.dumps({"type": "view_submission", "view": {"callback_id": "register"}})}
    )
    status, _ = await slack.raw(body, FORM, sign(body))
    assert status == 400
    body = urlencode({"payload": "{not json"})
    status, _ = await slack.raw(body, FORM, sign(body))
    assert status == 400


async def test_old_event_ids_are_pruned(slack: Slack) -> None:
    from datetime import timedelta

    from bot.listeners.events import prune

    event = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    await slack.event(event, event_id="EvOld")
    slack.door.core.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    await slack.event(event, event_id="EvNew")
    await prune(slack.door)
    async with slack.door.core.uow() as uow:
        ids = (await uow.session.scalars(select(ProcessedSlackEvent.event_id))).all()
    assert ids == ["EvNew"]


async def test_the_answer_does_not_wait_for_web_api_calls(slack: Slack) -> None:
    """Slack's 3-second window: the ack goes out while views.open is still pending."""
    import asyncio
    from urllib.parse import urlencode

    hold = asyncio.Event()
    slack.fake.hold["views.open"] = hold
    body = urlencode(
        {"command": "/support", "text": "register", "team_id": "T1", "user_id": "U1", "trigger_id": "tr-1"}
    )
    status, text = await asyncio.wait_for(slack.raw(body, FORM, sign(body)), timeout=10)
    assert status == 200 and text == ""
    hold.set()
    await slack.door.drain()
    assert slack.fake.of("views.open")[0].body["trigger_id"] == "tr-1"


async def test_a_failing_users_info_is_not_asked_again_on_every_request(slack: Slack) -> None:
    slack.fake.answers["users.info"] = lambda call: {"ok": False, "error": "missing_scope"}
    first = await slack.command("/support", "help", user="UX")
    second = await slack.command("/support", "help", user="UX")
    assert "登録" in first["blocks"][0]["text"]["text"] and "登録" in second["blocks"][0]["text"]["text"]
    assert len(slack.fake.of("users.info")) == 1
