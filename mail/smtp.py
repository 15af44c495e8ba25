"""Inbound SMTP for the contact window, on the service's own event loop: the handler that
answers each command and the listener's lifecycle.

Protocol only: the RCPT policy, storing and every decision about a mail live in
``core.contact_window``. The order of events for one message is the safety argument:

1. ``RCPT``: our addresses only (550 otherwise), at most ``max_recipients`` (452).
2. ``DATA``: aiosmtpd enforces SIZE (552); the raw bytes are committed (group commit
   across concurrent sessions); only then ``250``. A storage failure answers ``451`` so
   the client retries; an unexpected error answers ``451 4.3.0`` without details.
3. ``InboundProcessor`` parses and assesses stored records in batches in a separate
   process and processes each batch in one transaction. A crash after ``250`` leaves
   the record "received"; the next start resumes it.

The pieces: mail/smtp_protocol.py (aiosmtpd's SMTP with our overrides, the only module
touching its internals), mail/inbound.py (the group-commit store and the processor). Which transaction goes
first is Core's turn queue (core/storage/queue.py): a store that a client waits on goes
before background processing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from aiosmtpd.smtp import SMTP, Envelope, Session

from core import contact_window
from core.ports import Metrics, NoMetrics
from core.unit_of_work import Core
from mail.inbound import InboundProcessor, InboundStore
from mail.smtp_protocol import CappedSMTP

__all__ = ["SHUTTING_DOWN", "TEMPFAIL", "ContactWindowHandler", "SMTPServer"]

log = logging.getLogger("madoguchi.mail.smtp")

TEMPFAIL = "451 4.3.0 Temporary failure, please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


class ContactWindowHandler:
    """aiosmtpd's handler for the contact address: MAIL, RCPT (our policy, a recipient
    cap), DATA (stored before ``250``), errors answered without details; and the session
    count and cap ``CappedSMTP`` keeps on it."""

    def __init__(
        self,
        core: Core,
        store: InboundStore,
        *,
        max_recipients: int = 20,
        max_sessions: int = 100,
        on_stored: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.core = core
        self.metrics: Metrics = metrics or NoMetrics()
        self.store = store
        self.max_recipients = max_recipients
        self.max_sessions = max_sessions
        self.sessions = 0
        self.protocols: set[CappedSMTP] = set()
        self.stopping = False
        self.on_stored = on_stored

    def _count(self, result: str) -> None:
        self.metrics.mail_in(result)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.stopping:
            # Shutting down: no new transaction; the client retries elsewhere or later.
            asyncio.get_running_loop().call_soon(_close, server)
            return SHUTTING_DOWN
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            self._count("too_many_recipients")
            return "452 4.5.3 Too many recipients"
        if not contact_window.accepts_recipient(self.core.settings, address):
            self._count("rejected_rcpt")
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if isinstance(raw, str):  # only with decode_data=True, which we never set
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            fresh = await self.store.store(raw or b"", envelope.mail_from or "", list(envelope.rcpt_tos))
        except Exception:
            self._count("tempfail")
            return TEMPFAIL
        self._count("accepted" if fresh else "duplicate")
        if self.on_stored is not None:
            self.on_stored()
        return "250 2.0.0 OK: queued"

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd's default answers 500 with the exception text; we leak nothing."""
        log.error("SMTP session error: %s", type(error).__name__, exc_info=error)
        self.metrics.error("smtp")
        return TEMPFAIL


class SMTPServer:
    """The listener plus its processor; ``start``/``stop`` for the composition root."""

    def __init__(
        self,
        core: Core,
        *,
        host: str | None = None,
        port: int | None = None,
        max_sessions: int = 100,
        max_recipients: int = 20,
        idle_timeout: float = 60.0,
        process: bool = True,
        metrics: Metrics | None = None,
        drain_seconds: float = 10.0,
    ) -> None:
        settings = core.settings
        self.core = core
        self.host = host if host is not None else settings.smtp_host
        self.port = port if port is not None else settings.smtp_port
        self.store = InboundStore(core)
        self.processor = InboundProcessor(core, busy=self.store.busy)
        self.handler = ContactWindowHandler(
            core,
            self.store,
            max_recipients=max_recipients,
            max_sessions=max_sessions,
            on_stored=self.processor.wake if process else None,
            metrics=metrics,
        )
        self.drain_seconds = drain_seconds
        self.idle_timeout = idle_timeout
        self.process = process
        self.server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        return CappedSMTP(
            self.handler,
            data_size_limit=self.core.settings.smtp_max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.core.settings.contact_address.partition("@")[2] or "madoguchi",
            ident="madoguchi",
            timeout=self.idle_timeout,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(partial(self._protocol), self.host, self.port)
        sock = self.server.sockets[0].getsockname()
        self.port = sock[1]
        log.info("smtp listening on %s:%s", self.host, self.port)
        if self.process:
            self.processor.start()
            self.processor.wake()

    async def stop(self) -> None:
        """Stop listening, let open sessions finish (bounded), then stop the processor;
        whatever was stored but not processed is resumed by the next start."""
        if self.server is not None:
            self.handler.stopping = True
            self.server.close()
            await self.server.wait_closed()
            for protocol in list(self.handler.protocols):
                if protocol.envelope is None or protocol.envelope.mail_from is None:
                    # Idle between messages: say goodbye now. Mid-message: it finishes
                    # (stored, 250) and gets the 421 at its next MAIL.
                    if isinstance(protocol.transport, asyncio.WriteTransport):
                        protocol.transport.write(SHUTTING_DOWN.encode() + b"\r\n")
                    _close(protocol)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.drain_seconds
            while self.handler.sessions > 0 and loop.time() < deadline:
                await asyncio.sleep(0.05)
            for protocol in list(self.handler.protocols):
                _close(protocol)
        if self.process:
            await self.processor.stop()
