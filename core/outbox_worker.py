"""The outbox worker (SPEC §6): claim due rows, deliver them through the ports, settle.

The rules are ``core.delivery``'s; how a mail or a post travels is a door's, reached
through ``core.ports`` (the composition root passes ``mail.transport`` and, when Slack is
configured, ``bot.staff_posts``). Per row:

- mail: the transport's ``MailOutcome`` decides. Delivered → sent (recipients refused
  for good among the others are marked bouncing and staff alerted); some recipients
  deferred → those are tried again with backoff; refused for good → failed, addresses
  marked, staff alerted.
- staff posts (channel "slack"): ``delivery.post_for_staff`` (a request's post first,
  its follow-ups in its thread).
- anything raised (network, a 4xx for the whole mail, Slack down, a template error, a
  parent not posted yet) → tried again with backoff, at most ``delivery.MAX_ATTEMPTS``
  times, then failed and staff alerted.

Without a staff channel the worker claims only mail: staff posts wait in the outbox
until Slack is configured. Sends run a few at a time; every transaction is short, none
is held across a send, and each is background work (``core.uow(background=True)``): a
request somebody waits on (an SMTP client, a Slack command) goes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from core import delivery
from core.delivery import Claimed
from core.ports import MailOutcome, MailTransport, Metrics, NoMetrics, StaffChannel
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.outbox")

_POSTED = MailOutcome("delivered")


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
        batch: int = 20,
        concurrency: int = 4,
        worker_id: str | None = None,
    ) -> None:
        self.core = core
        self.mail = mail
        self.staff = staff
        self.metrics: Metrics = metrics or NoMetrics()
        self.poll_seconds = poll_seconds
        self.batch = batch
        # Who claimed a row (``claimed_by``): unique per process and worker.
        default_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.worker_id = (worker_id or default_id)[:64]
        self.last_tick = time.monotonic()
        self.channels: tuple[str, ...] = ("mail", "slack") if staff is not None else ("mail",)
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- one pass ------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Re-queue stale rows, claim a batch, deliver it; returns rows handled."""
        self.last_tick = time.monotonic()
        async with self.core.uow(background=True) as uow:
            await delivery.requeue_stale(uow)
        async with self.core.uow(background=True) as uow:
            rows = await delivery.claim(uow, self.worker_id, self.channels, self.batch)
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def drain(self, max_passes: int = 100) -> None:
        """Deliver until nothing is due (tests and the CLI)."""
        for _ in range(max_passes):
            if not await self.run_once():
                return

    async def _deliver(self, row: Claimed) -> None:
        async with self._limit:
            try:
                if row.channel == "slack":
                    assert self.staff is not None  # claimed only with a staff channel
                    await delivery.post_for_staff(self.core, self.staff, row)
                    outcome = _POSTED
                else:
                    outcome = await self.mail.send(row)
            except Exception as exc:  # 4xx, network, Slack down, template error: retry later
                log.warning("outbox %s (%s) attempt %s failed: %s", row.id, row.template, row.attempts, exc)
                self.metrics.mail_out(row.channel, "retry")
                async with self.core.uow(background=True) as uow:
                    await delivery.mark_retry(uow, row.id, self.worker_id, f"{type(exc).__name__}: {exc}")
                return
            await self._settle(row, outcome)

    async def _settle(self, row: Claimed, outcome: MailOutcome) -> None:
        if outcome.status == "refused":
            self.metrics.mail_out(row.channel, "failed")
            async with self.core.uow(background=True) as uow:
                await delivery.mark_failed(uow, row.id, self.worker_id, outcome.detail, row.recipients)
            return
        if outcome.refused:
            async with self.core.uow(background=True) as uow:
                await delivery.record_refused(uow, row.template, list(outcome.refused), outcome.detail)
        deferred = outcome.status == "deferred"
        self.metrics.mail_out(row.channel, "retry" if deferred else "sent")
        async with self.core.uow(background=True) as uow:
            if deferred:
                # Delivered to the others (if any); only ``retry`` is tried again.
                retry = None if outcome.retry is None else list(outcome.retry)
                await delivery.mark_retry(uow, row.id, self.worker_id, outcome.detail, recipients=retry)
            else:
                await delivery.mark_sent(uow, row.id, self.worker_id)

    # -- lifecycle ------------------------------------------------------------------------

    def healthy(self) -> bool:
        """False when the loop has not ticked for a minute (a hung relay, a dead task)."""
        running = self._task is None or not self._task.done()
        return running and time.monotonic() - self.last_tick < max(60.0, self.poll_seconds * 10)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                while not self._stopping and await self.run_once():
                    pass
            except Exception:  # database away: keep going, try again after the poll
                log.exception("outbox pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="madoguchi-outbox")

    async def stop(self) -> None:
        """Finish the sends already claimed, then return."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
