"""Engines and sessions for SQLite (a laptop) and PostgreSQL (production).

SQLite: one pooled connection per process, running inline on the event loop
(``core.storage.sqlite``), every transaction ``BEGIN IMMEDIATE``, so concurrent tasks
queue in Core's turn queue (``core.storage.queue``). Never open a second unit of work
while holding one on SQLite: it would wait for itself.
PostgreSQL: a fixed-size pool; overflow connections were measured to be closed and
reopened under load (../shared/PERFORMANCE-BASELINES.md).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.private_files import create_private
from core.storage import sqlite


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            create_private(Path(database))
        # One connection: every transaction is BEGIN IMMEDIATE anyway, so a second
        # connection only waits in SQLite's busy handler, whose back-off sleeps grew a
        # registration step's p99 to seconds at 16 concurrent users. Waiting in the turn
        # queue instead is first-come, first-served and wakes at once.
        engine = create_async_engine(
            url,
            echo=echo,
            async_creator=sqlite.inline_connector(database or ":memory:"),
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
        )
        sqlite.tune(engine)
        if database and database != ":memory:":
            sqlite.checkpoints.watch(engine, database)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_pre_ping=False
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def bound_engine(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine a session factory was made for (``session_factory`` binds one)."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return engine


def pool_width(engine: AsyncEngine) -> int | None:
    """How many transactions can hold a connection at once; None when unbounded.

    SQLAlchemy's QueuePool exposes its size but not its overflow (``_max_overflow``,
    stable since 1.4 and still in 2.1)."""
    pool = engine.sync_engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if not callable(size) or overflow < 0:
        return None
    width = int(size()) + max(0, int(overflow))
    return width if width > 0 else None
