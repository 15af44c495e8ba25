"""One writer at a time inside this process when the database is SQLite, the SMTP answer
first: shared by the mail door's store, its inbound processor and the outbox worker.

Separate because it is shared by the mail door's parts, not owned by any of them, and
because it is one of several mechanisms that decide whether a request waits (issue 11):
a single priority queue in ``Core`` is to replace it, and it goes as one file.
"""

from __future__ import annotations

import asyncio

from core.storage import is_sqlite
from core.unit_of_work import Core


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
