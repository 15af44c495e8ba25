"""One log line per SMTP transaction at the door — accepted, duplicate, or refused with a
reason code — and one per session the door turns away; never an address."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from unittest.mock import ANY

import pytest

from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import CONTACT, make_mail, send

SENDER = "taro.private@customer.example"


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        {key: getattr(r, key) for key in ("client", "result", "reason", "bytes") if hasattr(r, key)}
        for r in caplog.records
        if r.name == "madoguchi.mail.smtp" and r.getMessage() in ("smtp transaction", "smtp session closed")
    ]


def _no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        if record.name.startswith("madoguchi"):
            text = record.getMessage() + repr(vars(record))
            assert "@" not in text, text


async def test_each_transaction_is_logged_once_with_its_result_and_no_address(
    smtp: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="madoguchi")
    raw = make_mail(sender=f"Taro <{SENDER}>")
    await send(smtp.port, raw, mail_from=SENDER)
    await send(smtp.port, raw, mail_from=SENDER)  # the same bytes again: a duplicate
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await send(smtp.port, raw, mail_from=SENDER, to=["nobody@support.example.com"])
    other = make_mail(subject="別件")
    result = await send(smtp.port, other, mail_from=SENDER, to=[CONTACT] * 4)  # cap is 3
    assert [code for code, _m in result.values()] == [452]
    assert _lines(caplog) == [
        {"client": "127.0.0.1", "result": "accepted", "bytes": len(raw)},
        {"client": "127.0.0.1", "result": "duplicate", "bytes": len(raw)},
        {"client": "127.0.0.1", "result": "refused", "reason": "rejected_rcpt"},
        {"client": "127.0.0.1", "result": "accepted", "bytes": len(other)},
    ]
    _no_personal_data(caplog)


async def test_refusals_at_data_and_at_the_door_are_logged_with_their_reason(
    domain: Core, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="madoguchi")
    domain.settings.smtp_max_message_size = 2000
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, max_sessions=1)
    await server.start()
    try:
        with pytest.raises(smtplib.SMTPException):  # SIZE declared at MAIL: refused there
            await send(server.port, make_mail(body="あ" * 3000), mail_from=SENDER)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"HELO c\r\nMAIL FROM:<a@customer.example>\r\nRCPT TO:<contact@support.example.com>\r\n"
            b"DATA\r\n" + b"x" * 3000 + b"\r\n.\r\nQUIT\r\n"
        )
        replies = [await reader.readline() for _ in range(7)]
        assert replies[5].startswith(b"552")  # undeclared, found too large while read
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert (await reader.readline()).startswith(b"220")
        second = await asyncio.open_connection("127.0.0.1", server.port)
        assert (await second[0].readline()).startswith(b"421")
        writer.close()
        second[1].close()
    finally:
        await server.stop()
    lines = _lines(caplog)
    assert lines[0] == {"client": "127.0.0.1", "result": "refused", "reason": "too_large", "bytes": ANY}
    assert lines[1] == {"client": "127.0.0.1", "result": "refused", "reason": "too_large", "bytes": 3002}
    assert {"client": "127.0.0.1", "reason": "too_many_sessions"} in lines
    _no_personal_data(caplog)
