"""Inquiry attachments in core and by mail (SPEC §4.8): a staff answer's files leave as
MIME parts of the answer mail (real SMTP to an aiosmtpd sink), read from the store by
reference; a mail's files are kept with its inquiry message, or refused and explained
while the inquiry is still opened; only readers of the inquiry get links."""

from __future__ import annotations

import email
import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select

from core import attachments, inquiries
from core.attachments import NewFile
from core.attachments.tables import Attachment
from core.errors import NotFound, ValidationFailed
from core.inquiries.tables import InquiryMessage
from core.outbox import enqueue_slack
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from mail.smtp import SMTPServer
from mail.templates import MailTemplates
from mail.transport import build_transport
from tests.integration.inquiries.conftest import STAFF, World, count, outbox
from tests.integration.inquiries.test_delivery import StaffRoom
from tests.integration.mail.conftest import Sink, send, sink, worker_for

__all__ = ["sink"]

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
MIB = 1024 * 1024


async def _open(core: Core, world: World, files: list[NewFile] | None = None) -> int:
    async with core.uow() as uow:
        opened = await inquiries.open_inquiry(
            uow,
            world.a,
            support_id="ACME_A",
            product="製品Aファミリ",
            subject="帳票出力でエラーになる",
            body="エラーです。",
            attachments=files or [],
        )
    return opened.number


def _parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


async def test_a_staff_answers_file_is_a_mime_part_of_the_answer_mail_with_the_sanitised_name(
    domain: Core, world: World, sink: Sink
) -> None:
    number = await _open(domain, world)
    async with domain.uow() as uow:
        await inquiries.answer(
            uow, STAFF, number, "手順書を添付します。", [NewFile("../../tmp/手順書\u202e\r\n.pdf", PDF)]
        )
    [row] = await outbox(domain, "inquiry_answer")
    # By reference: the row names the file, its bytes stay in the store.
    assert len(json.dumps(row.context)) < 2000
    [entry] = row.context["mime_files"]
    assert entry["name"] == "手順書.pdf" and entry["size"] == len(PDF)
    await worker_for(domain, sink).drain()
    _ack, (_from, rcpt, raw) = sink.messages
    assert rcpt == ["alice@customer-a.example.jp", "cc@customer-a.example.jp"]
    answer = _parsed(raw)
    assert answer.get_content_type() == "multipart/mixed"
    [part] = list(answer.iter_attachments())
    assert part.get_filename() == "手順書.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == PDF
    body = answer.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "手順書を添付します。" in text and "添付ファイル（このメールに添付しています）" in text
    assert "手順書.pdf" in text and "/files/" not in text


async def test_an_answer_without_files_is_the_plain_alternative_mail_as_before(
    domain: Core, world: World, sink: Sink
) -> None:
    number = await _open(domain, world)
    async with domain.uow() as uow:
        await inquiries.answer(uow, STAFF, number, "回答です。")
    await worker_for(domain, sink).drain()
    assert _parsed(sink.messages[-1][2]).get_content_type() == "multipart/alternative"


async def test_an_over_size_answer_file_is_refused_and_nothing_is_stored(domain: Core, world: World) -> None:
    number = await _open(domain, world)
    before = await count(domain, InquiryMessage)
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await inquiries.answer(
                uow,
                STAFF,
                number,
                "回答です。",
                [NewFile("big.bin", bytes(domain.settings.attachment_max_bytes + 1))],
            )
    assert caught.value.fields == {"attachments": "attachments.too_large"}
    assert await count(domain, InquiryMessage) == before
    assert await count(domain, Attachment) == 0
    assert await outbox(domain, "inquiry_answer") == []


async def test_a_colleague_gets_links_and_a_stranger_gets_nothing(domain: Core, world: World) -> None:
    number = await _open(domain, world, [NewFile("見積書.pdf", PDF)])
    async with domain.uow() as uow:
        seen = await inquiries.show(uow, world.b, number)
        staff_seen = await inquiries.show(uow, STAFF, number)
        with pytest.raises(NotFound):
            await inquiries.show(uow, world.c, number)
    [file] = seen.messages[0].files
    assert file.name == "見積書.pdf" and "/files/" in file.url
    assert [f.name for f in staff_seen.messages[0].files] == ["見積書.pdf"]
    assert seen.links_until is not None
    # No mail carries a link: the acknowledgement only names the file (it also goes to
    # the CC addresses, who are not contacts).
    for row in await outbox(domain):
        if row.channel == "mail":
            assert "/files/" not in json.dumps(row.context, ensure_ascii=False)


# -- by mail ------------------------------------------------------------------------------


@pytest.fixture
async def smtp(domain: Core) -> AsyncIterator[SMTPServer]:
    domain.settings.smtp_max_message_size = 16 * MIB
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def mail_with(sender: str, to: str, *files: tuple[str, bytes], subject: str = "資料の送付") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer-a.example.jp")
    msg.set_content("資料をお送りします。ご確認ください。")
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes(policy=SMTP)


async def mail_in(smtp: SMTPServer, raw: bytes, sender: str, to: str) -> None:
    await send(smtp.port, raw, mail_from=sender, to=[to])
    await smtp.processor.run_once()


async def test_a_mails_files_are_kept_with_the_inquiry_message_and_listed_for_staff(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    sender, to = "alice@customer-a.example.jp", "inquiry+ACME_A@support.example.com"
    await mail_in(smtp, mail_with(sender, to, ("図面.pdf", PDF)), sender, to)
    async with domain.uow() as uow:
        message_id = await uow.session.scalar(select(func.max(InquiryMessage.id)))
        [kept] = await attachments.for_owner(uow, "inquiry_message", int(message_id or 0))
    assert (kept.name, kept.content_type, kept.size) == ("図面.pdf", "application/pdf", len(PDF))
    [post] = await outbox(domain, "inquiry_new")
    assert post.context["attachments"] == [kept.summary()]
    [ack] = await outbox(domain, "inquiry_ack")
    assert ack.context["files"] == [{"name": "図面.pdf", "size_text": attachments.size_text(len(PDF))}]
    for locale, hint in (("ja", "/support inquiry show INQ-000001 でダウンロード"), ("en", "can download")):
        mailed = MailTemplates(domain.settings).render("inquiry_ack", locale, ack.context)
        assert "図面.pdf" in mailed.text and "図面.pdf" in mailed.html and hint in mailed.text
        assert "/files/" not in mailed.text + mailed.html
    # A follow-up's files go with the follow-up, into the staff thread.
    await mail_in(
        smtp, mail_with(sender, to, ("追加.pdf", PDF), subject="Re: [INQ-000001] 資料の送付"), sender, to
    )
    [followup] = await outbox(domain, "inquiry_followup")
    assert [f["name"] for f in followup.context["attachments"]] == ["追加.pdf"]


async def test_an_over_size_file_by_mail_still_opens_the_inquiry_and_the_refusal_is_explained(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    domain.settings.attachment_max_bytes = 1 * MIB
    sender, to = "alice@customer-a.example.jp", "inquiry+ACME_A@support.example.com"
    raw = mail_with(sender, to, ("memo.txt", b"small\n"), ("big.pdf", PDF + bytes(2 * MIB)))
    await mail_in(smtp, raw, sender, to)
    assert await count(domain, InquiryMessage) == 1  # opened, without the files
    assert await count(domain, Attachment) == 0  # not even the small one
    [post] = await outbox(domain, "inquiry_new")
    assert post.context["attachments"] == []
    refused = post.context["attachments_refused"]
    assert refused["message_id"] == "attachments.too_large"
    assert [name for name, _size in refused["files"]] == ["memo.txt", "big.pdf"]
    [ack] = await outbox(domain, "inquiry_ack")
    note = ack.context["attachments_note"]
    assert "添付ファイル「big.pdf」は1 MiBを超えているため" in note and "あらためてお送りください" in note
    mailed = MailTemplates(domain.settings).render("inquiry_ack", ack.locale, ack.context)
    assert note in mailed.text and "big.pdf" in mailed.html
    # A follow-up with a refused file: staff are told in the thread (no acknowledgement).
    await mail_in(
        smtp,
        mail_with(sender, to, ("big2.pdf", PDF + bytes(2 * MIB)), subject="Re: [INQ-000001] 資料"),
        sender,
        to,
    )
    [followup] = await outbox(domain, "inquiry_followup")
    assert followup.context["attachments_refused"]["params"]["name"] == "big2.pdf"
    assert await count(domain, Attachment) == 0


async def test_the_staff_post_gets_fresh_links_and_a_row_queued_with_a_count_still_goes(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:  # as a row queued before files were kept looked
        enqueue_slack(uow, "inquiry_new", {"number": 99, "inquiry": "INQ-000099", "attachments": 2})
        await uow.commit()
    await _open(domain, world, [NewFile("見積書.pdf", PDF)])
    room = StaffRoom()
    await OutboxWorker(domain, build_transport(domain.settings), staff=room).drain()
    old, new = (context for kind, _locale, context in room.posts if kind == "inquiry_new")
    assert old["attachments"] == 2
    [file] = new["attachments"]
    assert file["name"] == "見積書.pdf" and "/files/" in file["url"] and new["attachments_until"]


async def test_a_strangers_file_with_a_valid_tag_never_joins_the_inquiry(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    await _open(domain, world)
    stranger, to = "carol@customer-q.example.jp", "inquiry@support.example.com"
    raw = mail_with(stranger, to, ("罠.pdf", PDF), subject="Re: [INQ-000001] 追加資料")
    await mail_in(smtp, raw, stranger, to)
    async with domain.uow() as uow:
        owners = (await uow.session.execute(select(Attachment.owner_kind, Attachment.name))).all()
    assert [tuple(o) for o in owners] == [("request", "罠.pdf")]  # the contact window's, for staff
    assert await count(domain, InquiryMessage) == 1
    async with domain.uow() as uow:
        shown = await inquiries.show(uow, world.b, 1)
    assert all(not m.files for m in shown.messages)
