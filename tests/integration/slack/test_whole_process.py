"""One `serve` process with every door: a mail to the contact window becomes a request,
the outbox worker posts it to the staff channel, and staff close it from that post."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiohttp
import aiosmtplib
from sqlalchemy import select

from core.config import Settings
from core.models import Request
from core.unit_of_work import Core
from madoguchi.serve import Server
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import BOT_TOKEN, SIGNING_SECRET, Slack


async def test_a_mailed_request_reaches_the_staff_channel_and_is_closed_from_slack(
    settings: Settings, fake: FakeSlack, domain: Core
) -> None:
    # ``domain`` empties the tables afterwards: the request, inbound mail and outbox rows
    # this test leaves behind would otherwise show up in the next test on this database.
    configured = settings.model_copy(
        update={
            "http_port": 0,
            "smtp_port": 0,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.url,
        }
    )
    server = Server(configured, migrate=False)
    await server.start()
    try:
        smtp = next(c for c in server.components if c.name == "smtp")
        mail = EmailMessage()
        mail["From"] = "customer@customer-a.example.jp"
        mail["To"] = configured.contact_address
        mail["Subject"] = "サービスについての質問"
        mail["Message-ID"] = "<q1@customer-a.example.jp>"
        mail.set_content("保守契約の範囲について教えてください。")
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=smtp.server.port)  # type: ignore[attr-defined]

        for _ in range(200):
            if fake.of("chat.postMessage"):
                break
            await asyncio.sleep(0.05)
        post = fake.of("chat.postMessage")[0].body
        assert post["channel"] == "CSTAFF"
        buttons = [e for b in post["blocks"] for e in b.get("elements", []) if "action_id" in e]
        close = next(b for b in buttons if b["action_id"] == "staff_request_close")

        async with aiohttp.ClientSession() as session:
            door = next(c for c in server.components if c.name == "slack")
            slack = Slack(f"http://127.0.0.1:{server.http_port}/slack/events", door, fake, session)  # type: ignore[arg-type]
            await slack.interaction(
                slack.block_action(
                    close["action_id"],
                    close["value"],
                    user="USTAFF1",
                    channel="CSTAFF",
                    message_ts="1.000001",
                )
            )
        async with server.core.uow() as uow:
            request = await uow.session.scalar(select(Request))
        assert request is not None and request.status == "closed" and request.slack_channel == "CSTAFF"
    finally:
        await server.stop()
