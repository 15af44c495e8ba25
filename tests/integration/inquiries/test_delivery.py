"""What leaves for an inquiry, through the outbox worker: the acknowledgement and the
answer as real mail over SMTP (To the asker, Cc the CC addresses, threaded, tagged), and
the staff posts in the product's channel with follow-ups in that post's thread."""

from __future__ import annotations

import email
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import default
from typing import Any

from core import inquiries
from core.outbox_worker import OutboxWorker
from core.ports import PostRef
from core.unit_of_work import Core
from mail.transport import build_transport
from tests.integration.inquiries.conftest import STAFF, World, inquiry
from tests.integration.mail.conftest import Sink, sink, worker_for

__all__ = ["sink"]


class StaffRoom:
    """A staff channel that records what it was asked (``core.ports.StaffChannel``)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, dict[str, Any]]] = []
        self.replies: list[tuple[PostRef, str, dict[str, Any]]] = []

    async def post(self, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        self.posts.append((kind, locale, dict(context)))
        return PostRef(str(context.get("channel") or "CSTAFF"), f"1700000000.{len(self.posts):06d}")

    async def reply(self, parent: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        self.replies.append((parent, kind, dict(context)))
        return PostRef(parent.channel, f"1700000001.{len(self.replies):06d}")

    async def update(self, post: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        return post


def _parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


async def _open(core: Core, world: World) -> int:
    async with core.uow() as uow:
        opened = await inquiries.open_inquiry(
            uow,
            world.a,
            support_id="ACME_A",
            product="製品Aファミリ",
            subject="帳票出力",
            body="エラーです。",
        )
    return opened.number


async def test_the_ack_and_the_answer_go_to_the_asker_with_cc_threaded_and_tagged(
    domain: Core, world: World, sink: Sink
) -> None:
    number = await _open(domain, world)
    async with domain.uow() as uow:
        await inquiries.answer(uow, STAFF, number, "設定を見直してください。")
    await worker_for(domain, sink).drain()
    row = await inquiry(domain, number)
    (_f1, rcpt1, raw1), (_f2, rcpt2, raw2) = sink.messages
    ack, answer = _parsed(raw1), _parsed(raw2)
    for rcpt, mail in ((rcpt1, ack), (rcpt2, answer)):
        assert rcpt == ["alice@customer-a.example.jp", "cc@customer-a.example.jp"]
        assert str(mail["To"]) == "alice@customer-a.example.jp"
        assert str(mail["Cc"]) == "cc@customer-a.example.jp"
        assert "[INQ-000001]" in str(mail["Subject"]) and str(mail["Subject"]).startswith(
            "【Example Solutions】"
        )
        assert str(mail["Reply-To"]) == domain.settings.inquiry_address
    assert str(ack["Message-ID"]) == row.thread_id
    assert str(ack["Auto-Submitted"]) == "auto-generated"
    assert str(answer["In-Reply-To"]) == row.thread_id and answer["Auto-Submitted"] is None
    text = answer.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert (
        "設定を見直してください。" in content and "10営業日" in content and "2026年12月10日（木）" in content
    )


async def test_the_staff_post_lands_in_the_products_channel_and_follow_ups_in_its_thread(
    domain: Core, world: World
) -> None:
    domain.settings.product_channels["製品Aファミリ"] = "CPRODA"
    try:
        number = await _open(domain, world)
    finally:
        domain.settings.product_channels.clear()
    room = StaffRoom()
    worker = OutboxWorker(domain, build_transport(domain.settings), staff=room)
    await worker.drain()
    [(kind, _locale, context)] = room.posts
    assert (kind, context["channel"], context["inquiry"]) == ("inquiry_new", "CPRODA", "INQ-000001")
    row = await inquiry(domain, number)
    assert (row.slack_channel, row.slack_ts) == ("CPRODA", "1700000000.000001")
    async with domain.uow() as uow:
        await inquiries.reply(uow, world.b, number, "補足です。")
    await worker.drain()
    [(parent, kind, context)] = room.replies
    assert parent == PostRef("CPRODA", "1700000000.000001")
    assert (kind, context["excerpt"], context["kind"]) == ("inquiry_followup", "補足です。", "customer")
