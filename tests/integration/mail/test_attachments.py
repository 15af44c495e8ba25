"""Attachments by mail (SPEC §4.8): real SMTP on loopback in, the staff post through the
fake Slack, the download link through the web door over real HTTP."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from core import attachments, delivery
from core.attachments.tables import Attachment, AttachmentBlob
from core.clock import FrozenClock
from core.config import Settings
from core.outbox import enqueue_mail
from core.templates import environment
from core.unit_of_work import Core
from madoguchi.serve import Server, web_pages
from mail.smtp import SMTPServer
from mail.templates import MailTemplates
from tests.fakeslack import FakeSlack
from tests.integration.mail.conftest import CONTACT, outbox_of, requests_of, send
from tests.integration.mail.staff_room import deliver_outbox
from web import files

PUBLIC_URL = "https://support.example.test"
MIB = 1024 * 1024
LINK = re.compile(re.escape(PUBLIC_URL) + r"/files/([0-9a-f.]+)")


@dataclass
class Door:
    """The SMTP door, the web door and the staff channel on one database and clock."""

    server: Server
    smtp: SMTPServer
    fake: FakeSlack

    @property
    def core(self) -> Core:
        return self.server.core

    async def mail(self, raw: bytes) -> None:
        """Sent over SMTP, then processed as the processor does."""
        await send(self.smtp.port, raw)
        await self.smtp.processor.run_once()

    async def staff_posts(self) -> list[dict[str, Any]]:
        return [call.body for call in await deliver_outbox(self.core, self.fake)]

    async def get(self, path: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
        url = f"http://127.0.0.1:{self.server.http_port}{path}"
        async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
            return response.status, await response.read(), dict(response.headers)


MakeDoor = Callable[..., Awaitable[Door]]


@pytest.fixture
async def make_door(
    settings: Settings, clock: FrozenClock, domain: Core, fake: FakeSlack
) -> AsyncIterator[MakeDoor]:
    started: list[tuple[Server, SMTPServer]] = []

    async def make(**overrides: Any) -> Door:
        values = {
            "http_port": 0,
            "public_url": PUBLIC_URL,
            "smtp_max_message_size": 16 * MIB,  # a 9 MiB file is ~12.2 MiB in base64
            **overrides,
        }
        server = Server(
            settings.model_copy(update=values), components=[web_pages], migrate=False, clock=clock
        )
        await server.start()
        smtp = SMTPServer(server.core, host="127.0.0.1", port=0, process=False)
        await smtp.start()
        started.append((server, smtp))
        return Door(server, smtp, fake)

    try:
        yield make
    finally:
        for server, smtp in started:
            await smtp.stop()
            await server.stop()


def mail_with(*files: tuple[str, bytes, str], subject: str = "資料の送付") -> bytes:
    """A mail with ``files`` as (name, bytes, declared type) attachments."""
    msg = EmailMessage()
    msg["From"] = "Taro Yamada <user@customer.example>"
    msg["To"] = CONTACT
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg.set_content("資料をお送りします。ご確認ください。")
    for name, data, declared in files:
        maintype, subtype = declared.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=SMTP)


def pdf(size: int) -> bytes:
    body = os.urandom(size - 32)
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + body[: size - 32 - 6] + b"\n%%EOF\n" + b" " * 12


async def stored(core: Core) -> tuple[list[Attachment], int]:
    async with core.uow() as uow:
        rows = list((await uow.session.scalars(select(Attachment).order_by(Attachment.id))).all())
        blobs = (await uow.session.scalar(select(func.count()).select_from(AttachmentBlob))) or 0
        return rows, blobs


def links_in(post: dict[str, Any]) -> list[str]:
    return LINK.findall(json.dumps(post, ensure_ascii=False))


async def test_a_9_mib_pdf_by_mail_is_stored_and_its_link_downloads_the_identical_bytes(
    make_door: MakeDoor,
) -> None:
    door = await make_door()
    data = pdf(9 * MIB)
    await door.mail(mail_with(("見積書 2026年度.pdf", data, "application/octet-stream")))

    [request] = await requests_of(door.core)
    [attachment], blobs = await stored(door.core)
    assert blobs == 1
    assert (attachment.owner_kind, attachment.owner_id) == ("request", request.id)
    assert attachment.name == "見積書 2026年度.pdf"
    assert attachment.size == len(data) and attachment.content_type == "application/pdf"

    [post] = await door.staff_posts()
    text = posted_text(post)
    assert "見積書 2026年度.pdf" in text and "9.0 MiB" in text
    assert "2026年12月26日（土）" in text  # the links' last day: 30 days, in JST
    [token] = links_in(post)

    status, body, headers = await door.get(f"/files/{token}")
    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"___ 2026__.pdf\"; filename*=UTF-8''"
        "%E8%A6%8B%E7%A9%8D%E6%9B%B8%202026%E5%B9%B4%E5%BA%A6.pdf"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"].startswith("private")
    assert headers["Referrer-Policy"] == "no-referrer"


def posted_text(post: dict[str, Any]) -> str:
    return json.dumps(post, ensure_ascii=False)


async def test_an_oversize_attachment_is_refused_clearly_and_nothing_is_half_stored(
    make_door: MakeDoor,
) -> None:
    door = await make_door(attachment_max_bytes=1 * MIB)
    await door.mail(
        mail_with(
            ("memo.txt", b"small and fine\n", "text/plain"), ("big.pdf", pdf(2 * MIB), "application/pdf")
        )
    )

    [request] = await requests_of(door.core)  # still a request
    assert await stored(door.core) == ([], 0)  # not even the small file
    [post] = await door.staff_posts()
    text = posted_text(post)
    assert "添付ファイル「big.pdf」は1 MiBを超えているため、お受けできませんでした。" in text
    assert "このメールの添付ファイルは保存されていません" in text
    assert "memo.txt" in text and "big.pdf" in text
    assert not links_in(post)
    [ack] = await outbox_of(door.core, template="request_ack")
    assert "big.pdf" in ack.context["attachments_note"]
    assert "1 MiB以下に分けるか圧縮して、あらためてお送りください。" in ack.context["attachments_note"]
    mailed = MailTemplates(door.core.settings).render("request_ack", ack.locale, ack.context)
    assert ack.context["attachments_note"] in mailed.text and "big.pdf" in mailed.html
    assert request.subject == "資料の送付"


async def test_eleven_attachments_are_refused_together_and_the_mail_is_still_a_request(
    make_door: MakeDoor,
) -> None:
    door = await make_door()
    files = [(f"page{n}.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png") for n in range(11)]
    await door.mail(mail_with(*files))

    assert len(await requests_of(door.core)) == 1
    assert await stored(door.core) == ([], 0)
    [post] = await door.staff_posts()
    assert "添付ファイルが11個あり、1通あたりの上限（10個）を超えているため" in posted_text(post)
    [ack] = await outbox_of(door.core, template="request_ack")
    assert "11" in ack.context["attachments_note"]


async def test_a_forged_expired_or_unknown_link_is_one_and_the_same_404(
    make_door: MakeDoor, clock: FrozenClock
) -> None:
    door = await make_door()
    await door.mail(mail_with(("report.pdf", pdf(4096), "application/pdf")))
    [post] = await door.staff_posts()
    [token] = links_in(post)
    attachment_id, expires, signature = token.split(".")
    assert (await door.get(f"/files/{token}"))[0] == 200

    bad = [
        f"{attachment_id}.{expires}.{'0' * 32}",  # forged signature
        f"{int(attachment_id) + 1}.{expires}.{signature}",  # another file
        f"{attachment_id}.{int(expires) + 86400}.{signature}",  # a later end
        f"999999.{expires}.{signature}",  # unknown file
        "not-a-token",
    ]
    pages = [await door.get(f"/files/{t}", **{"Accept-Language": "ja"}) for t in bad]
    assert {status for status, _b, _h in pages} == {404}
    assert len({body for _s, body, _h in pages}) == 1  # nothing tells them apart
    body = pages[0][1].decode()
    assert "このリンクはご利用いただけません" in body and "report.pdf" not in body

    clock.advance(timedelta(days=31))
    status, expired, _headers = await door.get(f"/files/{token}", **{"Accept-Language": "ja"})
    assert (status, expired) == (404, pages[0][1])
    status, english, _headers = await door.get(f"/files/{token}?lang=en")
    assert status == 404 and "This link cannot be used" in english.decode()


async def test_guessing_links_is_throttled_like_the_password_pages(make_door: MakeDoor) -> None:
    door = await make_door()
    for n in range(5):
        assert (await door.get(f"/files/{n + 1}.9999999999.{'a' * 32}"))[0] == 404
    status, body, _headers = await door.get(f"/files/6.9999999999.{'a' * 32}", **{"Accept-Language": "ja"})
    assert status == 429 and "しばらくお待ちください" in body.decode()


async def test_path_and_control_characters_in_names_are_sanitised(make_door: MakeDoor) -> None:
    door = await make_door()
    raw = mail_with(
        ("../../etc/passwd", b"root:x:0:0\n", "text/plain"),
        ("invoice\u202efdp.exe", b"MZ\x90\x00" + bytes(60), "application/pdf"),
        ("CRLF", b"hello\n", "text/plain"),
    )
    # A name with CR/LF (RFC 2231 percent-encoded: the only way through a header).
    raw = raw.replace(b'filename="CRLF"', b"filename*=utf-8''a%0D%0AX-Evil%3A%201%0D%0A%0D%0Ab.txt")
    await door.mail(raw)
    rows, _blobs = await stored(door.core)
    names = [row.name for row in rows]
    assert names == ["passwd", "invoicefdp.exe", "aX-Evil_ 1b.txt"]
    [post] = await door.staff_posts()
    for token in links_in(post):
        status, _body, headers = await door.get(f"/files/{token}")
        assert status == 200
        disposition = headers["Content-Disposition"]
        assert disposition.startswith("attachment; ")
        assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition


async def test_an_html_file_declared_as_png_is_served_as_what_its_bytes_are_as_an_attachment(
    make_door: MakeDoor,
) -> None:
    door = await make_door()
    page = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
    await door.mail(mail_with(("photo.png", page, "image/png")))
    [row], _blobs = await stored(door.core)
    assert row.content_type == "text/html"  # sniffed, not what the sender said
    [post] = await door.staff_posts()
    [token] = links_in(post)
    status, body, headers = await door.get(f"/files/{token}")
    assert status == 200 and body == page
    assert headers["Content-Type"] == "application/octet-stream"  # never run by a browser
    assert headers["Content-Disposition"].startswith("attachment; ")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]


async def test_a_follow_up_keeps_its_files_on_the_same_request_and_shows_them_in_the_thread(
    make_door: MakeDoor,
) -> None:
    door = await make_door()
    await door.mail(mail_with(subject="お問い合わせ"))
    [new] = await door.staff_posts()
    [ack] = await outbox_of(door.core, template="request_ack")
    reply = EmailMessage()
    reply["From"] = "user@customer.example"
    reply["To"] = CONTACT
    reply["Subject"] = "Re: お問い合わせ"
    reply["In-Reply-To"] = ack.message_id
    reply.set_content("追加の資料です。")
    reply.add_attachment(
        b"%PDF-1.4\n" + bytes(500), maintype="application", subtype="pdf", filename="追加.pdf"
    )
    await door.mail(reply.as_bytes(policy=SMTP))

    [request] = await requests_of(door.core)
    [row], _blobs = await stored(door.core)
    assert (row.owner_kind, row.owner_id, row.name) == ("request", request.id, "追加.pdf")
    _new, followup = await door.staff_posts()
    assert followup["thread_ts"]  # in the request's thread
    assert "追加.pdf" in posted_text(followup) and links_in(followup)
    assert not links_in(new)


async def test_staff_posts_escape_file_names(make_door: MakeDoor) -> None:
    door = await make_door()
    await door.mail(mail_with(("<!channel> <@U123> R&D.pdf", b"%PDF-1.4\n" + bytes(50), "application/pdf")))
    [row], _blobs = await stored(door.core)
    assert row.name == "_!channel_ _@U123_ R&D.pdf"  # < > | are never part of a name
    [post] = await door.staff_posts()
    text = posted_text(post)
    assert "<!channel>" not in text and "<@U123>" not in text
    assert "|_!channel_ _@U123_ R&amp;D.pdf>" in text  # the link's text, escaped


async def test_a_queued_mail_listing_files_gets_fresh_links_when_it_is_rendered(make_door: MakeDoor) -> None:
    door = await make_door()
    async with door.core.uow() as uow:
        [info] = await attachments.store(
            uow, "inquiry_message", 3, [attachments.NewFile("回答.pdf", pdf(3000))]
        )
        enqueue_mail(uow, "staff_reply", ["user@customer.example"], {"attachments": [info.summary()]})
        await uow.commit()
    [row] = await outbox_of(door.core, channel="mail")
    assert "url" not in json.dumps(row.context) and not row.sealed  # no bearer link at rest
    async with door.core.uow() as uow:
        [claimed] = await delivery.claim(uow, "test-worker", ("mail",))
    context = claimed.context
    [linked] = context["attachments"]
    assert linked["size_text"] == "2.9 KiB" and context["attachments_until"] == "2026年12月26日（土）"
    for locale in ("ja", "en"):
        text = environment().get_template(f"mail/{locale}/_attachments.txt.j2").render(context)
        html = environment().get_template(f"mail/{locale}/_attachments.html.j2").render(context)
        assert linked["url"] in text and "回答.pdf" in text and f'href="{linked["url"]}"' in html
    [token] = LINK.findall(linked["url"])
    status, body, _headers = await door.get(f"/files/{token}")
    assert status == 200 and body.startswith(b"%PDF-1.7")


async def test_downloads_beyond_the_in_flight_cap_are_told_to_retry(make_door: MakeDoor) -> None:
    door = await make_door()
    await door.mail(mail_with(("a.pdf", pdf(4096), "application/pdf")))
    [token] = links_in((await door.staff_posts())[0])
    [links] = [
        r.handler.__self__
        for r in door.server.app.router.routes()
        if r.resource and r.resource.canonical == files.ROUTE and r.method == "GET"
    ]  # type: ignore[attr-defined]
    links.in_flight = files.MAX_DOWNLOADS_IN_FLIGHT
    status, _body, headers = await door.get(f"/files/{token}")
    assert status == 503 and headers["Cache-Control"] == "no-store"
    links.in_flight = 0
    assert (await door.get(f"/files/{token}"))[0] == 200
