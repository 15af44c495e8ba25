"""Parsing stored mail within a time limit, over real SMTP: HTML that used to take hours, a
mail that overruns the limit (kept for staff, never retried), a parser process that dies."""

from __future__ import annotations

import asyncio
import os
import signal
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from sqlalchemy import select

from core.messages import render
from core.models import RequestMessage
from core.unit_of_work import Core
from mail import parser_process
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import CONTACT, inbound_of, make_mail, outbox_of, requests_of, send


def html_mail(markup: str, sender: str = "user@customer.example", subject: str = "HTML") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = CONTACT
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg.set_content(markup, subtype="html")
    return msg.as_bytes(policy=SMTP)


async def bodies(core: Core) -> dict[int, str]:
    async with core.uow() as uow:
        rows = (
            await uow.session.scalars(select(RequestMessage).where(RequestMessage.direction == "in"))
        ).all()
    return {row.request_id: row.body for row in rows}


async def test_two_megabytes_of_html_with_stray_angle_brackets_become_a_readable_request(
    domain: Core, smtp: SMTPServer
) -> None:
    """The regex this replaced rescanned to the end for every "<" without a ">": about an
    hour for this mail. Now it is read in well under the (default) limit."""
    markup = "<p>数式の表示について</p>" + "1 < 2 " * 350_000
    await send(smtp.port, html_mail(markup))
    [outcome] = await asyncio.wait_for(smtp.processor.run_once(), 120)
    assert outcome.kind == "request"
    [row] = await inbound_of(domain)
    assert not row.malformed and row.error == ""
    [body] = (await bodies(domain)).values()
    assert body.startswith("数式の表示について\n1 < 2 1 < 2 ")


async def test_a_mail_that_overruns_the_parse_limit_is_kept_for_staff_and_its_batch_goes_through(
    domain: Core, smtp: SMTPServer
) -> None:
    domain.settings.parse_timeout_seconds = 0.5
    # 6.4 MB of markup (8.8 MB in base64, under the 10 MiB the door takes), a tag every
    # 4 bytes: seconds of honest work, well past 0.5 s.
    heavy = html_mail("<b>x</b>" * 800_000, sender="heavy@customer.example")
    await send(smtp.port, make_mail(subject="first", sender="first@customer.example"))
    await send(smtp.port, heavy, mail_from="heavy@customer.example")
    await send(smtp.port, make_mail(subject="third", sender="third@customer.example"))

    outcomes = await smtp.processor.run_once()

    assert [o.kind for o in outcomes] == ["request", "request", "request"]
    assert [o.acknowledged for o in outcomes] == [True, False, True]
    assert outcomes[1].ack_refused == "unreadable"
    rows = await inbound_of(domain)
    assert [r.state for r in rows] == ["processed"] * 3
    assert rows[1].malformed and "timed out after 0.5 s" in rows[1].error
    assert rows[1].raw == heavy  # the original stays for whoever looks into it
    assert not rows[0].malformed and not rows[2].malformed
    requests = await requests_of(domain)
    assert [r.subject for r in requests] == ["first", render("contact.unreadable.subject"), "third"]
    assert requests[1].sender == "heavy@customer.example"
    body = (await bodies(domain))[requests[1].id]
    assert body == render(
        "contact.unreadable.body", reason=render("contact.unreadable.timed_out", seconds="0.5")
    )
    posts = await outbox_of(domain, template="request_new")
    assert [p.context["malformed"] for p in posts] == [False, True, False]
    acks = await outbox_of(domain, template="request_ack")
    assert sorted(a.recipients[0] for a in acks) == ["first@customer.example", "third@customer.example"]
    assert await smtp.processor.run_once() == []  # processed once, never parsed again


async def test_a_killed_parser_process_is_replaced_and_no_mail_is_blamed(
    domain: Core, smtp: SMTPServer
) -> None:
    await send(smtp.port, make_mail(subject="before"))
    assert [o.kind for o in await smtp.processor.run_once()] == ["request"]
    for parser in parser_process._idle:
        assert parser.pid is not None
        os.kill(parser.pid, signal.SIGKILL)  # the OOM killer, say, between two batches
        await asyncio.to_thread(parser.process.join, 5)
    await send(smtp.port, make_mail(subject="after", sender="other@customer.example"))
    [outcome] = await smtp.processor.run_once()
    assert outcome.kind == "request" and outcome.acknowledged
    assert [r.subject for r in await requests_of(domain)] == ["before", "after"]
    assert not any(r.malformed for r in await inbound_of(domain))
