"""Engines and sessions for SQLite (a laptop) and PostgreSQL (production).

SQLite: WAL, a busy timeout, foreign keys on, every transaction opened with
``BEGIN IMMEDIATE`` (no SQLITE_BUSY when a read transaction tries to become a write one)
and one pooled connection per process, so concurrent tasks queue in the pool. Never open
a second unit of work while holding one on SQLite: it would wait for itself.
PostgreSQL: a fixed-size pool; overflow connections were measured to be closed and
reopened under load (../shared/PERFORMANCE-BASELINES.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

DEFERRED_BEGIN = "sqlite_deferred_begin"


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
            url, echo=echo, connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=60
        )
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_pre_ping=False
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A connection that only fills TEMP tables (the import's staging phase) opts out
        # with execution_options(sqlite_deferred_begin=True), so it does not hold the
        # database's write lock while it reads a large file.
        deferred = conn.get_execution_options().get(DEFERRED_BEGIN, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
