"""The outbox worker (SPEC §6): claim a batch of due rows, deliver it through the ports,
settle it in one transaction.

The rules are ``core.delivery``'s; how a mail or a post travels is a door's, reached
through ``core.ports`` (the composition root passes ``mail.transport`` and, when Slack is
configured, ``bot.staff_posts``). A pass:

1. claims up to ``batch`` due rows (one transaction);
2. hands its mail to the transport in one call (``send_many``: in order, one lane per
   relay session, ``MADOGUCHI_RELAY_CONNECTIONS``; or a sender process of its own
   renders and sends them, ``mail.sender_process``) and sends staff
   posts a few at a time beside it; an exception from a port becomes a "try again
   later" outcome for its row;
3. settles the whole batch in one transaction (``delivery.settle``) and writes one log
   line per row: sent, retry or failed, with the outbox id and template (the recipients'
   domains only, never their addresses).

While one batch is out, the next is claimed and sent (two in flight): the relay sessions
never wait for a settle or a claim. Nothing holds a transaction across a send, and each
transaction is background work (``core.uow(background=True)``): a request somebody
waits on (an SMTP client, a Slack command) goes first. A commit that queues a row wakes
the worker at once (``Core.on_outbox``); rows other processes queue are found by the
poll. Without a staff channel the worker claims only mail: staff posts wait in the
outbox until Slack is configured, and the claim seeks the mail among them by the due
index's channel column (migration 0020), so however many wait costs a claim nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
import uuid
from datetime import datetime

from core import delivery
from core.delivery import Claimed, Settled
from core.ports import MailOutcome, MailTransport, Metrics, NoMetrics, StaffChannel
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.outbox")

_POSTED = MailOutcome("delivered")
# Stale claims are looked for at most this often (they go stale after minutes).
_REQUEUE_EVERY_SECONDS = 30.0
# Batches out at once: one sending while the next is claimed or the last settled.
_IN_FLIGHT = 2
# How long ``start`` gives the transport to get ready (a sender process to start).
READY_SECONDS = 10.0
# Log lines written between two turns of the event loop.
_REPORTS_AT_ONCE = 16
# The local part of an address in a relay's reply: the log keeps only the domain.
_LOCAL_PART = re.compile(r"[^\s<>\"'@,;:()\[\]]+@(?=[A-Za-z0-9.-]+)")


class OutboxWorker:
    # The component's name in /healthz and /metrics.
    name = "outbox"

    def __init__(
        self,
        core: Core,
        mail: MailTransport,
        *,
        staff: StaffChannel | None = None,
        metrics: Metrics | None = None,
        poll_seconds: float = 1.0,
        batch: int | None = None,
        concurrency: int = 4,
        worker_id: str | None = None,
    ) -> None:
        self.core = core
        self.mail = mail
        self.staff = staff
        self.metrics: Metrics = metrics or NoMetrics()
        self.poll_seconds = poll_seconds
        self.batch = batch or core.settings.outbox_batch
        # Who claimed a row (``claimed_by``): unique per process and worker.
        default_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.worker_id = (worker_id or default_id)[:64]
        self.last_tick = time.monotonic()
        self.channels: tuple[str, ...] = ("mail", "slack") if staff is not None else ("mail",)
        # Rows out at once: as many as the transport has relay sessions; staff posts at
        # most ``concurrency`` of them.
        self.lanes = max(core.settings.relay_connections, concurrency)
        self._posts = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._requeued_at: datetime | None = None
        core.on_outbox(self.wake)

    # -- one batch ------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim a batch, deliver it, settle it; returns the rows handled."""
        rows = await self._claim()
        if rows:
            await self._deliver(rows)
        return len(rows)

    async def drain(self, max_passes: int = 100) -> None:
        """Deliver until nothing is due, then hang up the relay (tests and the CLI)."""
        try:
            for _ in range(max_passes):
                if not await self.run_once():
                    return
        finally:
            await self.mail.close()

    async def _claim(self) -> list[Claimed]:
        self.last_tick = time.monotonic()
        now = self.core.clock.now()
        if self._requeued_at is None or (now - self._requeued_at).total_seconds() >= _REQUEUE_EVERY_SECONDS:
            async with self.core.uow(background=True) as uow:
                await delivery.requeue_stale(uow)
            self._requeued_at = now
        async with self.core.uow(background=True) as uow:
            return await delivery.claim(uow, self.worker_id, self.channels, self.batch)

    async def _deliver(self, rows: list[Claimed]) -> None:
        """The batch's mail in one call to the transport (its lanes, or its process), the
        staff posts in a few lanes beside it: a handful of coroutines instead of a task
        per row, each step short, so an SMTP client of the door waiting for its ``250`` is
        never behind a long run of outbox work."""
        outcomes: list[MailOutcome] = [_POSTED] * len(rows)
        mails = [(index, row) for index, row in enumerate(rows) if row.channel != "slack"]
        posts = iter([(index, row) for index, row in enumerate(rows) if row.channel == "slack"])

        async def send_mails() -> None:
            try:
                for _index, row in mails:  # the bytes of files sent as MIME parts (answers)
                    await delivery.load_files(self.core, row)
                sent = await self.mail.send_many([row for _i, row in mails], self.lanes)
            except Exception as exc:  # the transport itself failed: every mail again later
                sent = [MailOutcome("deferred", detail=f"{type(exc).__name__}: {exc}")] * len(mails)
            for (index, _row), outcome in zip(mails, sent, strict=True):
                outcomes[index] = outcome

        async def lane() -> None:
            for index, row in posts:
                outcomes[index] = await self._post(row)

        lanes = [lane() for _ in range(min(self.lanes, len(rows) - len(mails)))]
        await asyncio.gather(*([send_mails()] if mails else []), *lanes)
        async with self.core.uow(background=True) as uow:
            settled = await delivery.settle(uow, self.worker_id, list(zip(rows, outcomes, strict=True)))
        for n, item in enumerate(settled, 1):
            self._report(item)
            if n % _REPORTS_AT_ONCE == 0:
                await asyncio.sleep(0)  # the door's clients between log lines

    async def _post(self, row: Claimed) -> MailOutcome:
        """One staff post through its port; anything raised means "again later"."""
        try:
            assert self.staff is not None  # claimed only with a staff channel
            async with self._posts:
                await delivery.post_for_staff(self.core, self.staff, row)
            return _POSTED
        except Exception as exc:  # Slack down, template error: retry later
            return MailOutcome("deferred", detail=f"{type(exc).__name__}: {exc}")

    def _report(self, item: Settled) -> None:
        """The row's log line and counter: what happened, which row, which template,
        where (domains only: an operator needs no customer's address to follow a mail)."""
        row = item.row
        if item.result == "taken":
            return  # another worker holds it now and will say what became of it
        self.metrics.mail_out(row.channel, item.result)
        extra = {
            "outbox": row.id,
            "template": row.template,
            "channel": row.channel,
            "result": item.result,
            "attempt": row.attempts,
            "domains": sorted({r.rpartition("@")[2].lower() for r in row.recipients}),
        }
        if item.result == "sent":
            log.info("outbox %s %s sent", row.id, row.template, extra=extra)
            return
        extra["reason"] = _LOCAL_PART.sub("…@", item.detail)[:300]
        log.warning("outbox %s %s %s: %s", row.id, row.template, item.result, extra["reason"], extra=extra)

    # -- lifecycle ------------------------------------------------------------------------

    def healthy(self) -> bool:
        """False when the loop has not ticked for a minute (a hung relay, a dead task)."""
        running = self._task is None or not self._task.done()
        return running and time.monotonic() - self.last_tick < max(60.0, self.poll_seconds * 10)

    def wake(self) -> None:
        self._wake.set()

    async def _pump(self) -> None:
        """Deliver until nothing is due, keeping up to ``_IN_FLIGHT`` batches out."""
        out: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping:
                rows = await self._claim()
                if not rows:
                    break
                out.add(asyncio.create_task(self._deliver(rows)))
                if len(out) >= _IN_FLIGHT:
                    done, out = await asyncio.wait(out, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
        finally:
            if out:
                await asyncio.gather(*out, return_exceptions=True)

    async def _get_ready(self) -> None:
        """The transport ready before the first mail needs it (its sender process
        started); a failure is tried again with the first batch."""
        try:
            await self.mail.send_many([])
        except Exception:
            log.exception("outbox transport did not start")

    async def run(self, ready: asyncio.Task[None] | None = None) -> None:
        await (ready if ready is not None else self._get_ready())
        while not self._stopping:
            # Cleared before the pass, so a row queued during it wakes the next at once.
            self._wake.clear()
            try:
                await self._pump()
            except Exception:  # database away: keep going, try again after the poll
                log.exception("outbox pass failed")
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def start(self) -> None:
        """Start the loop, giving the transport up to ``READY_SECONDS`` to get ready first:
        ``madoguchi serve`` opens the SMTP door after this, so a sender process starting
        up (a second of imports) does not compete with the first mails for the CPU."""
        ready = asyncio.create_task(self._get_ready())
        await asyncio.wait({ready}, timeout=READY_SECONDS)
        self._task = asyncio.create_task(self.run(ready), name="madoguchi-outbox")

    async def stop(self) -> None:
        """Finish the batches already claimed, hang up the relay, then return."""
        self._stopping = True
        self._wake.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            await self.mail.close()
