from __future__ import annotations

from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import make_mail, outbox_of, requests_of, send


async def test_a_mail_to_the_contact_address_becomes_an_acknowledged_request(
    domain: Core, smtp: SMTPServer
) -> None:
    await send(smtp.port, make_mail())
    outcomes = await smtp.processor.run_once()
    assert [o.kind for o in outcomes] == ["request"]
    [request] = await requests_of(domain)
    assert request.category == "question"
    acks = await outbox_of(domain, template="request_ack")
    assert len(acks) == 1
    assert acks[0].recipients == ["user@customer.example"]
