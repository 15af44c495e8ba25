"""The SMTP protocol as the contact window speaks it: aiosmtpd's ``SMTP`` with a session
cap, a fast path for everyday addresses and DATA read in chunks.

This is the one mail module that touches aiosmtpd's internals (``_getaddr``,
``_handle_client``, ``_reader``, ``_writer``, ``_decode_data``, ``_set_post_data_state``,
``_call_handler_hook``): the overrides mirror aiosmtpd **1.4.6** (pinned ``<1.5`` in
pyproject.toml) and must keep answering exactly as it does. Two comparison tests keep it
honest by running the stock ``SMTP`` and ``CappedSMTP`` on the same inputs, hypothesis-
generated ones included: tests/unit/test_smtp_data.py (DATA: end, unstuffing, SIZE and
line-length answers) and tests/unit/test_smtp_addresses.py (MAIL/RCPT paths). Before
raising the pin, read aiosmtpd's ``smtp_DATA`` and ``_getaddr`` of the new version
against the overrides here and run both tests.

Everything above the protocol (RCPT policy, storing before ``250``, the listener) is in
mail/smtp.py; this module knows only what it needs of its handler (``SessionLimits``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Protocol

from aiosmtpd.smtp import MISSING, SMTP


class SessionLimits(Protocol):
    """What ``CappedSMTP`` needs of its handler: the open sessions and their cap, and
    whether the door is stopping (new connections then get ``421`` at once)."""

    sessions: int
    protocols: set[CappedSMTP]
    max_sessions: int
    stopping: bool


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# <dot-atom@domain>, then the spaces before any parameters; nothing aiosmtpd would read
# differently (quoted local parts, source routes, literals, comments) matches.
_PLAIN_PATH = re.compile(rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*)>[ \t]*")


class CappedSMTP(SMTP):
    """aiosmtpd's SMTP with a cap on concurrent sessions (421 over it).

    Lines longer than RFC 5321's 1,000 octets are accepted (aiosmtpd answers 500 by
    default): real mail has them and refusing them loses mail; SIZE bounds memory.
    """

    event_handler: SessionLimits
    line_length_limit = 1024 * 1024

    def connection_made(self, transport: Any) -> None:
        self._counted = False
        if self.transport is None:
            self.event_handler.sessions += 1
            self.event_handler.protocols.add(self)
            self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if getattr(self, "_counted", False):
            self.event_handler.sessions -= 1
            self.event_handler.protocols.discard(self)
            self._counted = False
        super().connection_lost(error)

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

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, reading the message in a few chunks instead of a line at a time.

        aiosmtpd awaits ``readuntil(b"\\r\\n")`` and does its bookkeeping once per line
        (~30 lines for a 2 KB mail), a large share of the service core's CPU per mail.
        Here the reads stop only at ``.\\r\\n``; such a read ends the message when the dot
        starts a line (the data before it is empty or ends with CRLF), exactly where
        aiosmtpd's line reader ends it, so ``\\n.\\r\\n`` and friends stay inside the
        message. The answers are aiosmtpd's: 552 when the data exceeds SIZE, 500 when a
        line exceeds ``line_length_limit`` (552 when both: aiosmtpd answers whichever
        it meets first); the data is dot-unstuffed per CRLF line as
        aiosmtpd does (tests/unit/test_smtp_data.py compares the two)."""
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
        data = await self._read_data()
        if data is None:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        if len(data) > self.line_length_limit and any(
            len(line) + 2 > self.line_length_limit for line in data.split(b"\r\n")
        ):
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        # RFC 5321 §4.5.2: a line's leading dot goes (lines end at CRLF only).
        if data.startswith(b"."):
            del data[0]
        content = bytes(data.replace(b"\r\n.", b"\r\n"))
        self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytearray | None:
        """The data up to the terminating ``.\\r\\n`` line, still dot-stuffed, without
        it; ``None`` when it is larger than ``data_size_limit`` (read to its end and
        dropped, as aiosmtpd does)."""
        limit = self.data_size_limit
        data = bytearray()
        dropped = 0  # bytes of an oversized message not kept
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
            data += chunk
            if candidate:
                dot = len(data) - 3
                if (dropped == 0 and dot == 0) or data[dot - 2 : dot] == b"\r\n":
                    del data[dot:]
                    return None if dropped or (limit and len(data) > limit) else data
            if limit and dropped + len(data) > limit:
                # Too much: keep only what the end test needs, and the count.
                dropped += len(data) - 2
                del data[:-2]

    async def _handle_client(self) -> None:
        if self.event_handler.stopping or self.event_handler.sessions > self.event_handler.max_sessions:
            await self.push("421 4.7.0 Too many connections, try again later")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()
