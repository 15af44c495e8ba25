"""Staff work inquiries from Slack (SPEC §4.8, §5): the post in the product's channel
with 回答する / 担当する / 完了, the answer modal (the only path to the customer besides
``/support-admin answer``), thread chatter kept internal, the post updated with its
status, and ``/support-admin inquiries`` / ``inquiry show|assign|close`` / ``answer``.

Everything goes through signed Slack requests and the fake Web API; posts through the
real outbox worker."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.staff_posts import build_staff_channel
from core import inquiries
from core.attachments import NewFile
from core.dates import long_date
from core.inquiries.tables import InquiryMessage
from core.messages import render
from core.models import AuditRecord, OutboxMessage
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from mail.transport import build_transport
from tests.integration.inquiries.conftest import World, actor_of, counts, inquiry, outbox, world
from tests.integration.slack.conftest import Slack

__all__ = ["world"]

STAFF = "USTAFF1"
STAFF_REF = "slack:T1:USTAFF1"
FILE_LINK = re.compile(r"https?://[^|>\s\"']+/files/[0-9]+\.[0-9]+\.[0-9a-f]{32}")
NASTY_SUBJECT = "帳票 <!channel> <https://evil.example|こちら> *太字*"
NASTY_BODY = "至急 <!here> ```抜け出し``` <@U999> https://evil.example/x"


def text_of(answer: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks for e in b.get("elements", []) if "action_id" in e]


async def drain(core: Core) -> None:
    channel = build_staff_channel(core)
    assert channel is not None
    await OutboxWorker(core, build_transport(core.settings), staff=channel).drain()


async def open_one(
    core: Core, w: World, *, subject: str = "帳票出力", body: str = "エラーになります。"
) -> int:
    async with core.uow() as uow:
        opened = await inquiries.open_inquiry(
            uow, w.a, support_id="ACME_A", product="製品Aファミリ", subject=subject, body=body
        )
    return opened.number


@pytest.fixture
async def posted(slack: Slack, world: World) -> tuple[int, str, str]:
    """INQ-000001, posted to the staff channel: (number, channel, ts)."""
    number = await open_one(slack.door.core, world, subject=NASTY_SUBJECT, body=NASTY_BODY)
    await drain(slack.door.core)
    row = await inquiry(slack.door.core, number)
    assert row.slack_channel and row.slack_ts
    return number, row.slack_channel, row.slack_ts


async def mails(core: Core) -> list[OutboxMessage]:
    async with core.uow() as uow:
        return list(
            (await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "mail"))).all()
        )


# -- the post ------------------------------------------------------------------------------


async def test_a_new_inquiry_is_posted_with_its_facts_and_three_buttons_escaped(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    number, channel, _ts = posted
    call = slack.fake.of("chat.postMessage")[0].body
    assert call["channel"] == channel == "CSTAFF"
    blocks = call["blocks"]
    assert action_ids(blocks) == ["inquiry_staff_answer", "inquiry_staff_assign", "inquiry_staff_close"]
    assert {e["value"] for b in blocks for e in b.get("elements", []) if "value" in e} == {"INQ-000001"}
    text = str(blocks)
    row = await inquiry(slack.door.core, number)
    for needle in ("INQ-000001", "顧客A", "ACME_A", "製品Aファミリ", "受付", long_date(row.due_on, "ja")):
        assert needle in text
    assert "2026年12月1日（火）" in text  # received Thu 26 Nov 10:00 JST, 3 business days
    # A customer's markup reaches the channel as text only, never as a mention or link.
    for raw in ("<!channel>", "<!here>", "<@U999>", "<https://evil.example|"):
        assert raw not in text
    assert "&lt;!channel&gt;" in text and "&lt;!here&gt;" in text
    assert "```抜け出し```" not in text
    sections = [b for b in blocks if b["type"] == "section"]
    assert all(b.get("text", {}).get("verbatim") or "fields" in b for b in sections[1:])


async def test_a_product_channel_gets_the_post_when_configured(
    slack_core: Core, world: World, fake: Any
) -> None:
    core = Core(
        slack_core.sessions,
        slack_core.settings.model_copy(update={"product_channels": {"製品Aファミリ": "CPRODA"}}),
        slack_core.clock,
    )
    await open_one(core, world)
    await drain(core)
    assert fake.of("chat.postMessage")[0].body["channel"] == "CPRODA"


# -- 回答する ------------------------------------------------------------------------------


async def test_the_answer_modal_shows_the_asker_subject_and_last_message_and_mails_the_answer(
    slack: Slack, world: World, posted: tuple[int, str, str]
) -> None:
    number, channel, ts = posted
    async with slack.door.core.uow() as uow:
        await inquiries.reply(uow, world.b, number, "追加の情報です。ログを添付します。")
    await slack.interaction(
        slack.block_action("inquiry_staff_answer", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    assert view["callback_id"] == "inquiry_staff_answer" and view["private_metadata"] == "INQ-000001"
    shown = str(view["blocks"])
    assert (
        "alice@customer-a.example.jp" in shown and "追加の情報です。" in shown and "&lt;!channel&gt;" in shown
    )
    assert "<!channel>" not in shown
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["body", "attachments"]
    assert any(b.get("element", {}).get("type") == "file_input" for b in view["blocks"])

    answer = await slack.interaction(
        slack.view_submission(
            view, {"body": "お世話になっております。\n\n設定をご確認ください。"}, user=STAFF
        )
    )
    assert answer == {"response_action": "clear"}
    row = await inquiry(slack.door.core, number)
    assert row.status == "answered" and row.assignee == STAFF_REF
    (mail,) = await outbox(slack.door.core, "inquiry_answer")
    assert mail.recipients == ["alice@customer-a.example.jp", "cc@customer-a.example.jp"]
    assert mail.headers["Cc"] == "cc@customer-a.example.jp"
    assert (
        mail.headers["In-Reply-To"].strip()
        and row.thread_id in mail.headers["References"] + mail.headers["In-Reply-To"]
    )
    assert mail.context["body"] == "お世話になっております。\n\n設定をご確認ください。"
    # The staff member hears it went (a DM), the thread says so and the post shows 回答済み.
    await slack.door.drain()
    assert "INQ-000001" in slack.fake.of("chat.postMessage")[-1].body["text"]
    await drain(slack.door.core)
    update = slack.fake.of("chat.update")[-1].body
    assert update["channel"] == channel and update["ts"] == ts and "回答済み" in str(update["blocks"])
    threaded = [c.body for c in slack.fake.of("chat.postMessage") if c.body.get("thread_ts") == ts]
    assert any(
        "回答を送信" in str(b["blocks"]) and "設定をご確認ください。" in str(b["blocks"]) for b in threaded
    )


async def test_files_in_the_modal_are_fetched_with_the_bot_token_and_passed_to_the_answer(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    _number, channel, ts = posted
    slack.fake.files["F1"] = ("手順書.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", "application/pdf")
    slack.fake.files["F2"] = ("b.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "image/png")
    await slack.interaction(
        slack.block_action("inquiry_staff_answer", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    payload = slack.view_submission(view, {"body": "資料を添付します。"}, user=STAFF)
    payload["view"]["state"]["values"]["attachments"] = {
        "value": {
            "type": "file_input",
            "files": [{"id": "F1", "name": "手順書.pdf"}, {"id": "F2", "name": "b.png"}],
        }
    }
    assert await slack.interaction(payload) == {"response_action": "clear"}
    assert {c.body["file"] for c in slack.fake.of("files.info")} == {"F1", "F2"}
    async with slack.door.core.uow() as uow:
        audit = await uow.session.scalar(
            select(AuditRecord).where(AuditRecord.action == "inquiry.attachments_received")
        )
    assert audit is not None and audit.details["count"] == 2


async def test_a_file_over_the_limit_is_refused_on_its_block_and_nothing_is_sent(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    _number, channel, ts = posted
    limit = slack.door.settings.attachment_max_bytes
    slack.fake.files["FBIG"] = ("大きい.pdf", b"%PDF" + b"\0" * limit, "application/pdf")
    await slack.interaction(
        slack.block_action("inquiry_staff_answer", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    before = await counts(slack.door.core)
    payload = slack.view_submission(view, {"body": "添付します"}, user=STAFF)
    payload["view"]["state"]["values"]["attachments"] = {
        "value": {"type": "file_input", "files": [{"id": "FBIG", "name": "大きい.pdf"}]}
    }
    answer = await slack.interaction(payload)
    assert answer["response_action"] == "errors" and "大きい.pdf" in answer["errors"]["attachments"]
    assert await counts(slack.door.core) == before
    assert await outbox(slack.door.core, "inquiry_answer") == []


async def test_too_many_files_or_an_empty_answer_are_errors_on_their_block_and_send_nothing(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    _number, channel, ts = posted
    await slack.interaction(
        slack.block_action("inquiry_staff_answer", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    before = await counts(slack.door.core)
    empty = await slack.interaction(slack.view_submission(view, {"body": "  \n "}, user=STAFF))
    assert empty["response_action"] == "errors" and set(empty["errors"]) == {"body"}
    payload = slack.view_submission(view, {"body": "多すぎます"}, user=STAFF)
    payload["view"]["state"]["values"]["attachments"] = {
        "value": {"type": "file_input", "files": [{"id": f"F{i}"} for i in range(11)]}
    }
    many = await slack.interaction(payload)
    assert many["response_action"] == "errors" and set(many["errors"]) == {"attachments"}
    assert await counts(slack.door.core) == before
    assert await outbox(slack.door.core, "inquiry_answer") == []


async def test_answering_a_closed_inquiry_says_so_and_sends_nothing(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    _number, channel, ts = posted
    await slack.interaction(
        slack.block_action("inquiry_staff_answer", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    await slack.command("/support-admin", "inquiry close INQ-000001", user=STAFF)
    answer = await slack.interaction(slack.view_submission(view, {"body": "遅れました"}, user=STAFF))
    assert answer["response_action"] == "update" and "INQ-000001" in str(answer["view"])
    assert await outbox(slack.door.core, "inquiry_answer") == []


# -- 担当する / 完了 -------------------------------------------------------------------------


async def test_take_assigns_the_clicker_and_the_post_shows_it(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    number, channel, ts = posted
    await slack.interaction(
        slack.block_action("inquiry_staff_assign", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    row = await inquiry(slack.door.core, number)
    assert row.assignee == STAFF_REF and row.status == "in_progress"
    assert "<@USTAFF1>" in slack.fake.of("response_url")[-1].body["text"]
    await drain(slack.door.core)
    update = str(slack.fake.of("chat.update")[-1].body["blocks"])
    assert "対応中" in update and "<@USTAFF1>" in update
    assert [m.template for m in await mails(slack.door.core)] == ["inquiry_ack"]


async def test_the_post_shown_again_keeps_the_first_messages_files_with_fresh_links(
    slack: Slack, world: World
) -> None:
    core = slack.door.core
    async with core.uow() as uow:
        await inquiries.open_inquiry(
            uow,
            world.a,
            support_id="ACME_A",
            product="製品Aファミリ",
            subject="帳票出力",
            body="画面の写しを添付します。",
            attachments=[NewFile("画面.pdf", b"%PDF-1.5\n" + bytes(2000)), NewFile("メモ.txt", b"memo")],
        )
    await drain(core)
    row = await inquiry(core, 1)
    new = str(slack.fake.of("chat.postMessage")[0].body["blocks"])
    assert "画面.pdf" in new and "メモ.txt" in new
    await slack.interaction(
        slack.block_action(
            "inquiry_staff_assign",
            "INQ-000001",
            user=STAFF,
            channel=row.slack_channel,
            message_ts=row.slack_ts,
        )
    )
    await drain(core)
    update = str(slack.fake.of("chat.update")[-1].body["blocks"])
    assert "対応中" in update
    # The same files as the new post, each with a signed link of its own (not a count).
    assert "画面.pdf" in update and "メモ.txt" in update
    assert len(FILE_LINK.findall(update)) == 2
    assert render("inquiry_desk.field.attachments", "ja") in update
    assert render("inquiry_desk.attachments_count", "ja", count=2) not in update


async def test_close_closes_it_and_the_post_loses_its_buttons(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    number, channel, ts = posted
    await slack.interaction(
        slack.block_action("inquiry_staff_close", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    assert (await inquiry(slack.door.core, number)).status == "closed"
    await drain(slack.door.core)
    update = slack.fake.of("chat.update")[-1].body
    assert "完了" in str(update["blocks"]) and action_ids(update["blocks"]) == []
    threaded = [c.body for c in slack.fake.of("chat.postMessage") if c.body.get("thread_ts") == ts]
    assert any("完了にしました" in str(b["blocks"]) for b in threaded)


@pytest.mark.parametrize("action", ["inquiry_staff_answer", "inquiry_staff_assign", "inquiry_staff_close"])
async def test_a_non_staff_click_is_refused_audited_and_changes_nothing(
    slack: Slack, posted: tuple[int, str, str], action: str
) -> None:
    number, channel, ts = posted
    before = await counts(slack.door.core)
    await slack.interaction(
        slack.block_action(action, "INQ-000001", user="U1", channel=channel, message_ts=ts)
    )
    row = await inquiry(slack.door.core, number)
    assert row.status == "new" and row.assignee is None
    assert await counts(slack.door.core) == before
    assert slack.fake.of("views.open") == []
    assert slack.fake.of("response_url")[-1].body["text"] == render("staff.forbidden", "ja")
    async with slack.door.core.uow() as uow:
        refused = (
            await uow.session.scalars(select(AuditRecord).where(AuditRecord.action == "staff.refused"))
        ).all()
    assert len(refused) == 1


async def test_a_forged_answer_submission_by_a_non_staff_user_sends_nothing(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    _number, channel, ts = posted
    await slack.interaction(
        slack.block_action("inquiry_staff_answer", "INQ-000001", user=STAFF, channel=channel, message_ts=ts)
    )
    view = slack.fake.of("views.open")[-1].body["view"]
    answer = await slack.interaction(slack.view_submission(view, {"body": "偽の回答"}, user="U1"))
    assert answer["response_action"] == "errors" and "スタッフのみ" in answer["errors"]["body"]
    assert await outbox(slack.door.core, "inquiry_answer") == []


# -- the thread ---------------------------------------------------------------------------


def thread_message(channel: str, thread_ts: str, user: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": channel,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": "1800000000.000100",
        "thread_ts": thread_ts,
    }


async def test_staff_chatter_in_the_thread_is_an_internal_note_and_never_mailed(
    slack: Slack, world: World, posted: tuple[int, str, str]
) -> None:
    number, channel, ts = posted
    mails_before = len(await mails(slack.door.core))
    await slack.event(thread_message(channel, ts, STAFF, "お客様には言わないで：再現しました <!channel>"))
    assert len(await mails(slack.door.core)) == mails_before
    async with slack.door.core.uow() as uow:
        notes = (await uow.session.scalars(select(InquiryMessage).where(InquiryMessage.kind == "note"))).all()
    assert [n.body for n in notes] == ["お客様には言わないで：再現しました <!channel>"]
    # Staff read it in the thread's history; the asker's colleague does not.
    shown = text_of(await slack.command("/support-admin", "inquiry show INQ-000001", user=STAFF))
    assert "社内メモ" in shown and "再現しました &lt;!channel&gt;" in shown
    async with slack.door.core.uow() as uow:
        detail = await inquiries.show(uow, actor_of(world.bob), number)
    assert all(m.kind != "note" for m in detail.messages)
    # The bot does not answer in the channel.
    assert not [
        c
        for c in slack.fake.of("chat.postMessage")
        if c.body.get("channel") == channel and c.body.get("thread_ts") == ts and "言わないで" in str(c.body)
    ]


async def test_chatter_by_a_non_staff_member_or_in_another_thread_is_ignored(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    _number, channel, ts = posted
    before = await counts(slack.door.core)
    await slack.event(thread_message(channel, ts, "U1", "部外者の書き込み"))
    await slack.event(thread_message(channel, "1234.5678", STAFF, "別のスレッド"))
    assert await counts(slack.door.core) == before


# -- /support-admin -----------------------------------------------------------------------


async def test_inquiries_lists_open_overdue_mine_and_a_support_ids(
    slack: Slack, world: World, posted: tuple[int, str, str]
) -> None:
    await open_one(slack.door.core, world, subject="二件目")
    text = text_of(await slack.command("/support-admin", "inquiries", user=STAFF))
    assert "INQ-000001" in text and "INQ-000002" in text and "受付" in text and "2026年12月1日（火）" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "該当するお問い合わせはありません" in text_of(
        await slack.command("/support-admin", "inquiries overdue", user=STAFF)
    )
    assert "該当するお問い合わせはありません" in text_of(
        await slack.command("/support-admin", "inquiries mine", user=STAFF)
    )
    await slack.command("/support-admin", "inquiry assign INQ-000002 <@USTAFF1|me>", user=STAFF)
    mine = text_of(await slack.command("/support-admin", "inquiries mine", user=STAFF))
    assert "INQ-000002" in mine and "INQ-000001" not in mine
    assert "INQ-000001" in text_of(await slack.command("/support-admin", "inquiries ACME_A", user=STAFF))
    slack.door.core.clock.set(slack.door.core.clock.now().replace(day=3, month=12))
    overdue = text_of(await slack.command("/support-admin", "inquiries overdue", user=STAFF))
    assert "期限超過" in overdue and "INQ-000001" in overdue
    bad = text_of(await slack.command("/support-admin", "inquiries open zero", user=STAFF))
    assert "ページ番号" in bad


async def test_inquiry_show_has_the_whole_thread_with_jst_times_and_status_labels(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    await slack.command("/support-admin", "answer INQ-000001 回答です。", user=STAFF)
    text = str(await slack.command("/support-admin", "inquiry show INQ-000001", user=STAFF))
    assert "回答済み" in text and "2026年11月26日（木）10:00" in text
    assert "お客様" in text and "回答（送信済み）" in text and "回答です。" in text
    assert "alice@customer-a.example.jp" in text
    missing = text_of(await slack.command("/support-admin", "inquiry show INQ-999999", user=STAFF))
    assert "INQ-999999" in missing and "見つからない" in missing


async def test_inquiry_assign_takes_a_mention_and_refuses_a_plain_name(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    number, _c, _t = posted
    plain = text_of(await slack.command("/support-admin", "inquiry assign INQ-000001 bob", user=STAFF))
    assert "@ で指定" in plain and (await inquiry(slack.door.core, number)).assignee is None
    text = text_of(await slack.command("/support-admin", "inquiry assign 1 <@UHELPER|helper>", user=STAFF))
    assert "INQ-000001" in text and "<@UHELPER>" in text
    assert (await inquiry(slack.door.core, number)).assignee == "slack:T1:UHELPER"


async def test_inquiry_close_and_closing_twice(slack: Slack, posted: tuple[int, str, str]) -> None:
    number, _c, _t = posted
    assert "完了にしました" in text_of(
        await slack.command("/support-admin", "inquiry close INQ-000001", user=STAFF)
    )
    assert (await inquiry(slack.door.core, number)).status == "closed"
    again = text_of(await slack.command("/support-admin", "inquiry close INQ-000001", user=STAFF))
    assert "INQ-000001" in again and "完了にしました" not in again


async def test_answer_keeps_line_breaks_and_mails_the_asker_with_cc(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    text = text_of(
        await slack.command(
            "/support-admin",
            "answer INQ-000001 お世話になっております。\n\n  手順は次のとおりです。",
            user=STAFF,
        )
    )
    assert "INQ-000001" in text and "alice@customer-a.example.jp" in text
    (mail,) = await outbox(slack.door.core, "inquiry_answer")
    assert mail.context["body"] == "お世話になっております。\n\n  手順は次のとおりです。"
    assert mail.recipients == ["alice@customer-a.example.jp", "cc@customer-a.example.jp"]


async def test_the_inquiry_subcommands_refuse_non_staff_and_change_nothing(
    slack: Slack, posted: tuple[int, str, str]
) -> None:
    before = await counts(slack.door.core)
    for text in ("inquiries", "inquiry show INQ-000001", "inquiry close INQ-000001", "answer INQ-000001 偽"):
        assert text_of(await slack.command("/support-admin", text, user="U1")) == render(
            "staff.forbidden", "ja"
        )
    assert await counts(slack.door.core) == before
    assert (await inquiry(slack.door.core, 1)).status == "new"


async def test_a_customer_reply_after_the_answer_reopens_it_in_the_thread_and_on_the_post(
    slack: Slack, world: World, posted: tuple[int, str, str]
) -> None:
    number, _channel, ts = posted
    await slack.command("/support-admin", "answer INQ-000001 回答です。", user=STAFF)
    async with slack.door.core.uow() as uow:
        await inquiries.reply(uow, world.b, number, "まだ直りません <!channel>")
    await drain(slack.door.core)
    assert "対応中" in str(slack.fake.of("chat.update")[-1].body["blocks"])
    threaded = [
        str(c.body["blocks"]) for c in slack.fake.of("chat.postMessage") if c.body.get("thread_ts") == ts
    ]
    assert any("まだ直りません &lt;!channel&gt;" in b and "対応中" in b for b in threaded)


async def test_a_status_update_waits_for_its_post(slack: Slack, world: World) -> None:
    number = await open_one(slack.door.core, world)
    slack.fake.answers["chat.postMessage"] = lambda call: {"ok": False, "error": "channel_not_found"}
    async with slack.door.core.uow() as uow:
        await inquiries.close(uow, actor_of(world.alice), number)
    await drain(slack.door.core)
    assert slack.fake.of("chat.update") == []
    async with slack.door.core.uow() as uow:
        rows = (
            await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "slack"))
        ).all()
    assert {r.template: r.status for r in rows} == {
        "inquiry_new": "pending",
        "inquiry_followup": "pending",
        "inquiry_status": "pending",
    }
