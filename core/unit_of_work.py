"""One business transaction: a session plus what every rule needs (settings, clock,
hashing). Services take a ``UnitOfWork``, do their work and call ``commit()``
explicitly; leaving the block without a commit rolls everything back.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import InlineConnection
from core.hashing import Hasher
from core.sealing import Sealer

GATE_TIMEOUT_SECONDS = 60


class UnitOfWork:
    session: AsyncSession

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        hasher: Hasher,
        sealer: Sealer,
        gate: asyncio.Semaphore | None = None,
    ) -> None:
        self._sessions = sessions
        self._gate = gate
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.sealer = sealer
        self.dialect: Dialect = sessions.kw["bind"].dialect
        # The SQLite connection of the session's current transaction (sqlite_connection).
        self._raw: tuple[object, sqlite3.Connection | None] | None = None

    async def __aenter__(self) -> UnitOfWork:
        if self._gate is not None:
            # Bounded like the pool's own timeout: a unit of work opened inside another
            # on SQLite would otherwise wait for itself forever.
            await asyncio.wait_for(self._gate.acquire(), timeout=GATE_TIMEOUT_SECONDS)
        self.session = self._sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back anything uncommitted and detaches objects without expiring
        # them, so results stay readable after the block.
        try:
            await self.session.close()
        finally:
            if self._gate is not None:
                self._gate.release()

    async def commit(self) -> None:
        await self.session.commit()

    async def sqlite_connection(self) -> sqlite3.Connection | None:
        """This unit of work's SQLite connection, inside its transaction (begun if it was
        not) and after flushing pending ORM changes, for a statement compiled once
        (``core.snapshots.rows``); None on PostgreSQL, or when cursor events are listened
        to. What runs there is consistent with, and part of, what this unit commits."""
        session = self.session
        if session.new or session.dirty or session.deleted:
            await session.flush()
        # Known for the transaction in progress: no greenlet round trip to ask again.
        transaction = session.sync_session.get_transaction()
        if transaction is not None and self._raw is not None and self._raw[0] is transaction:
            return self._raw[1]
        connection = (await session.connection()).sync_connection
        assert connection is not None
        dispatch = connection.dispatch
        raw = None
        if not (dispatch.before_cursor_execute or dispatch.after_cursor_execute):
            # (When someone watches every statement, tests checking query plans or
            # tracing, SQLAlchemy's path runs it, which tells them.)
            driver = connection.connection.driver_connection
            raw = driver._conn if isinstance(driver, InlineConnection) else None
        self._raw = (session.sync_session.get_transaction(), raw)
        return raw

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Do slow work that needs no database (Argon2 hashing) without holding it.

        Ends the transaction (anything uncommitted is discarded: commit first), gives
        the connection and this unit's place in the queue back, and takes a place again
        afterwards. Objects loaded before are detached: read again what you need, since
        another process may have changed it meanwhile. On SQLite every transaction holds
        the write lock, so an Argon2 hash inside one made every other request wait ~70 ms.
        """
        await self.session.close()
        if self._gate is not None:
            self._gate.release()
        try:
            yield
        finally:
            if self._gate is not None:
                await asyncio.wait_for(self._gate.acquire(), timeout=GATE_TIMEOUT_SECONDS)

    async def rollback(self) -> None:
        await self.session.rollback()


class Core:
    """What the composition root builds once and hands to every door.

    ``core.uow()`` opens a unit of work; the doors never touch engines or sessions.

    Units of work queue first-come, first-served on a semaphore as wide as the
    connection pool. SQLAlchemy's async pool is not fair: a task that has just returned
    the connection takes it straight back ahead of the waiters, and with SQLite's single
    connection that starved some requests for seconds at 16 concurrent users (measured
    by bench/scale.py). asyncio's semaphore wakes waiters in arrival order.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        secret = settings.resolved_secret_key()
        self.hasher = Hasher(secret)
        self.sealer = Sealer(secret)
        self._width = _pool_width(sessions)
        self._gate: asyncio.Semaphore | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.settings, self.clock, self.hasher, self.sealer, self.queue())

    def queue(self) -> asyncio.Semaphore | None:
        """The first-come, first-served queue for the pool's connections (None when the
        pool is unbounded); anything else that takes a pooled connection waits in it too."""
        if self._gate is None and self._width is not None:
            self._gate = asyncio.Semaphore(self._width)
        return self._gate


def _pool_width(sessions: async_sessionmaker[AsyncSession]) -> int | None:
    """How many units of work can hold a connection at once; None when unbounded."""
    bind = sessions.kw.get("bind")
    pool = getattr(getattr(bind, "sync_engine", None), "pool", None)
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if not callable(size) or overflow < 0:
        return None
    width = int(size()) + max(0, int(overflow))
    return width if width > 0 else None
