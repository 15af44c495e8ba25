"""Delivery reports over real SMTP (issue 16, item 1): a report is believed only when it
comes back to the signed return path of mail we sent, and then marks only that mail's
recipients; anything else a stranger mails us stays text in the staff channel, and
bounce alerts are grouped and capped."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import contact_window
from core.clock import FrozenClock
from core.models import MailAddressState
from core.outbox import enqueue_mail, enqueue_slack
from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.fakeslack import FakeSlack
from tests.integration.mail.conftest import CONTACT, Sink, inbound_of, make_mail, outbox_of, requests_of, send
from tests.integration.mail.staff_room import LIVE_MARKUP, deliver_outbox, posted

HOSTILE = [
    "a<!channel>@x.example",
    "b<!here>@x.example",
    "c<@U0123ABCD>@x.example",
    "d<http://evil.example|click>@x.example",
]

PERSON = {"company": "顧客A", "last_name": "山田", "first_name": "太郎"}


def report(
    recipients: list[str], *, to: str = CONTACT, subject: str = "Undelivered Mail Returned to Sender"
) -> bytes:
    """A multipart/report DSN (RFC 3464) naming ``recipients`` as failed."""
    blocks = "".join(
        f"Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <!here> unknown <http://evil.example|login>\r\n\r\n"
        for r in recipients
    )
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.attacker.example>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered. <!channel>\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.attacker.example\r\n\r\n"
        f"{blocks}"
        "--B--\r\n"
    ).encode()


async def _bounced(core: Core) -> set[str]:
    async with core.uow() as uow:
        return set((await uow.session.scalars(select(MailAddressState.email))).all())


async def test_forged_reports_to_the_contact_address_mark_nothing_and_reach_slack_as_text(
    domain: Core, smtp: SMTPServer, fake: FakeSlack
) -> None:
    """Before: 5 reports × 100 Final-Recipients = 500 alerts, <!channel> live in each, and
    every named address silenced for 60 days."""
    for n in range(5):
        names = [*HOSTILE, *(f"victim{n}-{i}@customer.example" for i in range(96))]
        await send(smtp.port, report(names, subject=f"<!channel> Undelivered {n}"), mail_from="")
    outcomes = await smtp.processor.run_once()
    assert [o.kind for o in outcomes] == ["request"] * 5
    assert not any(o.acknowledged for o in outcomes)
    assert await _bounced(domain) == set()
    assert await outbox_of(domain, template="staff_alert") == []
    assert len(await inbound_of(domain)) == 5  # every one kept

    posts = await deliver_outbox(domain, fake)
    assert len(posts) == 5  # one post per mail, as for any request
    for post in posts:
        text = posted(post)
        assert not LIVE_MARKUP.search(text), text
        assert "&lt;!channel&gt;" in text
        assert "当方が送信したメールへの返送ではありません" in text  # what staff are told


async def test_a_report_to_a_signed_return_path_marks_only_that_mails_recipients(
    domain: Core, smtp: SMTPServer, sink: Sink, fake: FakeSlack
) -> None:
    await send(smtp.port, make_mail(), mail_from="user@customer.example")
    [request] = await smtp.processor.run_once()
    assert request.acknowledged
    await deliver_outbox(domain, fake, sink)
    [(return_path, rcpts, _raw)] = sink.messages
    [ack] = await outbox_of(domain, template="request_ack")
    assert rcpts == ["user@customer.example"]
    assert return_path == contact_window.return_path(domain.settings, ack.id)  # the envelope sender (VERP)

    named = ["user@customer.example", "victim@other.example", *HOSTILE]
    await send(smtp.port, report(named, to=return_path), mail_from="", to=[return_path])
    [outcome] = await smtp.processor.run_once()
    assert outcome.kind == "bounce" and outcome.marked == 1
    assert await _bounced(domain) == {"user@customer.example"}
    assert len(await requests_of(domain)) == 1  # a report about our mail is not a request
    [alert] = await outbox_of(domain, template="staff_alert")
    assert alert.context["message_id"] == "contact.alert.bounce"
    assert alert.context["params"]["addresses"] == "user@customer.example"

    # The next acknowledgement to that address is withheld.
    await send(smtp.port, make_mail(subject="別件"), mail_from="user@customer.example")
    [later] = await smtp.processor.run_once()
    assert later.ack_refused == "bounced"


async def test_a_forged_signature_on_a_return_path_is_refused_at_rcpt(domain: Core, smtp: SMTPServer) -> None:
    local, _, host = contact_window.return_path(domain.settings, 1).partition("@")
    forged = f"{local[:-10]}{'0' * 10}@{host}"
    refused = await send(smtp.port, report(["x@customer.example"]), mail_from="", to=[CONTACT, forged])
    assert forged in refused
    [stored] = await inbound_of(domain)
    assert stored.rcpt_tos == [CONTACT]


async def test_relay_refusals_become_one_grouped_alert_per_window_escaped_in_slack(
    domain: Core, sink: Sink, fake: FakeSlack, clock: FrozenClock
) -> None:
    """Before: one alert per refused recipient (20 per mail), the relay's text unescaped."""
    many = [f"gone{i}@customer.example" for i in range(30)]
    for address in [*many, "late@customer.example"]:
        sink.rcpt_replies[address] = "550 5.1.1 <!channel> user unknown <http://evil.example|x>"

    async def refused(*groups: list[str]) -> None:
        async with domain.uow() as uow:
            for group in groups:
                enqueue_mail(uow, "username_reminder", group, {"username": "taro@customer.example", **PERSON})
            await uow.commit()
        await deliver_outbox(domain, fake, sink)

    await refused(many[:25])
    assert await _bounced(domain) == set(many[:25])
    [alert] = await outbox_of(domain, template="staff_alert")
    params = alert.context["params"]
    assert alert.context["message_id"] == "contact.alert.delivery_failed"
    assert params["addresses"] == ", ".join(many[:5]) and params["count"] == 25
    [post] = fake.of("chat.postMessage")
    assert not LIVE_MARKUP.search(posted(post)) and "&lt;!channel&gt;" in posted(post)

    # Within the window: marked, audited, not posted.
    await refused(*([a] for a in many[25:]))
    assert await _bounced(domain) == set(many)
    assert len(await outbox_of(domain, template="staff_alert")) == 1
    assert len([r for r in await outbox_of(domain, channel="mail") if r.status == "failed"]) == 6

    # After it, the next refusal alerts again and counts what was held back.
    clock.advance(timedelta(minutes=11))
    await refused(["late@customer.example"])
    alerts = await outbox_of(domain, template="staff_alert")
    assert len(alerts) == 2
    assert alerts[1].context["params"]["addresses"] == "late@customer.example"
    assert alerts[1].context["params"]["count"] == 6  # the 5 held back, and this one


async def test_a_report_about_a_row_that_is_not_mail_marks_nothing(domain: Core, smtp: SMTPServer) -> None:
    async with domain.uow() as uow:
        row = enqueue_slack(uow, "staff_alert", {"message_id": "contact.alert.processing_failed"})
        await uow.commit()
        row_id = row.id
    path = contact_window.return_path(domain.settings, row_id)
    await send(smtp.port, report(["user@customer.example"], to=path), mail_from="", to=[path])
    [outcome] = await smtp.processor.run_once()
    assert outcome.kind == "bounce" and outcome.marked == 0
    assert await _bounced(domain) == set()
