"""One business transaction: a session plus what every rule needs (settings, clock,
hashing). Services take a ``UnitOfWork``, do their work and call ``commit()``
explicitly; leaving the block without a commit rolls everything back.

Services that only read take a ``Reader`` (``core.snapshots``) instead, which a unit of
work also is: the same ``Query`` answers inside the transaction, consistent with what it
will write. How statements reach the database fast is behind ``core.storage``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.config import Settings
from core.hashing import Hasher
from core.sealing import Sealer
from core.storage import Priority, TurnQueue, bound_engine, pool_width, postgres
from core.storage.compiled import Query, Row, run_sqlite, write_sqlite
from core.storage.postgres import run_asyncpg
from core.storage.sqlite import raw_connection


class UnitOfWork:
    session: AsyncSession

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        hasher: Hasher,
        sealer: Sealer,
        dialect: Dialect,
        queue: TurnQueue | None = None,
        priority: Priority = Priority.INTERACTIVE,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._priority = priority
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.sealer = sealer
        self.dialect = dialect
        # The driver's connection under the session's current transaction, and that
        # transaction (``_below``): SQLite's sqlite3 connection, or the asyncpg adapter.
        self._postgres = dialect.name == "postgresql" and dialect.driver == "asyncpg"
        self._found_below: tuple[object, Callable[[Connection], Any], Any] | None = None
        # Set by core.outbox when this unit queues a row: the commit then wakes the
        # outbox worker of this process at once instead of at its next poll.
        self.outbox_queued = False
        self._on_outbox = on_outbox

    async def __aenter__(self) -> UnitOfWork:
        if self._queue is not None:
            await self._queue.acquire(self._priority)
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
            if self._queue is not None:
                self._queue.release()

    async def commit(self) -> None:
        await self.session.commit()
        if self.outbox_queued:
            self.outbox_queued = False
            if self._on_outbox is not None:
                self._on_outbox()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def each_statement_commits(self) -> None:
        """From here on each statement of this unit commits as it runs (PostgreSQL's
        autocommit; call it before the first). For a unit of work that is a single
        statement — the mail door's group commit, one ``INSERT`` for the whole group — it
        spares BEGIN and COMMIT, two of its three round trips to the server: on a busy
        2-core machine each was a wait for the server's process to be scheduled, and the
        ``250`` waited for all three (bench.mail on PostgreSQL: p99 DATA→250 21.7 → 15.0 ms,
        docs/performance.md). The statement is atomic on its own; ``commit()`` then has
        nothing left to do. SQLite keeps its transaction: there BEGIN and COMMIT are no
        round trip, and a write outside ``BEGIN IMMEDIATE`` would not take its turn."""
        if self.dialect.name == "postgresql":
            await self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    async def rows(self, query: Query, **params: Any) -> list[Row]:
        """``query``'s answer inside this transaction (after flushing pending changes)."""
        # SQLite: this unit's own connection, without SQLAlchemy's execution machinery
        # (several times the cost of the statement; docs/performance.md).
        if self._postgres:
            # PostgreSQL: the statement on the asyncpg connection in this unit's
            # transaction, without SQLAlchemy's execution machinery either
            # (core.storage.postgres).
            if (compiled := query.fenced(self.dialect, params)) is not None:
                adapted = await self._adapter()
                if adapted is not None:
                    return await run_asyncpg(adapted, self.dialect, compiled, params, begin=True)
        else:
            raw = await self.sqlite_connection()
            if raw is not None:
                compiled = query.fenced(self.dialect, params)
                if compiled is not None:
                    return run_sqlite(raw, compiled, params)
        result = await self.session.execute(query.statement, params)
        if not query.returns_rows:
            return []
        return [tuple(row) for row in result]

    async def write_many(self, query: Query, rows: list[dict[str, Any]]) -> list[Row]:
        """``query`` (an insert or update) once for each of ``rows`` inside this
        transaction; what RETURNING answered, in the rows' order. Every row has the keys
        of the first (an insert's other columns take their defaults)."""
        if not rows:
            return []
        # SQLite: the batch's rows without SQLAlchemy's per-row parameter processing,
        # most of a batch write's CPU in the mail door (docs/performance.md).
        raw = await self.sqlite_connection()
        if raw is not None:
            return write_sqlite(raw, query.compiled(self.dialect, tuple(rows[0])), rows)
        result = await self.session.execute(query.statement, rows)
        if not query.returns_rows:
            return []
        return [tuple(row) for row in result]

    async def first(self, query: Query, **params: Any) -> Row | None:
        found = await self.rows(query, **params)
        return found[0] if found else None

    async def _adapter(self) -> Any | None:
        """The asyncpg adapter connection of this unit's transaction, or None when cursor
        events are listened to (``core.storage.postgres``)."""
        return await self._below(postgres.adapter)

    async def sqlite_connection(self) -> sqlite3.Connection | None:
        """This unit of work's SQLite connection, inside its transaction (begun if it was
        not) and after flushing pending ORM changes; None on PostgreSQL, or when cursor
        events are listened to. What runs there is part of what this unit commits."""
        connection: sqlite3.Connection | None = await self._below(raw_connection)
        return connection

    async def _below(self, find: Callable[[Connection], Any]) -> Any:
        """What ``find`` finds under the session's connection in the transaction in
        progress (begun if it was not), after flushing pending ORM changes as
        SQLAlchemy's autoflush would (not inside ``session.no_autoflush``). Remembered for
        the transaction (and ``find``): asking again costs no greenlet round trip."""
        session = self.session
        if session.sync_session.autoflush and (session.new or session.dirty or session.deleted):
            await session.flush()
        transaction = session.sync_session.get_transaction()
        remembered = self._found_below
        if transaction is not None and remembered is not None and remembered[:2] == (transaction, find):
            return remembered[2]
        connection = (await session.connection()).sync_connection
        assert connection is not None
        found = find(connection)
        self._found_below = (session.sync_session.get_transaction(), find, found)
        return found

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Do slow work that needs no database (Argon2 hashing) without holding it.

        Ends the transaction (anything uncommitted is discarded: commit first), gives
        the connection and this unit's turn back, and waits for a turn again afterwards.
        Objects loaded before are detached: read again what you need, since another
        process may have changed it meanwhile. On SQLite every transaction holds the
        write lock, so an Argon2 hash inside one made every other request wait for it.
        """
        await self.session.close()
        if self._queue is not None:
            self._queue.release()
        try:
            yield
        finally:
            if self._queue is not None:
                await self._queue.acquire(self._priority)


class Core:
    """What the composition root builds once and hands to every door.

    ``core.uow()`` opens a unit of work; the doors never touch engines or sessions.
    Every transaction (and every PostgreSQL snapshot) waits for its turn in one queue
    as wide as the connection pool (``core.storage.queue``): first come, first served,
    work somebody waits on before background work (``core.uow(background=True)``).
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
        self.engine = bound_engine(sessions)
        self.dialect: Dialect = self.engine.dialect
        # One writer at a time in the whole database: SQLite. Background work then keeps
        # its transactions short while clients wait (mail processing batches).
        self.single_writer = self.dialect.name == "sqlite"
        self._width = pool_width(self.engine)
        self._queue: TurnQueue | None = None
        self._outbox_listeners: list[Callable[[], None]] = []

    def on_outbox(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit that queued an outbox row (the outbox
        worker's wake-up; it polls anyway for rows other processes queue)."""
        self._outbox_listeners.append(listener)

    def _outbox_queued(self) -> None:
        for listener in self._outbox_listeners:
            listener()

    def uow(self, *, background: bool = False) -> UnitOfWork:
        """A unit of work; ``background=True`` for work nobody waits on, which yields its
        turn to any waiting request."""
        return UnitOfWork(
            self.sessions,
            self.settings,
            self.clock,
            self.hasher,
            self.sealer,
            self.dialect,
            self.queue(),
            Priority.BACKGROUND if background else Priority.INTERACTIVE,
            self._outbox_queued,
        )

    def queue(self) -> TurnQueue | None:
        """The turn queue for the pool's connections (None when the pool is unbounded);
        anything else that takes a pooled connection waits in it too."""
        if self._queue is None and self._width is not None:
            self._queue = TurnQueue(self._width)
        return self._queue
