"""Our own SMTP client for the relay sessions: a stream, a reply parser, and the few
commands a persistent session needs (EHLO/HELO, STARTTLS, AUTH PLAIN/LOGIN, RSET,
MAIL/RCPT/DATA, QUIT).

Why not aiosmtplib for the sessions: it costs ~110 µs of CPU per message more than the
protocol does (a future and a parser per command, a copy of the message per step), and
it sends one command at a time. When the relay offers PIPELINING (RFC 2920) a message
here is one write of ``MAIL``, every ``RCPT`` and ``DATA``, then the replies are read
in order: one round trip instead of three or more (docs/performance.md, issue 16).
Without PIPELINING the commands go one by one, as before.

The client says what the relay answered (``Reply``), raises ``ReplyError`` for a reply a
step cannot go on from, and ``SessionGone`` when the relay had closed the session
before it answered ``MAIL`` (``421`` or a closed stream): nothing of that message was
handed over. A stream that breaks later raises ``ConnectionError``. What follows from
the codes is ``mail.relay``'s.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Delivery", "Reply", "ReplyError", "SessionGone", "SmtpClient"]

_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    message: str


class ReplyError(Exception):
    """The relay answered ``code`` where the step needed another (the session is fine)."""

    def __init__(self, code: int, message: str, step: str) -> None:
        super().__init__(f"{step}: {code} {message}")
        self.code = code
        self.message = message


class SessionGone(ConnectionError):
    """The relay had closed the session before it answered MAIL."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The relay's answers to one message: to each RCPT in order, and to the data
    (``None`` when no recipient was accepted, so no data was sent)."""

    recipients: tuple[Reply, ...]
    data: Reply | None


def _data(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled, the end."""
    if message.count(b"\n") != message.count(b"\r\n") or b"\r" in message.replace(b"\r\n", b""):
        message = _LINE_ENDINGS.sub(b"\r\n", message)
    if message.startswith(b".") or b"\n." in message:
        message = _LEADING_DOT.sub(b"..", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return message + b".\r\n"


class SmtpClient:
    """One connection to the relay (see the module's text)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.extensions: dict[str, str] = {}

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        local_hostname: str,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> SmtpClient:
        """Connected and greeted; over TLS (the relay's certificate checked against the
        system's CAs and ``host``) when ``starttls``; logged in when ``username``."""
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        try:
            await client.expect(await client.reply(), (220,), "greeting")
            await client.greet(local_hostname)
            if starttls:
                if "starttls" not in client.extensions:
                    raise ReplyError(502, "the relay offers no STARTTLS", "STARTTLS")
                await client.expect(await client.command(b"STARTTLS\r\n"), (220,), "STARTTLS")
                await writer.start_tls(tls or ssl.create_default_context(), server_hostname=host)
                await client.greet(local_hostname)
            if username is not None:
                await client.login(username, password or "")
        except BaseException:
            client.close()
            raise
        return client

    # -- replies ----------------------------------------------------------------------------

    async def reply(self) -> Reply:
        """One reply, all its lines (``250-…`` continues, ``250 …`` ends)."""
        lines: list[str] = []
        while True:
            try:
                line = await self.reader.readline()
            except ValueError as exc:  # a line over the stream's limit: not a relay we know
                raise ConnectionError(f"reply line too long: {exc}") from exc
            if not line.endswith(b"\n"):
                raise ConnectionError("the relay closed the connection")
            code, more, text = line[:3], line[3:4], line[4:].rstrip(b"\r\n")
            if not code.isdigit():
                raise ConnectionError(f"not an SMTP reply: {line[:80]!r}")
            lines.append(text.decode("utf-8", "replace"))
            if more != b"-":
                return Reply(int(code), "\n".join(lines))

    async def command(self, line: bytes) -> Reply:
        self.writer.write(line)
        return await self.reply()

    @staticmethod
    async def expect(reply: Reply, codes: tuple[int, ...], step: str) -> Reply:
        if reply.code not in codes:
            raise ReplyError(reply.code, reply.message, step)
        return reply

    # -- session ----------------------------------------------------------------------------

    async def greet(self, local_hostname: str) -> None:
        """EHLO, and its extensions; HELO when the relay does not know EHLO."""
        reply = await self.command(b"EHLO " + local_hostname.encode("idna") + b"\r\n")
        if reply.code == 250:
            self.extensions = {}
            for line in reply.message.split("\n")[1:]:
                keyword, _sp, params = line.partition(" ")
                self.extensions[keyword.lower()] = params
            return
        await self.expect(
            await self.command(b"HELO " + local_hostname.encode("idna") + b"\r\n"), (250,), "HELO"
        )
        self.extensions = {}

    async def login(self, username: str, password: str) -> None:
        """AUTH PLAIN, else AUTH LOGIN, as the relay offers."""
        offered = self.extensions.get("auth", "").upper().split()
        user, secret = username.encode(), password.encode()
        if "PLAIN" in offered or "LOGIN" not in offered:
            token = base64.b64encode(b"\0" + user + b"\0" + secret)
            await self.expect(await self.command(b"AUTH PLAIN " + token + b"\r\n"), (235,), "AUTH")
            return
        await self.expect(await self.command(b"AUTH LOGIN\r\n"), (334,), "AUTH")
        await self.expect(await self.command(base64.b64encode(user) + b"\r\n"), (334,), "AUTH")
        await self.expect(await self.command(base64.b64encode(secret) + b"\r\n"), (235,), "AUTH")

    async def reset(self) -> None:
        await self.expect(await self.command(b"RSET\r\n"), (250,), "RSET")

    async def send_mail(self, mail_from: bytes, rcpt_to: Sequence[bytes], message: bytes) -> Delivery:
        """One message: ``mail_from`` and each of ``rcpt_to`` are whole command lines.

        Raises ``SessionGone`` (nothing handed over), ``ReplyError`` for a refused MAIL
        (every reply of the pipeline read: the session can go on after a RSET) and
        ``ConnectionError`` when the stream breaks later."""
        pipelining = "pipelining" in self.extensions
        try:
            if pipelining:
                self.writer.write(b"".join((mail_from, *rcpt_to, b"DATA\r\n")))
            else:
                self.writer.write(mail_from)
            sender = await self.reply()
        except (ConnectionError, OSError) as exc:
            raise SessionGone(str(exc) or type(exc).__name__) from exc
        if sender.code == 421:
            raise SessionGone(f"421 {sender.message}")
        if pipelining:
            recipients = tuple([await self.reply() for _ in rcpt_to])
            started = await self.reply()
            accepted = sender.code == 250 and any(r.code in (250, 251) for r in recipients)
            if started.code == 354 and not accepted:  # a relay that started DATA after all
                await self.command(b".\r\n")  # end it empty
                started = Reply(503, "no message sent")
        else:
            if sender.code != 250:
                raise ReplyError(sender.code, sender.message, "MAIL")
            recipients = tuple([await self.command(line) for line in rcpt_to])
            if not any(r.code in (250, 251) for r in recipients):
                return Delivery(recipients, None)
            started = await self.command(b"DATA\r\n")
        if sender.code != 250:
            raise ReplyError(sender.code, sender.message, "MAIL")
        if not any(r.code in (250, 251) for r in recipients):
            return Delivery(recipients, None)
        if started.code != 354:
            return Delivery(recipients, started)
        return Delivery(recipients, await self.command(_data(message)))

    def connected(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    async def quit(self) -> None:
        try:
            await self.command(b"QUIT\r\n")
        finally:
            self.close()

    def close(self) -> None:
        self.writer.close()
