"""Engines and sessions for SQLite (a laptop) and PostgreSQL (production).

SQLite: WAL, foreign keys on, every transaction opened with ``BEGIN IMMEDIATE`` (no
SQLITE_BUSY when a read transaction tries to become a write one) and one pooled
connection per process, so concurrent tasks queue in the pool. Never open a second unit
of work while holding one on SQLite: it would wait for itself.

SQLite statements run on the event loop's own thread ("inline"), not on aiosqlite's
worker thread. The service's statements are index lookups of a few rows that SQLite
answers in microseconds, while each hand-off to the worker thread and back cost more
than the statement (4-6 hand-offs per statement): the Slack door's `/support id list`
went from 294 to 610 req/s at 16 concurrent users (bench/slack.py, docs/performance.md).
The price is that a statement blocks the loop while it runs, so the one wait that can
be long, for another process's write lock, is never spent inside SQLite: BEGIN
IMMEDIATE is tried without SQLite's busy handler and retried with asyncio sleeps.
PostgreSQL: a fixed-size pool; overflow connections were measured to be closed and
reopened under load (../shared/PERFORMANCE-BASELINES.md).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_, in_greenlet

DEFERRED_BEGIN = "sqlite_deferred_begin"

# How long a transaction waits for another process's write lock (an import, a CLI
# command) before it fails; the waiting is asyncio sleeps, the loop keeps serving.
LOCK_WAIT_SECONDS = 30.0
# SQLite's own busy handler, for the rare lock a read meets in WAL mode (recovery after
# a crash); it blocks the loop, so it stays short.
BUSY_TIMEOUT_MS = 200


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: every transaction is BEGIN IMMEDIATE anyway, so a second
        # connection only waits in SQLite's busy handler, whose back-off sleeps grew a
        # registration step's p99 to seconds at 16 concurrent users. Waiting in the pool's
        # queue instead is first-come, first-served and wakes at once.
        engine = create_async_engine(
            url,
            echo=echo,
            async_creator=_inline_connector(database or ":memory:"),
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
        )
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_pre_ping=False
    )


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread.

    aiosqlite opens (and closes) the sqlite3 connection on its worker thread; every call
    after that runs here, at once. ``check_same_thread=False`` lets the two threads share
    the connection, which never happens concurrently: the worker is idle once connected.
    """

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _inline_connector(database: str) -> Any:
    async def connect() -> aiosqlite.Connection:
        connection = InlineConnection(
            functools.partial(
                sqlite3.connect, database, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            ),
            64,
        )
        connection._thread.daemon = True  # as SQLAlchemy does for its own aiosqlite connections
        return await connection

    return connect


def _begin_immediate(raw: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE that waits for another process's write lock in asyncio sleeps.

    SQLite's busy handler is switched off for the attempt (it would sleep on the loop's
    thread); between attempts the greenlet awaits, so other requests run meanwhile.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.001
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline or not in_greenlet():
                    raise
            await_(asyncio.sleep(delay))
            delay = min(delay * 2, 0.05)
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A connection that only fills TEMP tables (the import's staging phase) opts out
        # with execution_options(sqlite_deferred_begin=True), so it does not hold the
        # database's write lock while it reads a large file.
        if conn.get_execution_options().get(DEFERRED_BEGIN, False):
            conn.exec_driver_sql("BEGIN")
            return
        driver = conn.connection.driver_connection
        if isinstance(driver, InlineConnection):
            _begin_immediate(driver._conn)
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
