"""The SMTP protocol as the contact window speaks it: aiosmtpd's ``SMTP`` with session
caps (in all, per client, and a session's whole life), a fast path for everyday
addresses, and DATA read in chunks and spooled to disk when large.

This is the one mail module that touches aiosmtpd's internals (``_getaddr``,
``_handle_client``, ``_reader``, ``_writer``, ``_decode_data``, ``_set_post_data_state``,
``_set_rset_state``, ``_create_envelope``, ``_cb_client_connected``,
``_call_handler_hook``, ``_reset_timeout``, ``_timeout_handle``) and asyncio's (the
stream reader's ``_limit``, the socket transport's ``max_size``): the overrides mirror
aiosmtpd **1.4.6** (pinned ``<1.5`` in pyproject.toml) and must keep answering exactly
as it does. Two comparison tests keep it honest by running the stock ``SMTP``
and ``CappedSMTP`` on the same inputs, hypothesis-generated ones included:
tests/unit/test_smtp_data.py (DATA: end, unstuffing, SIZE and line-length answers, in
memory and spooled) and tests/unit/test_smtp_addresses.py (MAIL/RCPT paths). Before
raising the pin, read aiosmtpd's ``smtp_DATA``, ``_getaddr``, ``connection_made`` and
``_handle_client`` of the new version against the overrides here and run both tests.

Everything above the protocol (RCPT policy, storing before ``250``, the listener) is in
mail/smtp.py; this module knows only what it needs of its handler (``SessionLimits``).
The bytes of DATA are decided chunk by chunk in mail/smtp_data.py and kept in a
mail/spool.py ``Spool``.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.smtp import MISSING, SMTP, Envelope

from mail import smtp_log
from mail.smtp_data import IncomingData
from mail.spool import Spool

__all__ = ["SHUTTING_DOWN", "CappedSMTP", "MessageEnvelope", "SessionLimits"]

SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
_TOO_MANY = "421 4.7.0 Too many connections, try again later"
_TOO_MANY_FROM_YOU = "421 4.7.0 Too many connections from your address, try again later"
_TOO_LONG = "421 4.4.2 Session lasted too long, closing; please reconnect"

# The stream reader's buffer: aiosmtpd sizes it to ``line_length_limit`` (1 MiB here) and
# asyncio lets it fill to twice that before it stops reading the socket: up to 2 MiB per
# session, 200 MiB for a hundred. DATA is read in chunks of at most this, and a command
# line over it is answered "500 Command line too long" as any line over 512 octets is.
# Each socket read asks for at most this too (asyncio asks for 256 KiB): a session's
# buffer then stays under three times it, ~10 MB for a hundred sessions in DATA where it
# was up to 38 MB (bench.mail_memory).
READ_LIMIT = 32 * 1024


class SessionLimits(Protocol):
    """What ``CappedSMTP`` needs of its handler: the open sessions, in all and per client
    (remote IP), their caps (``max_sessions_per_client`` 0: none), how long a session may
    last however busy it is, and whether the door is stopping (new connections then get
    ``421`` at once)."""

    sessions: int
    protocols: set[CappedSMTP]
    clients: dict[str, int]
    max_sessions: int
    max_sessions_per_client: int
    session_seconds: float
    stopping: bool


class MessageEnvelope(Envelope):
    """aiosmtpd's envelope, plus the message's bytes as a ``Spool`` once DATA is read
    (``original_content`` is set too unless it was spooled to disk), and the reason the
    door last refused something in this transaction (for its log line)."""

    def __init__(self) -> None:
        super().__init__()
        self.spool: Spool | None = None
        self.refusal = ""


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# <dot-atom@domain>, then the spaces before any parameters; nothing aiosmtpd would read
# differently (quoted local parts, source routes, literals, comments) matches.
_DECLARED_SIZE = re.compile(r"\sSIZE=(\d{1,20})\b", re.IGNORECASE)
_PLAIN_PATH = re.compile(rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*)>[ \t]*")


class CappedSMTP(SMTP):
    """aiosmtpd's SMTP with caps on concurrent sessions, in all and per client (421 over
    either), and on a session's lifetime (421 and close when it is over, however active:
    aiosmtpd's idle timer restarts at every command, so a client saying NOOP every few
    seconds held its slot forever).

    Lines longer than RFC 5321's 1,000 octets are accepted (aiosmtpd answers 500 by
    default): real mail has them and refusing them loses mail; SIZE bounds memory, and
    a message over ``spool_threshold`` bytes goes to a temporary file in ``spool_dir``
    while it is read.
    """

    event_handler: SessionLimits
    envelope: MessageEnvelope | None
    line_length_limit = 1024 * 1024

    def __init__(
        self,
        handler: SessionLimits,
        *,
        spool_threshold: int = 256 * 1024,
        spool_dir: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.spool_threshold = spool_threshold
        self.spool_dir = spool_dir
        self.client = ""
        self._counted = False
        self._lifetime: asyncio.TimerHandle | None = None
        self._in_data_hook = False
        self._overstayed = False

    def _create_envelope(self) -> MessageEnvelope:
        return MessageEnvelope()

    def _cb_client_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reader._limit = min(READ_LIMIT, self.line_length_limit)  # type: ignore[attr-defined]
        super()._cb_client_connected(reader, writer)

    def _cap_reads(self, transport: Any) -> None:
        """asyncio's selector transport reads ``max_size`` bytes at a time (a class
        attribute, 256 KiB in Python 3.11); a session's own is READ_LIMIT. Other
        transports (none here) keep theirs."""
        if isinstance(getattr(transport, "max_size", None), int):
            transport.max_size = min(transport.max_size, READ_LIMIT)

    def connection_made(self, transport: Any) -> None:
        if self.transport is None:  # the connection itself, not STARTTLS's second call
            limits = self.event_handler
            peer = transport.get_extra_info("peername")
            self.client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            limits.sessions += 1
            limits.clients[self.client] = limits.clients.get(self.client, 0) + 1
            limits.protocols.add(self)
            self._counted = True
            self._lifetime = self.loop.call_later(limits.session_seconds, self._end_of_life)
            self._cap_reads(transport)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            limits = self.event_handler
            limits.sessions -= 1
            left = limits.clients.get(self.client, 1) - 1
            if left > 0:
                limits.clients[self.client] = left
            else:
                limits.clients.pop(self.client, None)
            limits.protocols.discard(self)
            self._counted = False
        if self._lifetime is not None:
            self._lifetime.cancel()
            self._lifetime = None
        self._end_transaction()
        super().connection_lost(error)

    def _end_of_life(self) -> None:
        """The session's time is up. Mid-answer to DATA (the message being committed),
        the client gets its 250 first and the 421 right after."""
        self._lifetime = None
        if self._in_data_hook:
            self._overstayed = True
        else:
            self.goodbye(_TOO_LONG, "session_lifetime")

    def goodbye(self, reply: str, reason: str) -> None:
        """Say ``reply`` (a 421) and close, without waiting for the client."""
        transport = self.transport
        if transport is None or transport.is_closing():  # on its way out already
            return
        smtp_log.session_closed(self.client, reason)
        self._end_transaction()
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(reply.encode() + b"\r\n")
        transport.close()

    def _end_transaction(self) -> None:
        """A transaction ends without DATA (RSET, HELO/EHLO, QUIT, a lost connection):
        if the door refused something in it, log the refusal (one line per transaction)."""
        envelope = self.envelope
        if envelope is not None and envelope.mail_from is not None and envelope.refusal:
            smtp_log.transaction(self.client, "refused", reason=envelope.refusal)
            envelope.refusal = ""

    def _set_rset_state(self) -> None:
        self._end_transaction()
        super()._set_rset_state()  # type: ignore[no-untyped-call]

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parser (RFC 5322's full grammar, a large share of a bare
        server's CPU per address; docs/performance.md) is kept for anything unusual; the everyday
        ``<local@domain>`` of a MAIL or RCPT command is read with one regular expression
        and gives the same address and rest (tests/unit/test_smtp_addresses.py)."""
        match = _PLAIN_PATH.match(arg)
        if match is None or arg.startswith("(", match.end()):
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end() :]

    async def smtp_MAIL(self, arg: str) -> None:
        """aiosmtpd's MAIL; a transaction it refuses for a declared SIZE over the limit
        (552 before any data) gets its log line here."""
        await super().smtp_MAIL(arg)
        envelope = self.envelope
        if envelope is not None and envelope.mail_from is None and self.data_size_limit and arg:
            declared = _DECLARED_SIZE.search(arg)
            if declared is not None and int(declared.group(1)) > self.data_size_limit:
                smtp_log.transaction(self.client, "refused", reason="too_large", size=int(declared.group(1)))

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, reading the message in chunks instead of a line at a time and
        handing each chunk on (mail/smtp_data.py) instead of holding the whole message.

        aiosmtpd awaits ``readuntil(b"\\r\\n")`` and does its bookkeeping once per line
        (~30 lines for a 2 KB mail), a large share of the service core's CPU per mail.
        Here the reads stop only at ``.\\r\\n`` (or after ``READ_LIMIT`` bytes); such a
        read ends the message when the dot starts a line, exactly where aiosmtpd's line
        reader ends it, so ``\\n.\\r\\n`` and friends stay inside the message. The
        answers are aiosmtpd's: 552 when the data exceeds SIZE, 500 when a line exceeds
        ``line_length_limit`` (552 when both: aiosmtpd answers whichever it meets
        first); the data is dot-unstuffed per CRLF line as aiosmtpd does
        (tests/unit/test_smtp_data.py compares the two)."""
        if self._decode_data:  # we never set it; aiosmtpd's own reader handles it
            await super().smtp_DATA(arg)
            return
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        spool = Spool(self.spool_threshold, self.spool_dir)
        try:
            data = IncomingData(spool, size_limit=self.data_size_limit, line_limit=self.line_length_limit)
            await self._read_data(data)
            refusal = ""
            if data.too_large:
                reply, refusal = "552 Error: Too much mail data", "too_large"
            elif data.total > self.line_length_limit and data.long_line:
                reply, refusal = "500 Line too long (see RFC5321 4.5.3.1.6)", "line_too_long"
            if refusal:
                smtp_log.transaction(self.client, "refused", reason=refusal, size=data.total)
                self._set_post_data_state()  # type: ignore[no-untyped-call]
                await self.push(reply)
                return
            self.envelope.spool = spool
            if not spool.spooled:
                self.envelope.content = self.envelope.original_content = spool.read()
            self._in_data_hook = True
            # The idle timer is for a silent client, not for the store it waits on: a
            # hundred 10 MiB messages arriving together wait their turns for the group
            # commit, and the last ones' sessions were closed unanswered (the session's
            # lifetime still bounds it).
            if self._timeout_handle is not None:
                self._timeout_handle.cancel()
            try:
                status = await self._call_handler_hook("DATA")
            finally:
                self._in_data_hook = False
                self._reset_timeout()
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push("250 OK" if status is MISSING else status)
        finally:
            spool.close()
        if self._overstayed:
            self.goodbye(_TOO_LONG, "session_lifetime")

    async def _read_data(self, data: IncomingData) -> None:
        """Feed ``data`` until the terminating ``.\\r\\n`` line (an oversized message
        is read to its end and dropped, as aiosmtpd does)."""
        while True:
            try:
                chunk = await self._reader.readuntil(b".\r\n")
                candidate = True
            except asyncio.CancelledError:
                self._writer.close()  # connection lost during DATA, as aiosmtpd does
                raise
            except asyncio.LimitOverrunError as exc:  # a long stretch without ".\r\n"
                chunk = await self._reader.read(exc.consumed)
                candidate = False
            self._reset_timeout()  # aiosmtpd restarts it per command only: a slow 10 MiB DATA is not idle
            ended = data.take(chunk, candidate)
            # Let the chunk go before the next read waits: held across the await, it was
            # up to 256 KiB per session, 25 MiB of the peak while 100 clients each sent
            # 10 MiB (bench.mail_memory, tracemalloc).
            del chunk
            if ended:
                return

    async def _handle_client(self) -> None:
        limits = self.event_handler
        refusal = None
        if limits.stopping:
            refusal = (SHUTTING_DOWN, "shutting_down")
        elif limits.sessions > limits.max_sessions:
            refusal = (_TOO_MANY, "too_many_sessions")
        elif (
            limits.max_sessions_per_client
            and limits.clients.get(self.client, 0) > limits.max_sessions_per_client
        ):
            refusal = (_TOO_MANY_FROM_YOU, "too_many_sessions_from_client")
        if refusal is not None:
            reply, reason = refusal
            smtp_log.session_closed(self.client, reason)
            await self.push(reply)
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()
