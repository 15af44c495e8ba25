"""Inbound mail after the SMTP exchange: the group commit that stores it before ``250``
(``InboundStore``) and the processor that turns stored mail into requests
(``InboundProcessor``), parsing in a separate process.

The order of events is the safety argument: the raw bytes are committed before ``250``;
processing reads them back later, so a crash after ``250`` leaves the record "received"
and the next start resumes it. Separate from mail/smtp.py because none of this speaks
SMTP: it is the door's storage and background work, driven by core.contact_window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from core import contact_window
from core.unit_of_work import Core
from mail.parser_process import ParserDied, ParserUnavailable, parse_batch, parse_in_process
from mail.spool import Spool

log = logging.getLogger("madoguchi.mail.smtp")  # the door's log, as before inbound.py was split off

# Group commits in flight at once on PostgreSQL (on SQLite one: a single writer).
FLUSHERS = 3
# A message waiting for its group commit: its bytes (or spool), envelope, and its waiter.
_Waiting = tuple[bytes | Spool, str, list[str], "asyncio.Future[bool]"]


class InboundStore:
    """Group commit: concurrent DATA commands share one transaction.

    The first message to arrive is written at once; messages arriving while that commit
    runs wait and go together in the next one. On SQLite one transaction at a time keeps
    it to a single writer (measured: several writers collide on the file lock). On
    PostgreSQL up to ``flushers`` transactions are in flight at once: a commit there is a
    wait for the server (its round trips, its WAL flush), and the mail that arrived
    meanwhile waited for all of it before its own transaction began (bench.mail at 8
    clients, a probe in serve: that wait was p50 2.3–2.5 ms, p99 37–55 ms of DATA→250;
    with three in flight 0.2 / 8 ms). Concurrent transactions storing the same bytes are
    one row: the unique digest makes the later one wait and skip it.

    A transaction takes at most ``max_batch`` messages and, after the first, at most
    ``max_batch_bytes`` (shared by the transactions in flight): a message spooled to disk
    (``mail.spool.Spool``) is read back into memory only when its transaction is built,
    so however many large messages wait, only about ``max_batch_bytes`` of them are in
    memory (and in the driver) at a time.
    A message whose client left before its turn came is not stored: it was never
    answered ``250``, so the client sends it again.
    """

    def __init__(
        self,
        core: Core,
        max_batch: int = 64,
        max_batch_bytes: int = 16 * 1024 * 1024,
        flushers: int | None = None,
    ) -> None:
        self.core = core
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        self.flushers = flushers if flushers is not None else (1 if core.single_writer else FLUSHERS)
        self._pending: deque[_Waiting] = deque()
        self._flushing: set[asyncio.Task[None]] = set()
        self._in_flight = 0  # bytes of the transactions being written
        self._last_at = float("-inf")
        self._logging: set[asyncio.Task[None]] = set()

    async def store_many(
        self, items: list[tuple[bytes, str, list[str]]], committed: Callable[[list[bool]], None] | None = None
    ) -> list[bool]:
        """Store ``items`` in one transaction; ``committed`` is called with the answer as
        soon as the commit returned — the mail is durable then, and the clients' 250s
        need not wait for the session to close and a turn of the loop more (one loop
        turn was up to 8 ms of the 250's p99 at 8 clients)."""
        async with self.core.uow() as uow:
            stored = await contact_window.store_inbound_many(uow, items)
            if committed is not None:
                committed(stored)
            # Keep the turn for one turn of the loop: on SQLite the commit ran without
            # yielding, and the mail whose data arrived meanwhile joins the next commit
            # instead of losing the turn to background processing (docs/performance.md,
            # "Renovation": accepted mails/s at 32 clients).
            await asyncio.sleep(0)
            return stored

    def busy(self) -> bool:
        """Did a client hand over a message in the last 100 ms?"""
        return asyncio.get_running_loop().time() - self._last_at < 0.1

    async def store(self, message: bytes | Spool, mail_from: str, rcpt_tos: list[str]) -> bool:
        """Commit ``message`` (its bytes, or its spool: kept open by the caller until this
        returns); ``False`` if these exact bytes were stored before."""
        loop = asyncio.get_running_loop()
        self._last_at = loop.time()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((message, mail_from, rcpt_tos, future))
        # Finished flushers leave the set a moment after they are done: not counted.
        if sum(not flusher.done() for flusher in self._flushing) < self.flushers:
            flusher = asyncio.create_task(self._flush())
            self._flushing.add(flusher)
            flusher.add_done_callback(self._flushing.discard)
        return await future

    def _next_batch(self) -> tuple[list[_Waiting], int]:
        """The next transaction's messages and their bytes: oldest first, within both
        caps (the bytes of the other transactions in flight count; one message over the
        cap goes alone, when no other transaction is in flight)."""
        batch: list[_Waiting] = []
        total = self._in_flight
        while self._pending and len(batch) < self.max_batch:
            message, _from, _rcpts, future = self._pending[0]
            if future.done():  # its client is gone (the waiter was cancelled)
                self._pending.popleft()
                continue
            size = message.size if isinstance(message, Spool) else len(message)
            if (batch or self._in_flight) and total + size > self.max_batch_bytes:
                break
            batch.append(self._pending.popleft())
            total += size
        return batch, total - self._in_flight

    async def _flush(self) -> None:
        while self._pending:
            batch, size = self._next_batch()
            if not batch:
                if self._pending:  # over the bytes left: a transaction in flight takes it
                    return
                continue
            # Read spooled messages now, in the same step as choosing them: their sessions
            # keep the spools open until their futures are done, and none is done yet.
            items = [
                (message.read() if isinstance(message, Spool) else message, mail_from, rcpt_tos)
                for message, mail_from, rcpt_tos, _future in batch
            ]
            self._in_flight += size

            def answer(results: list[bool], batch: list[_Waiting] = batch) -> None:
                for (*_item, future), fresh in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(fresh)

            try:
                results = await self.store_many(items, answer)
            except Exception as exc:  # every waiter answers 451; the client retries
                del items
                log.exception("storing %d inbound mail(s) failed", len(batch))
                for *_item, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                self._in_flight -= size
            # The bytes go now (the next batch is read only after this one is let go),
            # but for the duplicates', which are logged below.
            resent = [raw for (raw, _from, _rcpts), fresh in zip(items, results, strict=True) if not fresh]
            del items
            answer(results)  # if ``store_many`` did not (it answers as it commits)
            if resent:  # logged after the 250s, in the background (core.contact_window.log_resent)
                task = asyncio.create_task(self._log_resent(resent))
                self._logging.add(task)
                task.add_done_callback(self._logging.discard)

    async def _log_resent(self, raws: list[bytes]) -> None:
        try:
            async with self.core.uow(background=True) as uow:
                await contact_window.log_resent(uow, raws)
        except Exception:
            log.warning("logging %d resent mail(s) failed", len(raws), exc_info=True)


Row = tuple[int, bytes, str, list[str]]  # a stored mail: inbox id, raw bytes, envelope
_Ahead = tuple[list[Row], "asyncio.Future[list[contact_window.Assessed]]"]


def _failure(error: Exception, limit: float) -> str:
    """What went wrong with a parse, for the log and the inbox record (no mail content)."""
    if isinstance(error, TimeoutError):
        return f"parsing timed out after {limit:g} s"
    if isinstance(error, ParserDied):
        return f"the parser process died ({error})"
    return f"parsing failed: {type(error).__name__}: {error}"[:500]


class InboundProcessor:
    """Works through stored mail: parse and assess a batch in another process, process
    it in one transaction.

    Parsing and assessing (classification, address checks) are most of a mail's CPU and
    need no database: in a separate process they neither hold the GIL against the SMTP
    answers on this loop (a thread did: the loop waited up to the interpreter's 5 ms
    switch interval) nor lengthen the transaction (mail/parser_process.py).
    ``parse_processes=0``, or a machine where no process starts, parses in a thread.

    Each batch's parse has a time limit (``MADOGUCHI_PARSE_TIMEOUT_SECONDS``). Past it, or
    when the parser process dies or raises, the process is killed (a new one starts for
    the next call) and the batch is parsed again one mail at a time; the mail that fails
    alone is kept as unreadable (``contact_window.unreadable``): a request staff see, its
    raw bytes in its flagged inbox record, processed once and never parsed again. The
    other mails of the batch go through.

    A batch that fails to process is done again one mail per transaction, so a mail that
    cannot be processed (a "poison" mail) is marked failed on its own and the others go
    through. A batch holds at most ``batch_size`` mails and ``batch_bytes`` bytes (one
    larger mail goes alone).
    """

    def __init__(
        self,
        core: Core,
        *,
        poll_seconds: float = 2.0,
        batch_size: int = 50,
        gather_seconds: float = 0.01,
        parse_processes: int = 1,
        busy: Callable[[], bool] | None = None,
        busy_batch_size: int = 35,
        batch_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.core = core
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.busy = busy
        self.busy_batch_size = busy_batch_size
        self.gather_seconds = gather_seconds
        self.parse_processes = parse_processes
        self._parsing = asyncio.Semaphore(max(1, parse_processes))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def _parse(self, batch: list[Row]) -> list[contact_window.Assessed]:
        """Parse and assess ``batch`` within the time limit (see the class docstring)."""
        try:
            return await self._parse_within_limit(batch)
        except Exception as exc:  # timed out, the process died, or parse_batch raised
            error = exc
        limit = self.core.settings.parse_timeout_seconds
        why = _failure(error, limit)
        if len(batch) > 1:
            log.warning("parsing a batch of %d mails failed (%s); one at a time now", len(batch), why)
            return [item for row in batch for item in await self._parse([row])]
        if not batch:
            return []
        [(inbound_id, raw, mail_from, rcpt_tos)] = batch
        log.error("inbound mail %s (%d bytes) kept unread for staff: %s", inbound_id, len(raw), why)
        timed_out = limit if isinstance(error, TimeoutError) else None
        return [
            contact_window.unreadable(self.core.settings, mail_from, rcpt_tos, why, timed_out_after=timed_out)
        ]

    async def _parse_within_limit(self, batch: list[Row]) -> list[contact_window.Assessed]:
        settings = self.core.settings
        records = [row[1:] for row in batch]
        limit = settings.parse_timeout_seconds
        async with self._parsing:  # the limit counts this batch's parse, not a wait for another
            if self.parse_processes > 0:
                try:
                    return await parse_in_process(settings, records, limit)
                except ParserUnavailable:
                    log.error("no parser process could be started; parsing in a thread", exc_info=True)
            # A thread cannot be stopped: past the limit we stop waiting, and it runs on.
            return await asyncio.wait_for(asyncio.to_thread(parse_batch, settings, records), limit)

    async def run_once(self, limit: int | None = None) -> list[contact_window.Outcome]:
        """Process a batch of what is stored now; returns what was done."""
        batch = await self._load(0, limit)
        if not batch:
            return []
        return await self._process_batch(batch, await self._parse(batch))

    def _limit(self) -> int:
        """Smaller batches on SQLite while SMTP clients are being answered: a store waits
        for the processing transaction in progress, so its length is the 250's tail
        latency. Otherwise (PostgreSQL, or a quiet door) bigger batches: ~14 statements a
        batch, so bigger batches cost less CPU per mail (docs/performance.md).

        Not too small, though: a batch costs ~1.6 ms plus ~0.18 ms a mail (SQLite, in
        process), so batches of 10 spent 40 % of processing on the batch itself, the loop
        was that much busier, and every client waited behind it. At 8 clients (bench.mail,
        interleaved pairs) 20 beat 10 on acknowledgements/s (+18 %) and on p99 DATA→250,
        35 beat 20 on acknowledgements/s (+12 %) with the same p99; 50 was faster again
        but its p99 worse (docs/performance.md, "A seventh sitting")."""
        if self.core.single_writer and self.busy is not None and self.busy():
            return min(self.busy_batch_size, self.batch_size)
        return self.batch_size

    async def _load(self, after: int, limit: int | None = None) -> list[tuple[int, bytes, str, list[str]]]:
        """The next batch, bounded by count and by bytes (``batch_bytes``; a larger mail
        comes alone): a batch is in memory here, pickled to the parser process and read
        there, and the next one is read ahead meanwhile, so its bytes are what the
        processor's memory is made of."""
        async with self.core.uow(background=True) as uow:
            return await contact_window.load_pending(uow, limit or self._limit(), after, self.batch_bytes)

    async def _read_ahead(self, after: int) -> _Ahead | None:
        """The next batch after ``after``, its parsing started (it runs meanwhile)."""
        batch = await self._load(after)
        if not batch:
            return None
        return batch, asyncio.ensure_future(self._parse(batch))

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
                last = batch[-1][0]
                # A batch of large mail is let go before the next is read: two in memory
                # at once (raw, pickled, parsed) were the peak while 100 clients each
                # sent 10 MiB (docs/performance.md). Small mail reads ahead, for speed.
                large = sum(len(raw) for _id, raw, _frm, _to in batch) * 2 > self.batch_bytes
                if not large:
                    ahead = await self._read_ahead(last)
                done += len(await self._process_batch(batch, await parsing))
                del batch, parsing
                if large:
                    ahead = await self._read_ahead(last)
        finally:
            if ahead is not None:
                ahead[1].cancel()
        return done

    async def _process_batch(
        self, batch: list[tuple[int, bytes, str, list[str]]], assessed: list[contact_window.Assessed]
    ) -> list[contact_window.Outcome]:
        items = [(inbound_id, item) for (inbound_id, *_rest), item in zip(batch, assessed, strict=True)]
        try:
            async with self.core.uow(background=True) as uow:
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
        [item] = await self._parse([(inbound_id, raw, mail_from, rcpt_tos)])
        return await self._process(inbound_id, item)

    async def _process(self, inbound_id: int, item: contact_window.Assessed) -> contact_window.Outcome:
        try:
            async with self.core.uow(background=True) as uow:
                return await contact_window.process_inbound(uow, inbound_id, item)
        except Exception as exc:
            return await self._failed(inbound_id, exc)

    async def _failed(self, inbound_id: int, error: Exception) -> contact_window.Outcome:
        """Processing this mail alone raised: flag it for staff, keep its raw bytes."""
        log.error("processing inbound mail %s failed", inbound_id, exc_info=error)
        async with self.core.uow(background=True) as uow:
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
