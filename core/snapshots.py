"""Read-only answers without the ORM: a snapshot of the database, and queries built once.

Why: every Slack request starts with the same few reads — who is this, which support
IDs are theirs, is a terms agreement pending — and answers most of them with nothing
else. Through an ORM session those reads cost more CPU than everything else in the
request: building the statement, its cache key, the session, the unit of work's turn on
the connection. On SQLite the same statements on a plain ``sqlite3`` connection are
microseconds (measured with bench/slack.py: a Bolt listener answering the support-ID
list from raw SQLite kept 85 % of a bare Bolt app's throughput, the ORM path 7 %).

A snapshot is for answers that change nothing. Anything that writes, or decides what to
write from what it read, reads inside its unit of work instead (``UnitOfWork.rows`` runs
the same ``Query`` there), so there is one statement per question, not two.

SQLite: a few reader connections of their own (``query_only``), each read in a deferred
transaction; WAL lets them read beside the one writer without waiting for it, and they
see everything committed before the snapshot began. PostgreSQL: a pooled connection
through the engine, in the same queue as units of work.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.clock import Clock
from core.config import Settings
from core.unit_of_work import GATE_TIMEOUT_SECONDS, Core, UnitOfWork

Row = tuple[Any, ...]
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    bind: tuple[Processor, ...]
    result: tuple[Processor, ...]


class Query:
    """A ``select()`` built once (with ``bindparam`` placeholders), compiled once per
    database, and run by a snapshot or a unit of work with keyword parameters.

    An ``update()`` too, run by a unit of work only (a snapshot is read-only): its
    ``rows`` are empty."""

    def __init__(self, statement: Select[*tuple[Any, ...]] | Update) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return found


def _compile(statement: Select[*tuple[Any, ...]] | Update, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise ValueError(f"{dialect.name}: a snapshot query needs a positional paramstyle")
    binds = compiled.binds
    names: list[str] = []
    bind: list[Processor] = []
    for name in compiled.positiontup:
        param = binds[name]
        if param.expanding:
            raise ValueError("a snapshot query cannot take a list parameter (IN): join instead")
        names.append(param.key)
        bind.append(param.type.dialect_impl(dialect).bind_processor(dialect))
    selected = statement.selected_columns if isinstance(statement, Select) else ()
    result = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected)
    return _Compiled(compiled.string, tuple(names), tuple(bind), result)


class _SqliteReaders:
    """Reader connections of one SQLite file, reused; one per snapshot in progress."""

    KEEP = 4

    def __init__(self, path: str, dialect: Dialect) -> None:
        self.path = path
        self.dialect = dialect
        self._idle: list[sqlite3.Connection] = []

    def take(self) -> sqlite3.Connection:
        if self._idle:
            return self._idle.pop()
        # Inline on the event loop like the writer (core/db.py). A read in WAL mode does
        # not wait for the writer; the short busy timeout covers recovery after a crash.
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0.2)
        connection.execute("PRAGMA query_only=ON")
        return connection

    def give_back(self, connection: sqlite3.Connection) -> None:
        if len(self._idle) < self.KEEP:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class Snapshot:
    """``async with snapshot(core) as snap: rows = await snap.rows(QUERY, id=1)``."""

    def __init__(self, core: Core, engine: AsyncEngine, readers: _SqliteReaders | None) -> None:
        self.settings: Settings = core.settings
        self.clock: Clock = core.clock
        self._core = core
        self._engine = engine
        self._readers = readers
        self._raw: sqlite3.Connection | None = None
        self._connection: AsyncConnection | None = None
        self._gate: asyncio.Semaphore | None = None

    async def __aenter__(self) -> Snapshot:
        if self._readers is not None:
            self._raw = self._readers.take()
            self._raw.execute("BEGIN")
            return self
        # PostgreSQL: take a place in the units of work's queue, then a pooled connection.
        self._gate = self._core.queue()
        if self._gate is not None:
            await asyncio.wait_for(self._gate.acquire(), timeout=GATE_TIMEOUT_SECONDS)
        try:
            self._connection = await self._engine.connect()
        except BaseException:
            if self._gate is not None:
                self._gate.release()
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
            self._connection = None
            if self._gate is not None:
                self._gate.release()

    async def rows(self, query: Query, **params: Any) -> list[Row]:
        if self._raw is not None and self._readers is not None:
            return _run_sqlite(self._raw, query.compiled(self._readers.dialect), params)
        assert self._connection is not None, "use the snapshot inside `async with`"
        result = await self._connection.execute(query.statement, params)
        return [tuple(row) for row in result]

    async def first(self, query: Query, **params: Any) -> Row | None:
        found = await self.rows(query, **params)
        return found[0] if found else None


def _run_sqlite(raw: sqlite3.Connection, compiled: _Compiled, params: dict[str, Any]) -> list[Row]:
    args = [
        value if bind is None else bind(value)
        for value, bind in zip((params[n] for n in compiled.names), compiled.bind, strict=True)
    ]
    fetched = raw.execute(compiled.sql, args).fetchall()
    if not any(compiled.result):
        return fetched
    return [convert(row, compiled.result) for row in fetched]


def convert(row: Sequence[Any], processors: tuple[Processor, ...]) -> Row:
    return tuple(
        value if p is None or value is None else p(value) for value, p in zip(row, processors, strict=True)
    )


async def rows(source: UnitOfWork | Snapshot, query: Query, **params: Any) -> list[Row]:
    """The same question inside a unit of work (consistent with what it will write) or
    from a snapshot (fast, read-only)."""
    if isinstance(source, Snapshot):
        return await source.rows(query, **params)
    # SQLite: the unit of work's own connection, in its transaction, without SQLAlchemy's
    # execution machinery (several times the cost of the statement; bench/slack.py).
    raw = await source.sqlite_connection()
    if raw is not None:
        return _run_sqlite(raw, query.compiled(source.dialect), params)
    result = await source.session.execute(query.statement, params)
    if not isinstance(query.statement, Select):
        return []
    return [tuple(row) for row in result]


# One set of reader connections per Core (per database), gone with it.
_readers: weakref.WeakKeyDictionary[Core, _SqliteReaders] = weakref.WeakKeyDictionary()


def snapshot(core: Core) -> Snapshot:
    """A read-only snapshot of ``core``'s database (see the module's docstring)."""
    engine: AsyncEngine = core.sessions.kw["bind"]
    readers = _readers.get(core)
    if readers is None and engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            readers = _SqliteReaders(database, engine.dialect)
            _readers[core] = readers
    return Snapshot(core, engine, readers)
