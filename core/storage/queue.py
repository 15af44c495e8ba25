"""Whose turn it is for a pooled connection: first come, first served, by priority.

One queue per process and database decides whether a request waits, and for how long;
nothing else does (the mail door's own write lock is gone). Two priorities:
``INTERACTIVE`` for work somebody waits on — a Slack request, an SMTP client waiting for
its ``250``, a password page — and ``BACKGROUND`` for work nobody waits on (processing
stored mail, the outbox worker, housekeeping). A free turn goes to the oldest
interactive waiter; background work gets a free turn only when no request has taken it
for a moment (``BACKGROUND_DEFERRAL_SECONDS``), so a steady stream of requests goes
first, as the SMTP door's own write lock used to make it (a group commit with more mail
pending took the lock straight back). Statements on SQLite run inline without yielding,
so without the moment's wait a batch of mail processing would slip in between every two
commits of the door (docs/performance.md, "Renovation").

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
# How long a free turn waits for a request before background work may take it: the
# SMTP door's next group commit is usually that close behind the last one.
BACKGROUND_DEFERRAL_SECONDS = 0.001


class Priority(IntEnum):
    INTERACTIVE = 0
    BACKGROUND = 1


class TurnQueue:
    """``width`` turns at a time; waiters served in arrival order within a priority."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._free = width
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = tuple(deque() for _ in Priority)
        self._handing_over = False

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> None:
        if priority is Priority.BACKGROUND:
            # Let every task that is ready to run ask first: an SMTP client's store whose
            # data has just arrived must not find the turn taken by the next batch of
            # background work that never gave the loop a chance (a free turn is otherwise
            # taken without yielding).
            await asyncio.sleep(0)
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
        interactive = self._waiting[Priority.INTERACTIVE]
        while interactive:
            waiter = interactive.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the turn passes straight to the waiting request
                return
        self._free += 1
        if self._waiting[Priority.BACKGROUND] and not self._handing_over:
            # Background work gets a free turn only after every task that is ready to run
            # has had the chance to take it: the task releasing it (the SMTP store's
            # group commit with more mail pending) usually asks again at once.
            self._handing_over = True
            asyncio.get_running_loop().call_later(BACKGROUND_DEFERRAL_SECONDS, self._hand_to_background)

    def _hand_to_background(self) -> None:
        self._handing_over = False
        background = self._waiting[Priority.BACKGROUND]
        while self._free > 0 and background:
            waiter = background.popleft()
            if not waiter.done():
                self._free -= 1
                waiter.set_result(None)

    def waiting(self) -> int:
        return sum(len(line) for line in self._waiting)
