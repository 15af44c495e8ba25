"""Inbound SMTP for the contact window, on the service's own event loop.

Protocol only: the RCPT policy, storing and every decision about a mail live in
``core.contact_window``. The order of events for one message is the safety argument:

1. ``RCPT``: our addresses only (550 otherwise), at most ``max_recipients`` (452).
2. ``DATA``: aiosmtpd enforces SIZE (552); the raw bytes are committed (group commit
   across concurrent sessions); only then ``250``. A storage failure answers ``451`` so
   the client retries; an unexpected error answers ``451 4.3.0`` without details.
3. ``InboundProcessor`` parses and assesses stored records in batches in a separate
   process and processes each batch in one transaction. A crash after ``250`` leaves
   the record "received"; the next start resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from core import contact_window
from core.config import Settings
from core.storage import is_sqlite
from core.unit_of_work import Core
from mail.parse import parse

log = logging.getLogger("madoguchi.mail.smtp")

TEMPFAIL = "451 4.3.0 Temporary failure, please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


StoreMany = Callable[[list[tuple[bytes, str, list[str]]]], Awaitable[list[bool]]]


class WriteLock:
    """One writer at a time inside this process when the database is SQLite, and the
    SMTP answer first.

    SQLite has one write lock per file; two of our own transactions colliding on it wait
    in SQLite's busy handler, which sleeps in steps of up to 100 ms (measured: p99 of the
    SMTP answer went from ~15 to ~250 ms). Queuing here hands the lock over at once, and a
    waiting store (a client waits for its ``250``) goes before background processing
    (nobody waits for it). On PostgreSQL it does nothing.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._cond = asyncio.Condition()
        self._held = False
        self._urgent = 0

    def urgent(self) -> _Hold:
        return _Hold(self, True)

    def background(self) -> _Hold:
        return _Hold(self, False)

    async def _acquire(self, urgent: bool) -> None:
        async with self._cond:
            if urgent:
                self._urgent += 1
            try:
                await self._cond.wait_for(lambda: not self._held and (urgent or self._urgent == 0))
            finally:
                if urgent:
                    self._urgent -= 1
            self._held = True

    async def _release(self) -> None:
        async with self._cond:
            self._held = False
            self._cond.notify_all()


def write_lock(core: Core) -> WriteLock:
    """The one lock of this process's mail door (SMTP store, processor, outbox worker)."""
    lock: WriteLock | None = getattr(core, "_mail_write_lock", None)
    if lock is None:
        lock = WriteLock(is_sqlite(core.settings.database_url))
        core._mail_write_lock = lock  # type: ignore[attr-defined]
    return lock


class _Hold:
    def __init__(self, lock: WriteLock, urgent: bool) -> None:
        self.lock = lock
        self.urgent = urgent

    async def __aenter__(self) -> None:
        if self.lock.enabled:
            await self.lock._acquire(self.urgent)

    async def __aexit__(self, *_exc: object) -> None:
        if self.lock.enabled:
            await self.lock._release()


class InboundStore:
    """Group commit: concurrent DATA commands share one transaction.

    The first message to arrive is written at once; messages arriving while that commit
    runs wait and go together in the next one. One session at a time keeps SQLite to a
    single writer (measured: several writers collide on the file lock).
    """

    def __init__(self, core: Core, max_batch: int = 64, lock: WriteLock | None = None) -> None:
        self.core = core
        self.max_batch = max_batch
        self.lock = lock or WriteLock(False)
        self._pending: list[tuple[tuple[bytes, str, list[str]], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._last_at = float("-inf")

    async def store_many(self, items: list[tuple[bytes, str, list[str]]]) -> list[bool]:
        async with self.lock.urgent(), self.core.uow() as uow:
            return await contact_window.store_inbound_many(uow, items)

    def busy(self) -> bool:
        """Did a client hand over a message in the last 100 ms?"""
        return asyncio.get_running_loop().time() - self._last_at < 0.1

    async def store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> bool:
        loop = asyncio.get_running_loop()
        self._last_at = loop.time()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append(((raw, mail_from, rcpt_tos), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                results = await self.store_many([item for item, _f in batch])
            except Exception as exc:  # every waiter answers 451; the client retries
                log.exception("storing %d inbound mail(s) failed", len(batch))
                for _item, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_item, future), fresh in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(fresh)


class ContactWindowHandler:
    def __init__(
        self,
        core: Core,
        store: InboundStore,
        *,
        max_recipients: int = 20,
        max_sessions: int = 100,
        on_stored: Callable[[], None] | None = None,
        metrics: Any = None,
    ) -> None:
        self.core = core
        self.metrics = metrics
        self.store = store
        self.max_recipients = max_recipients
        self.max_sessions = max_sessions
        self.sessions = 0
        self.protocols: set[_CappedSMTP] = set()
        self.stopping = False
        self.on_stored = on_stored

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.mails_in.labels(result=result).inc()

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
        if self.metrics is not None:
            self.metrics.errors.labels(where="smtp").inc()
        return TEMPFAIL


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# <dot-atom@domain>, then the spaces before any parameters; nothing aiosmtpd would read
# differently (quoted local parts, source routes, literals, comments) matches.
_PLAIN_PATH = re.compile(rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*)>[ \t]*")


class _CappedSMTP(SMTP):
    """aiosmtpd's SMTP with a cap on concurrent sessions (421 over it).

    Lines longer than RFC 5321's 1,000 octets are accepted (aiosmtpd answers 500 by
    default): real mail has them and refusing them loses mail; SIZE bounds memory.
    """

    event_handler: ContactWindowHandler
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
        """aiosmtpd's address parser (RFC 5322's full grammar, ~36 µs per call, a third of
        a bare server's CPU per address) is kept for anything unusual; the everyday
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


def _parse_batch(
    settings: Settings, records: list[tuple[bytes, str, list[str]]]
) -> list[contact_window.Assessed]:
    """Parse and assess stored mails; runs in the parser process (or a thread)."""
    return [contact_window.assess(settings, parse(raw, frm, rcpts)) for raw, frm, rcpts in records]


def _parser_init(service_pid: int) -> None:
    """In the parser process: leave Ctrl-C to the service (it stops us in order), and end
    when the service is gone. A service killed outright (SIGKILL, the OOM killer) runs no
    clean-up, and the executor's worker would wait for work forever: it holds both ends
    of its own call queue, so it never sees end-of-file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == service_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="madoguchi-parser-watch", daemon=True).start()


_parsers: ProcessPoolExecutor | None = None
_Ahead = tuple[list[tuple[int, bytes, str, list[str]]], "asyncio.Future[list[contact_window.Assessed]]"]


def _parser_pool(processes: int) -> ProcessPoolExecutor:
    """One pool per OS process, shared by every processor in it, started on first use.

    "spawn", not fork: the service has threads (the SQLite driver's, the loop's
    executor) and forking a threaded process can copy a held lock into the child.
    """
    global _parsers
    if _parsers is None:
        _parsers = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_parser_init,
            initargs=(os.getpid(),),
        )
    return _parsers


def _drop_parser_pool() -> None:
    global _parsers
    if _parsers is not None:
        _parsers.shutdown(wait=False, cancel_futures=True)
        _parsers = None


class InboundProcessor:
    """Works through stored mail: parse and assess a batch in another process, process
    it in one transaction.

    Parsing and assessing (classification, address checks) are most of a mail's CPU and
    need no database: in a separate process they neither hold the GIL against the SMTP
    answers on this loop (a thread did: the loop waited up to the interpreter's 5 ms
    switch interval) nor lengthen the transaction. ``parse_processes=0``, or a broken
    pool, parses in a thread instead.

    A batch that fails is done again one mail per transaction, so a mail that cannot be
    processed (a "poison" mail) is marked failed on its own and the others go through.
    """

    def __init__(
        self,
        core: Core,
        *,
        poll_seconds: float = 2.0,
        lock: WriteLock | None = None,
        batch_size: int = 50,
        gather_seconds: float = 0.01,
        parse_processes: int = 1,
        busy: Callable[[], bool] | None = None,
        busy_batch_size: int = 10,
    ) -> None:
        self.core = core
        self.poll_seconds = poll_seconds
        self.lock = lock or WriteLock(False)
        self.batch_size = batch_size
        self.busy = busy
        self.busy_batch_size = busy_batch_size
        self.gather_seconds = gather_seconds
        self.parse_processes = parse_processes
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def _parse(self, records: list[tuple[bytes, str, list[str]]]) -> list[contact_window.Assessed]:
        settings = self.core.settings
        if self.parse_processes > 0:
            try:
                pool = _parser_pool(self.parse_processes)
                return await asyncio.get_running_loop().run_in_executor(pool, _parse_batch, settings, records)
            except BrokenProcessPool:
                log.warning("the parser process died; parsing in a thread until it is restarted")
                _drop_parser_pool()
        return await asyncio.to_thread(_parse_batch, settings, records)

    async def run_once(self, limit: int | None = None) -> list[contact_window.Outcome]:
        """Process a batch of what is stored now; returns what was done."""
        batch = await self._load(0, limit)
        if not batch:
            return []
        return await self._process_batch(batch, await self._parse([r[1:] for r in batch]))

    def _limit(self) -> int:
        """Smaller batches on SQLite while SMTP clients are being answered: a store waits
        for the processing transaction in progress, so its length is the 250's tail
        latency. Otherwise (PostgreSQL, or a quiet door) bigger batches: ~14 statements a
        batch, so 50 mails cost ~30 % less CPU each than 20 (measured)."""
        if self.lock.enabled and self.busy is not None and self.busy():
            return min(self.busy_batch_size, self.batch_size)
        return self.batch_size

    async def _load(self, after: int, limit: int | None = None) -> list[tuple[int, bytes, str, list[str]]]:
        async with self.lock.background(), self.core.uow() as uow:
            return await contact_window.load_pending(uow, limit or self._limit(), after)

    async def _read_ahead(self, after: int) -> _Ahead | None:
        """The next batch after ``after``, its parsing started (it runs meanwhile)."""
        batch = await self._load(after)
        if not batch:
            return None
        return batch, asyncio.ensure_future(self._parse([r[1:] for r in batch]))

    async def _pass(self) -> int:
        """Process everything stored now, oldest first; returns how many mails.

        Batch N+1 is read and parsed (in the parser process) while batch N is processed
        here. A pass reads ahead by id, so a mail that shows up late with a lower id
        (another instance's transaction committing later) is found by the next pass.
        """
        done = 0
        ahead = await self._read_ahead(0)
        try:
            while ahead is not None and not self._stopping:
                batch, parsing = ahead
                ahead = None
                if len(batch) < min(self.busy_batch_size, self.batch_size) and self.gather_seconds:
                    # Mail is arriving while we work: let the next batch fill up a
                    # little; a batch costs ~14 statements however many mails it has.
                    await asyncio.sleep(self.gather_seconds)
                ahead = await self._read_ahead(batch[-1][0])
                done += len(await self._process_batch(batch, await parsing))
        finally:
            if ahead is not None:
                ahead[1].cancel()
        return done

    async def _process_batch(
        self, batch: list[tuple[int, bytes, str, list[str]]], assessed: list[contact_window.Assessed]
    ) -> list[contact_window.Outcome]:
        items = [(inbound_id, item) for (inbound_id, *_rest), item in zip(batch, assessed, strict=True)]
        try:
            async with self.lock.background(), self.core.uow() as uow:
                return await contact_window.process_inbound_batch(uow, items)
        except Exception as exc:
            if len(items) == 1:
                return [await self._failed(items[0][0], exc)]
            log.warning("processing a batch of %d mails failed; one at a time now", len(items), exc_info=True)
        return [await self._process(inbound_id, item) for inbound_id, item in items]

    async def process_one(self, inbound_id: int) -> contact_window.Outcome:
        async with self.core.uow() as uow:
            record = await contact_window.load_inbound(uow, inbound_id)
        if record is None:
            return contact_window.Outcome("skipped")
        raw, mail_from, rcpt_tos = record
        [item] = await self._parse([(raw, mail_from, rcpt_tos)])
        return await self._process(inbound_id, item)

    async def _process(self, inbound_id: int, item: contact_window.Assessed) -> contact_window.Outcome:
        try:
            async with self.lock.background(), self.core.uow() as uow:
                return await contact_window.process_inbound(uow, inbound_id, item)
        except Exception as exc:
            return await self._failed(inbound_id, exc)

    async def _failed(self, inbound_id: int, error: Exception) -> contact_window.Outcome:
        """Processing this mail alone raised: flag it for staff, keep its raw bytes."""
        log.error("processing inbound mail %s failed", inbound_id, exc_info=error)
        async with self.lock.background(), self.core.uow() as uow:
            await contact_window.mark_failed(uow, inbound_id, f"{type(error).__name__}: {error}")
        return contact_window.Outcome("failed")

    async def run(self) -> None:
        contact_window.warm_up(self.core.settings)
        await self._parse([])  # start the parser process before the first mail needs it
        while not self._stopping:
            try:
                while not self._stopping and await self._pass():
                    pass
            except Exception:  # database away: keep the loop alive, try again later
                log.exception("inbound processing pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="madoguchi-inbound")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task


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
        metrics: Any = None,
        drain_seconds: float = 10.0,
    ) -> None:
        settings = core.settings
        self.core = core
        self.host = host if host is not None else settings.smtp_host
        self.port = port if port is not None else settings.smtp_port
        self.lock = write_lock(core)
        self.store = InboundStore(core, lock=self.lock)
        self.processor = InboundProcessor(core, lock=self.lock, busy=self.store.busy)
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
        return _CappedSMTP(
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
