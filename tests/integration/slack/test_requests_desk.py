"""The contact window worked from Slack: /support-admin requests… and the buttons on
staff-channel posts (staff only; refusals audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import AuditRecord, OutboxMessage, Request
from tests import factories
from tests.integration.slack.conftest import Slack

STAFF = "USTAFF1"


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


@pytest.fixture
async def request_123(slack: Slack) -> int:
    async with slack.door.core.uow() as uow:
        await factories.request(
            uow,
            123,
            "customer@customer-a.example.jp",
            "パスワードを忘れました",
            "ログインできません。",
            "forgot_password",
        )
        company = await factories.company(uow)
        await factories.account(uow, company, "customer@customer-a.example.jp", status="pending")
        await uow.commit()
    return 123


async def test_requests_lists_open_requests(slack: Slack, request_123: int) -> None:
    text = text_of(await slack.command("/support-admin", "requests", user=STAFF))
    assert "REQ-000123" in text and "パスワードを忘れた" in text and "customer@customer-a.example.jp" in text


async def test_request_show_shows_the_thread(slack: Slack, request_123: int) -> None:
    text = text_of(await slack.command("/support-admin", "request show REQ-000123", user=STAFF))
    assert "ログインできません。" in text
    missing = text_of(await slack.command("/support-admin", "request show REQ-999999", user=STAFF))
    assert "お問い合わせ REQ-999999 が見つかりません。" in missing


async def test_request_assign_takes_a_mention(slack: Slack, request_123: int) -> None:
    text = text_of(await slack.command("/support-admin", "request assign 123 <@UHELPER|helper>", user=STAFF))
    assert "REQ-000123" in text and "<@UHELPER>" in text
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(Request.assignee)) == "UHELPER"


async def test_reply_queues_a_threaded_mail_keeping_line_breaks(slack: Slack, request_123: int) -> None:
    text = text_of(
        await slack.command(
            "/support-admin",
            "reply REQ-000123 お世話になっております。\n再設定のリンクをお送りしました。",
            user=STAFF,
        )
    )
    assert "REQ-000123" in text
    async with slack.door.core.uow() as uow:
        mail = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.template == "staff_reply"))
    assert mail is not None and mail.recipients == ["customer@customer-a.example.jp"]
    assert mail.context["body"] == "お世話になっております。\n再設定のリンクをお送りしました。"


async def test_request_close_closes_it_and_it_leaves_the_list(slack: Slack, request_123: int) -> None:
    assert "REQ-000123" in text_of(
        await slack.command("/support-admin", "request close REQ-000123", user=STAFF)
    )
    assert "REQ-000123" not in text_of(await slack.command("/support-admin", "requests", user=STAFF))


async def test_the_close_button_closes_and_notes_it_in_the_thread(slack: Slack, request_123: int) -> None:
    await slack.interaction(
        slack.block_action(
            "staff_request_close", "REQ-000123", user=STAFF, channel="CSTAFF", message_ts="111.222"
        )
    )
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(Request.status)) == "closed"
    note = slack.fake.of("chat.postMessage")[-1].body
    assert note["channel"] == "CSTAFF" and note["thread_ts"] == "111.222" and "<@USTAFF1>" in note["text"]


async def test_the_reply_button_opens_a_modal_whose_submission_sends_the_mail(
    slack: Slack, request_123: int
) -> None:
    await slack.interaction(
        slack.block_action(
            "staff_request_reply", "REQ-000123", user=STAFF, channel="CSTAFF", message_ts="111.222"
        )
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    assert view["callback_id"] == "staff_reply"
    answer = await slack.interaction(
        slack.view_submission(view, {"reply_text": "ご確認ください。"}, user=STAFF)
    )
    assert answer == {"response_action": "clear"}
    async with slack.door.core.uow() as uow:
        mail = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.template == "staff_reply"))
    assert mail is not None and mail.context["body"] == "ご確認ください。"
    assert slack.fake.of("chat.postMessage")[-1].body["thread_ts"] == "111.222"


async def test_an_empty_reply_is_an_error_on_the_text_block(slack: Slack, request_123: int) -> None:
    await slack.interaction(
        slack.block_action(
            "staff_request_reply", "REQ-000123", user=STAFF, channel="CSTAFF", message_ts="1.2"
        )
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    answer = await slack.interaction(slack.view_submission(view, {"reply_text": "  "}, user=STAFF))
    assert answer["response_action"] == "errors" and "reply_text" in answer["errors"]


async def test_the_resend_button_sends_a_new_activation_link(slack: Slack, request_123: int) -> None:
    await slack.interaction(
        slack.block_action(
            "staff_request_resend", "REQ-000123", user=STAFF, channel="CSTAFF", message_ts="1.2"
        )
    )
    async with slack.door.core.uow() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "mail"))).all()
    assert [r.recipients for r in rows] == [["customer@customer-a.example.jp"]]


async def test_a_non_staff_user_pressing_a_staff_button_is_refused_and_audited(
    slack: Slack, request_123: int
) -> None:
    await slack.interaction(
        slack.block_action("staff_request_close", "REQ-000123", user="U1", channel="CSTAFF", message_ts="1.2")
    )
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(Request.status)) == "open"
        refused = (
            await uow.session.scalars(select(AuditRecord).where(AuditRecord.action == "staff.refused"))
        ).all()
    assert len(refused) == 1
    told = slack.fake.of("response_url")[-1].body
    assert (
        told["text"]
        == "この操作はスタッフのみ行えます。お客様がご利用いただけるコマンドは `/support help` でご確認ください。"
    )


async def test_the_outbox_worker_posts_a_new_request_then_threads_its_followup(
    slack: Slack, request_123: int
) -> None:
    from bot.staff_posts import build_staff_channel
    from core.outbox import enqueue_slack
    from core.outbox_worker import OutboxWorker
    from mail.transport import build_transport

    base = {"number": 123, "request": "REQ-000123", "sender": "customer@customer-a.example.jp"}
    async with slack.door.core.uow() as uow:
        enqueue_slack(
            uow,
            "request_new",
            {
                **base,
                "category": "forgot_password",
                "subject": "s",
                "excerpt": "e",
                "actions": ["reply", "close"],
            },
        )
        await uow.commit()
    core = slack.door.core
    worker = OutboxWorker(core, build_transport(core.settings), staff=build_staff_channel(core))
    await worker.run_once()
    posted = slack.fake.of("chat.postMessage")[-1]
    assert posted.body["channel"] == "CSTAFF" and "thread_ts" not in posted.body
    async with slack.door.core.uow() as uow:
        row = await uow.session.scalar(select(Request))
        assert row.slack_channel == "CSTAFF" and row.slack_ts
        ts = row.slack_ts
        enqueue_slack(
            uow,
            "request_followup",
            {**base, "subject": "Re: s", "excerpt": "追伸", "channel": None, "thread_ts": None},
        )
        await uow.commit()
    await worker.run_once()
    followup = slack.fake.of("chat.postMessage")[-1]
    assert followup.body["thread_ts"] == ts and "追伸" in str(followup.body["blocks"])
