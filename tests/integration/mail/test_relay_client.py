"""The relay sessions' own SMTP client (``mail.smtp_client``), over real SMTP: STARTTLS
with the relay's certificate checked, AUTH after it, MAIL/RCPT/DATA pipelined where the
relay offers PIPELINING (and one at a time where it does not), the message's lines sent
as they are (leading dots doubled on the wire, undone by the relay)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from core.outbox import enqueue_mail
from core.unit_of_work import Core
from mail.smtp_client import SmtpClient
from tests.integration.mail.conftest import Sink, free_port, outbox_of, worker_for
from tests.integration.mail.test_smtp_tls import _certificate

CONTEXT = {"username": "taro@customer.example", "company": "顧客A", "last_name": "山田", "first_name": "太郎"}


async def _queue(core: Core, *recipients: list[str]) -> list[int]:
    async with core.uow() as uow:
        rows = [enqueue_mail(uow, "username_reminder", to, CONTEXT) for to in recipients]
        await uow.commit()
        return [row.id for row in rows]


def _tls_relay(tmp_path: Path, handler: Sink, seen: list[tuple[bytes, bytes]]) -> tuple[Controller, Path]:
    """A relay that requires STARTTLS (a certificate for 127.0.0.1 made here), then AUTH."""
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            seen.append((data.login, data.password))
            return AuthResult(success=data.login == b"mado" and data.password == b"s3cret")
        return AuthResult(success=False)

    handler.port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=handler.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    return controller, cert


async def test_starttls_checks_the_relays_certificate_then_logs_in(
    domain: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, seen = Sink(), []
    controller, cert = _tls_relay(tmp_path, handler, seen)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's CAs: here, our test certificate
    try:
        await _queue(domain, ["a@customer.example"], ["b@customer.example"])
        domain.settings.relay_url = f"smtp+starttls://mado:s3cret@127.0.0.1:{handler.port}"
        domain.settings.relay_connections = 1
        await worker_for(domain).drain()
    finally:
        controller.stop()
    assert [rcpts for _f, rcpts, _raw in handler.messages] == [["a@customer.example"], ["b@customer.example"]]
    assert seen == [(b"mado", b"s3cret")], "logged in once, over the one session"
    assert [r.status for r in await outbox_of(domain)] == ["sent", "sent"]


async def test_a_relay_certificate_nobody_trusts_sends_nothing_and_is_retried(
    domain: Core, tmp_path: Path
) -> None:
    handler, seen = Sink(), []
    controller, _cert = _tls_relay(tmp_path, handler, seen)
    try:
        await _queue(domain, ["a@customer.example"])
        domain.settings.relay_url = f"smtp+starttls://mado:s3cret@127.0.0.1:{handler.port}"
        await worker_for(domain).drain()
    finally:
        controller.stop()
    assert handler.messages == [] and seen == [], "no password to a relay we cannot verify"
    [row] = await outbox_of(domain)
    assert row.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in row.last_error


class _PipeliningRelay:
    """A relay that offers PIPELINING and answers a transaction only once it has read all
    of it, up to DATA: a client waiting for the answer to MAIL before sending RCPT never
    gets one (its message times out and stays queued)."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.messages: list[tuple[bytes, list[bytes], bytes]] = []
        self.connections = 0
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"220 relay ready\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-relay\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb in (b"RSET", b"NOOP"):
                    writer.write(b"250 OK\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                elif verb == b"MAIL":
                    await self._transaction(line, reader, writer)
                else:
                    writer.write(b"502 not here\r\n")
                await writer.drain()
        finally:
            writer.close()

    async def _transaction(
        self, mail: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        rcpts: list[bytes] = []
        while (line := await reader.readline()) != b"DATA\r\n":  # nothing answered until DATA
            assert line.upper().startswith(b"RCPT TO:<"), line
            rcpts.append(line[9:].split(b">")[0])
        answers = [b"550 5.1.1 no such user" if r.decode() in self.refuse else b"250 OK" for r in rcpts]
        accepted = [r for r, a in zip(rcpts, answers, strict=True) if a.startswith(b"250")]
        writer.write(b"250 OK\r\n" + b"".join(a + b"\r\n" for a in answers))
        if not accepted:
            writer.write(b"554 5.5.1 no valid recipients\r\n")
            return
        writer.write(b"354 go ahead\r\n")
        data = b""
        while (line := await reader.readline()) != b".\r\n":
            data += line
        self.messages.append((mail, accepted, data))
        writer.write(b"250 2.0.0 queued\r\n")


async def test_with_pipelining_a_message_is_one_write_and_refusals_are_read_per_recipient(
    domain: Core,
) -> None:
    relay = _PipeliningRelay(refuse=frozenset({"gone@customer.example", "nobody@customer.example"}))
    await relay.start()
    try:
        first, refused, last = await _queue(
            domain,
            ["ok@customer.example", "gone@customer.example"],
            ["nobody@customer.example"],
            ["late@customer.example"],
        )
        domain.settings.relay_url = f"smtp://127.0.0.1:{relay.port}"
        domain.settings.relay_connections = 1
        domain.settings.relay_timeout_seconds = 5
        await worker_for(domain).drain()
    finally:
        await relay.stop()
    assert [accepted for _m, accepted, _d in relay.messages] == [
        [b"ok@customer.example"],
        [b"late@customer.example"],
    ]
    assert relay.connections == 1, "one session, reset after the refused mail"
    rows = {r.id: r for r in await outbox_of(domain, channel="mail")}
    assert rows[first].status == "sent"
    assert rows[refused].status == "failed" and "550" in rows[refused].last_error
    assert rows[last].status == "sent"
    alerted = {a.context["params"]["address"] for a in await outbox_of(domain, channel="slack")}
    assert "gone@customer.example" in alerted, "the refusal among accepted recipients read and told"
    assert b"Subject:" in relay.messages[0][2]


async def test_a_message_reaches_the_relay_byte_for_byte_with_its_leading_dots(sink: Sink) -> None:
    raw = b"Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend of a bare LF line\nlast"
    client = await SmtpClient.open("127.0.0.1", sink.port, local_hostname="madoguchi.test")
    try:
        assert "pipelining" not in client.extensions  # aiosmtpd: one command at a time
        delivery = await client.send_mail(
            b"MAIL FROM:<bounce@support.example.com>\r\n", [b"RCPT TO:<a@customer.example>\r\n"], raw
        )
    finally:
        await client.quit()
    assert delivery.data is not None and delivery.data.code == 250
    [(mail_from, rcpts, content)] = sink.messages
    assert (mail_from, rcpts) == ("bounce@support.example.com", ["a@customer.example"])
    assert content == raw.replace(b"line\nlast", b"line\r\nlast") + b"\r\n"
