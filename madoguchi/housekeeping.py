"""The hourly purge inside ``madoguchi serve``; what is purged, and why, is
``core.housekeeping``'s. A component like the doors (see ``madoguchi.components``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core import housekeeping
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.housekeeping")

INTERVAL_SECONDS = 3600.0
# Not at once: a start is busy enough (migrations, connections, the first requests).
FIRST_RUN_AFTER_SECONDS = 60.0


class Housekeeping:
    name = "housekeeping"

    def __init__(
        self,
        core: Core,
        *,
        interval: float = INTERVAL_SECONDS,
        first_run_after: float = FIRST_RUN_AFTER_SECONDS,
    ) -> None:
        self.core = core
        self.interval = interval
        self.first_run_after = first_run_after
        self.runs = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="madoguchi-housekeeping")

    async def stop(self) -> None:
        # A purge in progress finishes its chunk; no transaction is cut in the middle.
        self._stopping.set()
        if self._task is not None:
            await self._task

    def healthy(self) -> bool:
        return self._task is None or not self._task.done() or self._stopping.is_set()

    async def _run(self) -> None:
        wait = self.first_run_after
        while not await self._sleep(wait):
            try:
                purged = await housekeeping.purge(self.core)
                log.info(
                    "purged",
                    extra={
                        "conversations": purged.conversations,
                        "tokens": purged.tokens,
                        "failures": purged.failures,
                        "outbox": purged.outbox,
                        "inquiries_closed": purged.inquiries_closed,
                        "digest_posted": purged.digest_posted,
                    },
                )
            except Exception as exc:  # try again next time; the service goes on
                log.error("purge failed: %s", type(exc).__name__)
            self.runs += 1
            wait = self.interval

    async def _sleep(self, seconds: float) -> bool:
        """True when asked to stop meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()
