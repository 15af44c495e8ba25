"""SQLite on the event loop's own thread: the driver internals madoguchi relies on.

Mirrors aiosqlite 0.22.x (``Connection._execute``, ``_thread``, ``_conn``, ``_running``,
``_connection``) and SQLAlchemy 2.1.x (``sqlalchemy.util.concurrency.await_`` inside a
sync ``begin`` event, ``driver_connection`` of the pooled connection); pyproject pins
both below their next minor release. tests/integration/test_sqlite_lock_wait.py and
tests/integration/test_snapshots.py compare this path with SQLAlchemy's stock one.

Why inline: the service's statements are index lookups of a few rows that SQLite
answers in microseconds, while each hand-off to aiosqlite's worker thread and back cost
more than the statement (4-6 hand-offs per statement; docs/performance.md, "Slack
door"). The price is that a statement blocks the loop while it runs, so the one wait
that can be long — for another process's write lock — is never spent inside SQLite:
``BEGIN IMMEDIATE`` is tried without SQLite's busy handler and retried with asyncio
sleeps. Checkpoints run on a thread of their own (``Checkpointer``), and read-only
snapshots read beside the writer on connections of their own (``ReaderConnections``).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import await_, in_greenlet

DEFERRED_BEGIN = "sqlite_deferred_begin"

# How long a transaction waits for another process's write lock (an import, a CLI
# command) before it fails; the waiting is asyncio sleeps, the loop keeps serving.
LOCK_WAIT_SECONDS = 30.0
# SQLite's own busy handler, for the rare lock a read meets in WAL mode (recovery after
# a crash); it blocks the loop, so it stays short.
BUSY_TIMEOUT_MS = 200


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

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for statements compiled once."""
        return self._conn


def inline_connector(database: str) -> Any:
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


def raw_connection(connection: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under a SQLAlchemy connection running inline, or None.

    None too when someone listens to every statement (tests checking query plans,
    tracing): SQLAlchemy's own path then runs it, which tells them."""
    dispatch = connection.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        return None
    driver = connection.connection.driver_connection
    return driver.raw if isinstance(driver, InlineConnection) else None


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


def tune(engine: AsyncEngine) -> None:
    """WAL, foreign keys, our own checkpoints, and every transaction BEGIN IMMEDIATE (no
    SQLITE_BUSY when a read transaction tries to become a write one)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Checkpoints run on a thread of their own (Checkpointer), not inside a commit.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
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
            _begin_immediate(driver.raw)
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Checkpointer:
    """Folds SQLite's write-ahead log back into the database file from a thread of its own.

    Left to itself, SQLite checkpoints inside whichever commit crosses 1,000 log pages;
    statements run inline, so that commit stalled the event loop for the copy and its
    fsync (docs/performance.md, "Contact window by mail"). PASSIVE checkpoints never wait
    for readers or the writer, and the thread spends its time in SQLite's C code (no
    GIL). One thread per process serves every database file.
    """

    INTERVAL_SECONDS = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[str, int] = {}
        # Files of engines gone, not yet counted off: an engine's finalizer runs inside the
        # garbage collector, in whichever thread's allocation started it, maybe one that
        # holds ``_lock`` (this thread's, in ``_checkpoint``): it only appends here, which
        # needs no lock, and whoever next holds the lock counts them off.
        self._gone: collections.deque[str] = collections.deque()
        self._connections: dict[str, sqlite3.Connection] = {}
        self._thread: threading.Thread | None = None
        self.checkpointing = threading.Lock()
        self.runs = 0

    def watch(self, engine: AsyncEngine, path: str) -> None:
        path = str(Path(path).resolve())
        with self._lock:
            self._watchers[path] = self._watchers.get(path, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
                self._thread.start()
        # Until the engine is gone; the thread closes its connection to a file nobody uses.
        weakref.finalize(engine.sync_engine, self._gone.append, path)

    def watching(self) -> list[str]:
        """The files some engine still uses."""
        with self._lock:
            self._count_off_gone()
            return list(self._watchers)

    def _count_off_gone(self) -> None:
        """With ``_lock`` held: the engines gone since, counted off their files."""
        while self._gone:
            path = self._gone.popleft()
            left = self._watchers.get(path, 0) - 1
            if left > 0:
                self._watchers[path] = left
            else:
                self._watchers.pop(path, None)

    def checkpoint_now(self) -> None:
        with self.checkpointing:
            self._checkpoint()

    def _checkpoint(self) -> None:
        paths = self.watching()
        for gone in set(self._connections) - set(paths):
            self._connections.pop(gone).close()
        for path in paths:
            try:
                connection = self._connections.get(path)
                if connection is None:
                    connection = sqlite3.connect(
                        path, isolation_level=None, timeout=0, check_same_thread=False
                    )
                    self._connections[path] = connection
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                # Deleted, locked for recovery, not a WAL database yet: next time.
                stale = self._connections.pop(path, None)
                if stale is not None:
                    stale.close()
        self.runs += 1

    def _run(self) -> None:
        while True:
            time.sleep(self.INTERVAL_SECONDS)
            self.checkpoint_now()


checkpoints = Checkpointer()


class ReaderConnections:
    """Reader connections of one SQLite file, reused; one per snapshot in progress.

    ``query_only`` and a deferred transaction each: WAL lets them read beside the one
    writer without waiting for it, seeing everything committed before they began."""

    KEEP = 4

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[sqlite3.Connection] = []

    def take(self) -> sqlite3.Connection:
        if self._idle:
            return self._idle.pop()
        # Inline on the event loop like the writer. A read in WAL mode does not wait for
        # the writer; the short busy timeout covers recovery after a crash.
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
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
