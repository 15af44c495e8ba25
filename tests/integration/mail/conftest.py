"""Fixtures for the mail door: our SMTP server on the test's loop, a relay sink, helpers."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from core.models import InboundMail, OutboxMessage, Request
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from mail.smtp import SMTPServer
from mail.transport import build_transport

CONTACT = "contact@support.example.com"


@pytest.fixture
async def smtp(domain: Core) -> AsyncIterator[SMTPServer]:
    """Our server on port 0; processing is driven by the test (``smtp.processor.run_once``)."""
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, max_sessions=5, max_recipients=3)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def send_sync(
    port: int, raw: bytes, mail_from: str = "user@customer.example", to: list[str] | None = None
) -> Any:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(mail_from, to or [CONTACT], raw)


async def send(
    port: int, raw: bytes, mail_from: str = "user@customer.example", to: list[str] | None = None
) -> Any:
    """smtplib in a thread: our server runs on this loop, so the client must not block it."""
    return await asyncio.to_thread(send_sync, port, raw, mail_from, to)


def make_mail(
    subject: str = "お問い合わせ",
    body: str = "製品について質問があります。",
    sender: str = "Taro Yamada <user@customer.example>",
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = CONTACT
    msg["Subject"] = subject
    msg["Message-ID"] = headers.pop("message_id", None) or make_msgid(domain="customer.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


async def requests_of(core: Core) -> list[Request]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(Request).order_by(Request.number))).all())


async def inbound_of(core: Core) -> list[InboundMail]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(InboundMail).order_by(InboundMail.id))).all())


async def outbox_of(
    core: Core, channel: str | None = None, template: str | None = None
) -> list[OutboxMessage]:
    async with core.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if channel:
            query = query.where(OutboxMessage.channel == channel)
        if template:
            query = query.where(OutboxMessage.template == template)
        return list((await uow.session.scalars(query)).all())


@dataclass
class Sink:
    """A relay stand-in: records every message; ``replies`` scripts RCPT/DATA answers."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    # Queue of status lines answered at DATA before accepting (e.g. "451 4.3.0 busy").
    data_replies: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    port: int = 0
    # Connections opened (one EHLO each), and the connection each message came over.
    connections: int = 0
    peers: list[Any] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.connections += 1
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.peers.append(session.peer)
        return "250 OK"


def free_port() -> int:
    """aiosmtpd's Controller connects to its own port to confirm start-up, so it needs a
    real number rather than 0; the OS hands one out and we release it at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(handler: Sink) -> Controller:
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    return controller


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = Sink()
    controller = start_sink(handler)
    try:
        yield handler
    finally:
        controller.stop()


def worker_for(core: Core, sink: Sink | None = None, **kwargs: Any) -> OutboxWorker:
    """Core's outbox worker with the mail door's transport (the relay ``sink``, else what
    the settings say), as ``madoguchi serve`` wires it."""
    if sink is not None:
        core.settings.relay_url = f"smtp://127.0.0.1:{sink.port}"
    return OutboxWorker(core, build_transport(core.settings), **kwargs)
