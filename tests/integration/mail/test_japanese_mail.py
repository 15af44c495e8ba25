"""Japanese mail over real SMTP as Windows clients send it: ISO-2022-JP carrying NEC
specials (①, ㈱) beside ordinary kanji, in an RFC 2047 subject and in the body."""

from __future__ import annotations

import base64

from sqlalchemy import select

from core.models import RequestMessage
from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import CONTACT, outbox_of, requests_of, send
from tests.unit.test_iso2022jp import cp50220

SUBJECT = "㈱サンプル商事 ログイン不可①"
BODY = "お世話になっております。\r\n㈱サンプル商事の髙橋です。\r\n管理画面にログインできません（エラー番号②）。\r\n"


def encoded_word(text: str) -> bytes:
    return b"=?ISO-2022-JP?B?" + base64.b64encode(cp50220(text)) + b"?="


def windows_mail(subject: str, body: str) -> bytes:
    return (
        b"From: " + encoded_word("髙橋 一郎") + b" <takahashi@customer.example>\r\n"
        b"To: " + CONTACT.encode() + b"\r\n"
        b"Subject: " + encoded_word(subject) + b"\r\n"
        b"Message-ID: <windows-1@customer.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n"
        b"\r\n" + cp50220(body)
    )


async def test_nec_specials_beside_ordinary_kanji_reach_staff_unchanged(
    domain: Core, smtp: SMTPServer
) -> None:
    await send(smtp.port, windows_mail(SUBJECT, BODY), mail_from="takahashi@customer.example")
    [outcome] = await smtp.processor.run_once()
    assert outcome.kind == "request"
    [request] = await requests_of(domain)
    assert request.subject == SUBJECT
    async with domain.uow() as uow:
        [message] = (
            await uow.session.scalars(select(RequestMessage).where(RequestMessage.direction == "in"))
        ).all()
    assert message.body == BODY.replace("\r\n", "\n")
    [post] = await outbox_of(domain, template="request_new")
    assert post.context["subject"] == SUBJECT
    assert post.context["sender_name"] == "髙橋 一郎"
    assert "㈱サンプル商事の髙橋です。" in post.context["excerpt"]
