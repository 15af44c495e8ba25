"""Persistent sessions to the SMTP relay: a small pool of connections (our own streaming
client, ``mail.smtp_client``: MAIL, RCPT and DATA in one write where the relay offers
PIPELINING) reused across messages.

Opening a connection (banner, EHLO, STARTTLS, AUTH) costs about as much as sending a
message (../shared/PERFORMANCE-BASELINES.md: 834 mails/s with a connection per mail vs
1,489 with persistent sessions), so a session stays open and carries one message after
another:

- at most ``MADOGUCHI_RELAY_CONNECTIONS`` sessions; the most recently used one is taken
  first, so under light load one session does the work and the others idle out;
- a session is hung up (``QUIT``) after ``MADOGUCHI_RELAY_MESSAGES_PER_CONNECTION``
  messages, after ``MADOGUCHI_RELAY_IDLE_SECONDS`` unused, and at once on any network
  error or when a message takes longer than ``MADOGUCHI_RELAY_TIMEOUT_SECONDS`` (a new
  session's greeting included); the next message opens a new one;
- ``RSET`` before a message whenever the session's previous transaction did not end
  with the relay's answer to DATA (a refused sender or recipient, an aborted DATA): the
  next message then starts from an empty envelope. A completed DATA ends its
  transaction by itself (RFC 5321 §4.1.1.4), so a healthy stream needs no extra round
  trip;
- a reused session that turns out to be gone at ``MAIL`` (the relay timed it out, said
  ``421``) is replaced and the message sent on the new one: nothing of it had been
  handed over yet.

The replies are read per recipient and told to core as a ``MailOutcome``: 5xx is for
good, 4xx for now; a 5xx to DATA refuses the mail for every recipient. A 4xx to DATA, any
refusal of our envelope sender, a network error and a refused session (EHLO, STARTTLS,
AUTH) raise: the row is tried again later, and no recipient is blamed. Whether
that is a retry, a failure or an alert is core's (``core.delivery``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from core.config import Settings
from core.ports import MailOutcome
from mail.smtp_client import ReplyError, SessionGone, SmtpClient

DELIVERED = MailOutcome("delivered")
# A session that is being hung up gets this long for its QUIT.
_QUIT_SECONDS = 5.0


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Relay:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls"):
            raise ValueError("MADOGUCHI_RELAY_URL must start with smtp:// or smtp+starttls://")
        starttls = parts.scheme == "smtp+starttls"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (587 if starttls else 25),
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(frozen=True)
class SessionLimits:
    max_messages: int = 100
    idle_seconds: float = 30.0
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionLimits:
        return cls(
            max_messages=settings.relay_messages_per_connection,
            idle_seconds=settings.relay_idle_seconds,
            timeout=settings.relay_timeout_seconds,
        )


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _outcome(recipients: Sequence[str], refused: dict[str, tuple[int, str]]) -> MailOutcome:
    """What the recipients' replies add up to (the DATA, if sent, was accepted)."""
    if not refused:
        return DELIVERED
    permanent = tuple(r for r, (code, _m) in refused.items() if _permanent(code))
    temporary = tuple(r for r, (code, _m) in refused.items() if not _permanent(code))
    detail = "; ".join(f"{r}: {code} {message}" for r, (code, message) in refused.items())[:500]
    if len(refused) == len(recipients):  # nobody got it
        if temporary:
            return MailOutcome("deferred", permanent, temporary, f"recipients deferred: {detail}")
        return MailOutcome("refused", permanent, None, detail)
    if temporary:
        return MailOutcome("deferred", permanent, temporary, detail)
    return MailOutcome("delivered", permanent, None, detail)


class _Gone(Exception):
    """A reused session was found closed at MAIL: nothing of the message was sent."""


# A plain dot-atom address: written into MAIL/RCPT as it is.
_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _path(address: str, utf8: bool) -> bytes:
    """``<address>`` for MAIL/RCPT: a plain address as it is, anything else reduced to
    its address part (a display name or comment has no place in the envelope)."""
    if not _SIMPLE_ADDRESS.fullmatch(address):
        address = parseaddr(address)[1] or address.strip().strip("<>")
    return b"<" + address.encode("utf-8" if utf8 else "ascii") + b">"


class RelaySession:
    """One connection to the relay, kept open across messages (see the module's text)."""

    def __init__(
        self,
        relay: Relay,
        limits: SessionLimits,
        local_hostname: Callable[[], Awaitable[str]],
        closing: set[asyncio.Task[None]],
    ) -> None:
        self.relay = relay
        self.limits = limits
        self.local_hostname = local_hostname
        self.client: SmtpClient | None = None
        self.connections = 0  # opened so far (tests, logs)
        self._messages = 0  # on the current connection
        self._clean = True  # no transaction open on the relay
        self._idle: asyncio.TimerHandle | None = None
        self._closing = closing

    # -- connection -----------------------------------------------------------------------

    async def _ready(self) -> tuple[SmtpClient, bool]:
        """A connected client with an empty envelope, and whether it was reused."""
        client = self.client
        if client is not None and client.connected() and self._messages < self.limits.max_messages:
            if self._clean:
                return client, True
            try:
                await client.reset()
                self._clean = True
                return client, True
            except (ReplyError, OSError):
                pass  # a session that cannot reset is not worth keeping
        self.hang_up()
        return await self._connect(), False

    async def _connect(self) -> SmtpClient:
        relay = self.relay
        # STARTTLS and AUTH as configured; raises (refused, unreachable): retried later.
        client = await SmtpClient.open(
            relay.host,
            relay.port,
            local_hostname=await self.local_hostname(),
            starttls=relay.starttls,
            username=relay.username,
            password=relay.password,
        )
        self.client = client
        self.connections += 1
        self._messages = 0
        self._clean = True
        return client

    def hang_up(self, *, polite: bool = True) -> None:
        """Close this session's connection (QUIT in the background when it is healthy)."""
        client, self.client = self.client, None
        if client is None:
            return
        if not polite or not client.connected():
            client.close()
            return
        task = asyncio.create_task(_quit(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def taken(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def returned(self) -> None:
        if self.client is not None:
            self._idle = asyncio.get_running_loop().call_later(self.limits.idle_seconds, self.hang_up)

    # -- one message ----------------------------------------------------------------------

    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> MailOutcome:
        """One message, connecting first when needed, within ``limits.timeout`` in all (one
        deadline per message rather than per reply)."""
        try:
            async with asyncio.timeout(self.limits.timeout):
                return await self._send(sender, recipients, message)
        except TimeoutError:
            self.hang_up(polite=False)  # a reply may still be on its way: this session is done
            raise

    async def _send(self, sender: str, recipients: Sequence[str], message: bytes) -> MailOutcome:
        client, reused = await self._ready()
        try:
            return await self._transaction(client, sender, recipients, message)
        except _Gone as gone:
            self.hang_up()
            if not reused:
                raise ConnectionError(f"the relay closed the session: {gone.__cause__}") from gone
        # The relay had closed a session we kept: nothing of this message went out yet.
        try:
            return await self._transaction(await self._connect(), sender, recipients, message)
        except _Gone as gone:
            self.hang_up()
            raise ConnectionError(f"the relay closed the session: {gone.__cause__}") from gone

    async def _transaction(
        self, client: SmtpClient, sender: str, recipients: Sequence[str], message: bytes
    ) -> MailOutcome:
        self._clean = False
        try:
            return await self._exchange(client, sender, recipients, message)
        except (ReplyError, _Gone):
            raise
        except (OSError, TimeoutError):  # ConnectionError included
            self.hang_up()  # network trouble: this connection is done
            raise

    async def _exchange(
        self, client: SmtpClient, sender: str, recipients: Sequence[str], message: bytes
    ) -> MailOutcome:
        utf8 = not all(r.isascii() for r in recipients)
        if utf8 and "smtputf8" not in client.extensions:
            self._clean = True  # nothing was sent
            return _outcome(
                recipients, {r: (553, "non-ASCII address; the relay lacks SMTPUTF8") for r in recipients}
            )
        mail_from = b"MAIL FROM:" + _path(sender, utf8) + (b" SMTPUTF8\r\n" if utf8 else b"\r\n")
        rcpt_to = [b"RCPT TO:" + _path(r, utf8) + b"\r\n" for r in recipients]
        try:
            # A refused MAIL raises ReplyError: our own return path refused is the relay's
            # matter (its configuration), not the recipients'; nobody is marked bouncing,
            # the row is tried again later.
            delivery = await client.send_mail(mail_from, rcpt_to, message)
        except SessionGone as exc:
            raise _Gone from exc
        refused = {
            r: (reply.code, reply.message)
            for r, reply in zip(recipients, delivery.recipients, strict=True)
            if reply.code not in (250, 251)
        }
        if delivery.data is None:
            return _outcome(recipients, refused)  # no DATA: RSET before the next message
        if delivery.data.code != 250:
            if _permanent(delivery.data.code):
                return MailOutcome("refused", (), None, f"{delivery.data.code} {delivery.data.message}")
            raise ReplyError(delivery.data.code, delivery.data.message, "DATA")
        self._clean = True
        self._messages += 1
        return _outcome(recipients, refused)


async def _quit(client: SmtpClient) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.quit(), _QUIT_SECONDS)
    client.close()


class RelayPool:
    """At most ``size`` sessions; a message waits for a free one."""

    def __init__(self, relay: Relay, size: int, limits: SessionLimits) -> None:
        self.relay = relay
        self.limits = limits
        self._closing: set[asyncio.Task[None]] = set()
        self._hostname: str | None = None
        self._hostname_lock = asyncio.Lock()
        self._sessions = [
            RelaySession(relay, limits, self._local_hostname, self._closing) for _ in range(size)
        ]
        self._free = list(self._sessions)  # the most recently used last
        self._slots = asyncio.Semaphore(size)

    @property
    def connections(self) -> int:
        """Connections opened so far."""
        return sum(s.connections for s in self._sessions)

    async def _local_hostname(self) -> str:
        """Our name for EHLO, looked up once (``getfqdn`` may ask DNS)."""
        async with self._hostname_lock:
            if self._hostname is None:
                self._hostname = await asyncio.to_thread(socket.getfqdn)
            return self._hostname

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[RelaySession]:
        async with self._slots:
            session = self._free.pop()
            session.taken()
            try:
                yield session
            finally:
                session.returned()
                self._free.append(session)

    async def close(self) -> None:
        """Hang up every session and wait (briefly) for the QUITs."""
        for session in self._sessions:
            session.taken()
            session.hang_up()
        if self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)


async def probe(relay: Relay, *, timeout: float = 10.0) -> str:
    """Connect as the outbox would (STARTTLS and AUTH as configured), greet, ``NOOP``,
    ``QUIT``; the relay's answer to NOOP. For ``madoguchi check``: raises what a send
    would (``aiosmtplib.SMTPException``, ``OSError``, ``TimeoutError``)."""
    client = aiosmtplib.SMTP(
        hostname=relay.host,
        port=relay.port,
        username=relay.username,
        password=relay.password,
        use_tls=False,
        start_tls=relay.starttls,
        timeout=timeout,
    )
    async with asyncio.timeout(timeout):
        await client.connect()
        try:
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            answer = await client.noop()
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
    return f"{answer.code} {answer.message}"
