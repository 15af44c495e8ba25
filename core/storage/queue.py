"""Whose turn it is for a pooled connection: first come, first served, by priority.

One queue per process and database decides whether a request waits, and for how long;
nothing else does (the mail door's own write lock is gone). Two priorities:
``INTERACTIVE`` for work somebody waits on — a Slack request, an SMTP client waiting for
its ``250``, a password page — and ``BACKGROUND`` for work nobody waits on (processing
stored mail, the outbox worker, housekeeping). A free turn goes to the oldest
interactive waiter, then to the oldest background waiter.

Why not the pool's own queue: SQLAlchemy's async pool is not fair — a task that has just
returned the connection takes it straight back ahead of the waiters, and with SQLite's
single connection that starved some requests for seconds at 16 concurrent users. Why
priorities: on SQLite every transaction holds the one writer, so a batch of background
mail processing in front of an SMTP store is that client's latency (docs/performance.md,
"Contact window by mail").
"""

from __future__ import annotations

import asyncio
from collections import deque
from enum import IntEnum

# A unit of work opened inside another on SQLite would wait for itself; bounded like
# the pool's own timeout so that mistake fails instead of hanging.
TURN_TIMEOUT_SECONDS = 60.0


class Priority(IntEnum):
    INTERACTIVE = 0
    BACKGROUND = 1


class TurnQueue:
    """``width`` turns at a time; waiters served in arrival order within a priority."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._free = width
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = tuple(deque() for _ in Priority)

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> None:
        if self._free > 0 and not any(self._waiting[: priority + 1]):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._waiting[priority]
        line.append(waiter)
        try:
            await asyncio.wait_for(waiter, TURN_TIMEOUT_SECONDS)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Handed a turn just as we gave up: pass it on.
                self.release()
            elif waiter in line:
                line.remove(waiter)
            raise

    def release(self) -> None:
        for line in self._waiting:
            while line:
                waiter = line.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes straight to the waiter
                    return
        self._free += 1

    def waiting(self) -> int:
        return sum(len(line) for line in self._waiting)
