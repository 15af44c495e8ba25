"""Read-only answers without the ORM: a snapshot of the database, and queries built once.

Why: every Slack request starts with the same few reads — who is this, which support
IDs are theirs, is a terms agreement pending — and answers most of them with nothing
else. Through an ORM session those reads cost more CPU than everything else in the
request (docs/performance.md, "Slack door").

A snapshot is for answers that change nothing. Anything that writes, or decides what to
write from what it read, reads inside its unit of work instead (``UnitOfWork.rows`` runs
the same ``Query`` there), so there is one statement per question, not two. A service
that only reads takes a ``Reader`` — a snapshot or a unit of work — and is marked
``@reads``; ``open_for`` then gives the door a snapshot when every use case it is about to
call only reads, so the core, not the door, decides whether a request writes.

SQLite: reader connections of their own beside the one writer (``core.storage.sqlite``).
PostgreSQL: a pooled connection through the engine, in the same turn queue as units of
work.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.clock import Clock
from core.config import Settings
from core.storage import Priority, TurnQueue, postgres
from core.storage.compiled import Query, Row, run_sqlite
from core.storage.postgres import run_asyncpg
from core.storage.sqlite import ReaderConnections
from core.unit_of_work import Core, UnitOfWork

__all__ = ["Query", "Reader", "Row", "Snapshot", "open_for", "reads", "snapshot"]


class Reader(Protocol):
    """What a read-only service needs: settings, the clock, and answers to queries.
    Satisfied by a ``Snapshot`` and by a ``UnitOfWork``."""

    settings: Settings
    clock: Clock
    # The database's dialect: for the few services whose statement differs by database
    # (the knowledge search reads FTS5 on SQLite, a tsvector on PostgreSQL).
    dialect: Dialect

    async def rows(self, query: Query, **params: Any) -> list[Row]: ...

    async def first(self, query: Query, **params: Any) -> Row | None: ...


class Snapshot:
    """``async with snapshot(core) as snap: rows = await snap.rows(QUERY, id=1)``."""

    def __init__(self, core: Core, readers: ReaderConnections | None) -> None:
        self.settings: Settings = core.settings
        self.clock: Clock = core.clock
        self.dialect: Dialect = core.dialect
        self._core = core
        self._engine: AsyncEngine = core.engine
        self._readers = readers
        self._raw: sqlite3.Connection | None = None
        self._connection: AsyncConnection | None = None
        # PostgreSQL: the asyncpg adapter connection under ``_connection`` (None: another
        # driver, or cursor events listened to).
        self._adapted: Any | None = None
        self._queue: TurnQueue | None = None

    async def __aenter__(self) -> Snapshot:
        if self._readers is not None:
            self._raw = self._readers.take()
            self._raw.execute("BEGIN")
            return self
        # PostgreSQL: wait for a turn like a unit of work, then take a pooled connection.
        self._queue = self._core.queue()
        if self._queue is not None:
            await self._queue.acquire(Priority.INTERACTIVE)
        try:
            self._connection = await self._engine.connect()
            if self.dialect.name == "postgresql":
                sync = self._connection.sync_connection
                assert sync is not None
                self._adapted = postgres.adapter(sync)
        except BaseException:
            if self._queue is not None:
                self._queue.release()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._raw is not None and self._readers is not None:
            raw, self._raw = self._raw, None
            try:
                raw.execute("ROLLBACK")
            except sqlite3.Error:
                raw.close()
            else:
                self._readers.give_back(raw)
            return
        try:
            if self._connection is not None:
                await self._connection.close()
        finally:
            self._connection = self._adapted = None
            if self._queue is not None:
                self._queue.release()

    async def rows(self, query: Query, **params: Any) -> list[Row]:
        if self._raw is not None:
            # Not fenced: ``compiled`` raises, saying why.
            runnable = query.fenced(self._core.dialect, params) or query.compiled(self._core.dialect)
            return run_sqlite(self._raw, runnable, params)
        assert self._connection is not None, "use the snapshot inside `async with`"
        if self._adapted is not None and (compiled := query.fenced(self.dialect, params)) is not None:
            # PostgreSQL: on the asyncpg connection, outside any transaction — at READ
            # COMMITTED each statement sees its own snapshot in a transaction or not, and
            # BEGIN and ROLLBACK were two of a lookup's round trips (core.storage.postgres).
            return await run_asyncpg(self._adapted, self.dialect, compiled, params, begin=False)
        result = await self._connection.execute(query.statement, params)
        return [tuple(row) for row in result]

    async def first(self, query: Query, **params: Any) -> Row | None:
        found = await self.rows(query, **params)
        return found[0] if found else None


# One set of reader connections per Core (per database), gone with it.
_readers: weakref.WeakKeyDictionary[Core, ReaderConnections] = weakref.WeakKeyDictionary()


def snapshot(core: Core) -> Snapshot:
    """A read-only snapshot of ``core``'s database (see the module's docstring)."""
    readers = _readers.get(core)
    if readers is None and core.dialect.name == "sqlite":
        database = core.engine.url.database
        if database and database != ":memory:":
            readers = ReaderConnections(database)
            _readers[core] = readers
    return Snapshot(core, readers)


F = TypeVar("F", bound=Callable[..., Any])
_READS = "__madoguchi_reads__"


def reads(use_case: F) -> F:
    """Marks a service that changes nothing: it may be answered from a snapshot."""
    setattr(use_case, _READS, True)
    return use_case


def open_for(core: Core, *use_cases: Callable[..., Any]) -> Snapshot | UnitOfWork:
    """What a request about to call ``use_cases`` needs: a snapshot when every one of them
    only reads (none at all: the request only renders), else a unit of work."""
    if all(getattr(use_case, _READS, False) for use_case in use_cases):
        return snapshot(core)
    return core.uow()
