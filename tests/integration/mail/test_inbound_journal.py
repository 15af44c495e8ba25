"""What operators and staff see of each inbound mail, over real SMTP (issue 16, item 8 and
the log line): one log line per processed mail with its request number and no personal
data, duplicates logged with the request they already made, and a subject whose encoded
words hide CR/LF shown on one line everywhere."""

from __future__ import annotations

import asyncio
import base64
import logging
import smtplib
from email.message import EmailMessage

import pytest

from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.fakeslack import FakeSlack
from tests.integration.mail.conftest import make_mail, outbox_of, requests_of, send
from tests.integration.mail.staff_room import LIVE_MARKUP, deliver_outbox, fake, posted

__all__ = ["fake"]

LOGGER = "madoguchi.contact_window"
README_SENDER = "taro.yamada@customer-a.example.jp"


def _readme_example(port: int) -> None:
    """README's "try it" line, verbatim: no Message-ID, no Date, so the same bytes twice."""
    m = EmailMessage()
    m["From"] = README_SENDER
    m["To"] = "contact@support.example.com"
    m["Subject"] = "パスワードを忘れました"
    m.set_content("ログインできません。")
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(m)


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def _everything(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())


async def test_the_same_message_twice_is_logged_with_the_request_it_made(
    domain: Core, smtp: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the second copy was answered 250 and dropped without a word."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    await asyncio.to_thread(_readme_example, smtp.port)
    [first] = await smtp.processor.run_once()
    assert first.kind == "request" and first.number is not None
    request = f"REQ-{first.number:06d}"

    await asyncio.to_thread(_readme_example, smtp.port)
    assert await smtp.processor.run_once() == []  # nothing new was stored
    for _ in range(100):  # logged in the background, after the 250
        if any(getattr(r, "outcome", "") == "duplicate" for r in _lines(caplog)):
            break
        await asyncio.sleep(0.02)
    processed, resent = _lines(caplog)
    assert processed.outcome == "request" and processed.request == request  # type: ignore[attr-defined]
    assert processed.category == "forgot_password"  # type: ignore[attr-defined]
    assert processed.sender_domain == "customer-a.example.jp"  # type: ignore[attr-defined]
    assert resent.outcome == "duplicate" and resent.request == request  # type: ignore[attr-defined]
    assert request in resent.getMessage()
    for record in (processed, resent):
        text = _everything(record)
        assert README_SENDER not in text and "taro.yamada" not in text and "ログインできません" not in text
    assert len(await requests_of(domain)) == 1


async def test_a_message_id_seen_before_is_a_duplicate_of_its_request(
    domain: Core, smtp: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    raw = make_mail(message_id="<same@customer.example>")
    await send(smtp.port, raw)
    await send(smtp.port, b"Received: from relay2.example by mx; Thu, 26 Nov 2026 10:00:00 +0900\r\n" + raw)
    first, second = await smtp.processor.run_once()
    assert second.kind == "duplicate" and second.number == first.number
    lines = _lines(caplog)
    assert [getattr(r, "outcome", None) for r in lines] == ["request", "duplicate"]
    assert f"REQ-{first.number:06d}" in lines[1].getMessage()


def _encoded(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


async def test_encoded_line_breaks_in_a_subject_and_name_become_one_line_everywhere(
    domain: Core, smtp: SMTPServer, fake: FakeSlack
) -> None:
    name = _encoded("山田\r\n太郎")
    subject = _encoded("ログインできません\r\n<!channel> 至急\u2028三行目")
    raw = (
        f"From: {name} <user@customer.example>\r\n"
        "To: contact@support.example.com\r\n"
        f"Subject: {subject}\r\n"
        "Message-ID: <crlf@customer.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "製品について質問があります。\r\n"
    ).encode()
    await send(smtp.port, raw)
    [outcome] = await smtp.processor.run_once()
    one_line = "ログインできません <!channel> 至急 三行目"
    [request] = await requests_of(domain)
    assert request.subject == one_line
    [post] = await outbox_of(domain, template="request_new")
    assert post.context["subject"] == one_line and post.context["sender_name"] == "山田 太郎"
    [ack] = await outbox_of(domain, template="request_ack")
    assert ack.context["subject"] == one_line and ack.context["name"] == "山田 太郎"

    [posted_new] = [c for c in await deliver_outbox(domain, fake) if "REQ-" in posted(c)]
    rows = next(b["text"]["text"] for b in posted_new.body["blocks"] if "至急" in str(b))
    assert rows.count("\n") == 2  # category, sender, subject: one line each
    assert not LIVE_MARKUP.search(posted(posted_new))
    assert outcome.number == request.number
