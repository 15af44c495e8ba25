"""Inbound SMTP for the contact window, on the service's own event loop: the handler that
answers each command and the listener's lifecycle.

Protocol only: the RCPT policy, storing and every decision about a mail live in
``core.contact_window``. The order of events for one message is the safety argument:

0. The connection: at most ``max_sessions`` at once, ``max_sessions_per_client`` from
   one IP, each for at most ``session_seconds`` (421 over any of them).
1. ``RCPT``: our addresses only (550 otherwise), at most ``max_recipients`` (452).
2. ``DATA``: aiosmtpd enforces SIZE (552); a large message is spooled to disk while it
   is read; the raw bytes are committed (group commit across concurrent sessions, bounded
   by bytes); only then ``250``. A storage failure answers ``451`` so the client retries;
   an unexpected error answers ``451 4.3.0`` without details. The null reverse-path
   (``MAIL FROM:<>``, which aiosmtpd hands on as ``"<>"``) is stored as ``""``, the
   contact window's name for it (never answered: RFC 5321 §4.5.5).
3. ``InboundProcessor`` parses and assesses stored records in batches in a separate
   process and processes each batch in one transaction. A crash after ``250`` leaves
   the record "received"; the next start resumes it.

The pieces: mail/smtp_protocol.py (aiosmtpd's SMTP with our overrides, the only module
touching its internals), mail/inbound.py (the group-commit store and the processor),
mail/smtp_log.py (one log line per transaction), mail/tls.py (STARTTLS's context). Which transaction goes
first is Core's turn queue (core/storage/queue.py): a store that a client waits on goes
before background processing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from aiosmtpd.smtp import SMTP, Envelope, Session

from core import contact_window
from core.ports import Metrics, NoMetrics
from core.private_files import private_dir
from core.unit_of_work import Core
from mail import smtp_log
from mail.inbound import InboundProcessor, InboundStore
from mail.smtp_protocol import SHUTTING_DOWN, CappedSMTP, MessageEnvelope
from mail.spool import Spool
from mail.tls import server_context

__all__ = ["SHUTTING_DOWN", "TEMPFAIL", "ContactWindowHandler", "SMTPServer"]

log = logging.getLogger("madoguchi.mail.smtp")

TEMPFAIL = "451 4.3.0 Temporary failure, please try again later"
NULL_PATH = "<>"  # what aiosmtpd hands on for MAIL FROM:<>


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


def _client(server: SMTP) -> str:
    return server.client if isinstance(server, CappedSMTP) else ""


def _refuse(envelope: Envelope, reason: str) -> None:
    """Remember why this transaction was refused something, for its log line."""
    if isinstance(envelope, MessageEnvelope):
        envelope.refusal = reason


def reverse_path(envelope: Envelope) -> str:
    """The envelope sender as stored: the null reverse-path is ``""``. aiosmtpd keeps
    ``"<>"`` in the envelope (its RCPT needs a true ``mail_from``), so it is changed here,
    on its way out of the door, and nowhere else."""
    mail_from = envelope.mail_from or ""
    return "" if mail_from == NULL_PATH else mail_from


class ContactWindowHandler:
    """aiosmtpd's handler for the contact address: MAIL, RCPT (our policy, a recipient
    cap), DATA (stored before ``250``), errors answered without details; and the session
    counts and caps ``CappedSMTP`` keeps on it."""

    def __init__(
        self,
        core: Core,
        store: InboundStore,
        *,
        max_recipients: int = 20,
        max_sessions: int = 100,
        max_sessions_per_client: int = 10,
        session_seconds: float = 600.0,
        on_stored: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.core = core
        self.metrics: Metrics = metrics or NoMetrics()
        self.store = store
        self.max_recipients = max_recipients
        self.max_sessions = max_sessions
        self.max_sessions_per_client = max_sessions_per_client
        self.session_seconds = session_seconds
        self.sessions = 0
        self.clients: dict[str, int] = {}
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
            smtp_log.session_closed(_client(server), "shutting_down")
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
            _refuse(envelope, "too_many_recipients")
            return "452 4.5.3 Too many recipients"
        if not contact_window.accepts_recipient(self.core.settings, address):
            self._count("rejected_rcpt")
            _refuse(envelope, "rejected_rcpt")
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # aiosmtpd calls this once the message's final "." has arrived: from here to the
        # reply is what the client waits for (madoguchi_smtp_data_seconds).
        started = time.perf_counter()
        message: bytes | Spool
        if isinstance(envelope, MessageEnvelope) and envelope.spool is not None and envelope.spool.spooled:
            message = envelope.spool  # on disk; read back when its turn to be committed comes
        else:
            raw = envelope.original_content
            if isinstance(raw, str):  # only with decode_data=True, which we never set
                raw = raw.encode("utf-8", "surrogateescape")
            message = raw or b""
        size = message.size if isinstance(message, Spool) else len(message)
        client = _client(server)
        try:
            fresh = await self.store.store(message, reverse_path(envelope), list(envelope.rcpt_tos))
        except Exception:
            self._count("tempfail")
            self.metrics.smtp_data("tempfail", time.perf_counter() - started)
            smtp_log.transaction(client, "refused", reason="tempfail", size=size)
            return TEMPFAIL
        result = "accepted" if fresh else "duplicate"
        self._count(result)
        self.metrics.smtp_data(result, time.perf_counter() - started)
        smtp_log.transaction(client, result, size=size)
        if self.on_stored is not None:
            self.on_stored()
        return "250 2.0.0 OK: queued"

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd's default answers 500 with the exception text; we leak nothing."""
        log.error("SMTP session error: %s", type(error).__name__, exc_info=error)
        self.metrics.error("smtp")
        return TEMPFAIL


class SMTPServer:
    """The listener plus its processor; ``start``/``stop`` for the composition root.
    Limits not given here come from the settings (``MADOGUCHI_SMTP_*``)."""

    def __init__(
        self,
        core: Core,
        *,
        host: str | None = None,
        port: int | None = None,
        max_sessions: int | None = None,
        max_sessions_per_client: int | None = None,
        session_seconds: float | None = None,
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
            max_sessions=max_sessions if max_sessions is not None else settings.smtp_max_sessions,
            max_sessions_per_client=(
                max_sessions_per_client
                if max_sessions_per_client is not None
                else settings.smtp_max_sessions_per_client
            ),
            session_seconds=session_seconds if session_seconds is not None else settings.smtp_session_seconds,
            on_stored=self.processor.wake if process else None,
            metrics=metrics,
        )
        self.drain_seconds = drain_seconds
        self.idle_timeout = idle_timeout
        self.process = process
        # Read now: a certificate that cannot be loaded stops the start, not the first STARTTLS.
        self.tls_context = server_context(settings)
        self.spool_dir = settings.var_dir / "spool"
        self.server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        settings = self.core.settings
        return CappedSMTP(
            self.handler,
            spool_threshold=settings.smtp_spool_bytes,
            spool_dir=self.spool_dir,
            data_size_limit=settings.smtp_max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.contact_address.partition("@")[2] or "madoguchi",
            ident="madoguchi",
            timeout=self.idle_timeout,
            tls_context=self.tls_context,
            require_starttls=settings.smtp_require_tls,
        )

    async def start(self) -> None:
        private_dir(self.spool_dir)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(partial(self._protocol), self.host, self.port)
        sock = self.server.sockets[0].getsockname()
        self.port = sock[1]
        log.info(
            "smtp listening on %s:%s", self.host, self.port, extra={"starttls": self.tls_context is not None}
        )
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
                    protocol.goodbye(SHUTTING_DOWN, "shutting_down")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.drain_seconds
            while self.handler.sessions > 0 and loop.time() < deadline:
                await asyncio.sleep(0.05)
            for protocol in list(self.handler.protocols):
                _close(protocol)
        if self.process:
            await self.processor.stop()
