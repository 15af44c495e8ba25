"""SQLite runs inline on the event loop: waiting for another process's write lock must
not stall the loop, and the transaction must go ahead once the lock is free."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import func, select

from core import audit
from core.actors import Actor
from core.models import AuditRecord
from core.storage import sqlite
from core.unit_of_work import Core

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _path(core: Core) -> str:
    return core.settings.database_url.split("///", 1)[1]


async def test_statements_run_on_the_loop_thread(domain: Core) -> None:
    seen: list[int] = []
    async with domain.uow() as uow:
        raw = (await uow.session.connection()).sync_connection.connection.driver_connection  # type: ignore[union-attr]
        assert isinstance(raw, sqlite.InlineConnection)
        raw.raw.create_function("whoami", 0, lambda: seen.append(threading.get_ident()) or 1)
        await uow.session.execute(select(func.whoami()))
    assert seen == [threading.get_ident()]


async def test_waiting_for_another_writer_keeps_the_loop_serving(domain: Core) -> None:
    # Another process's write transaction (an import, a CLI command) holds the lock.
    other = sqlite3.connect(_path(domain), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    async def write() -> None:
        async with domain.uow() as uow:
            audit.record(uow, Actor(kind="system", ref="cli", door="cli"), "lock.test")
            await uow.commit()
        done.set()

    tick_task = asyncio.create_task(ticker())
    write_task = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not write_task.done()  # still waiting for the lock ...
    assert ticks >= 20  # ... while the loop went on serving (a blocked loop ticks once)
    other.execute("ROLLBACK")
    other.close()
    await asyncio.wait_for(write_task, timeout=5)
    await tick_task
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(AuditRecord)) == 1


async def test_gives_up_after_the_lock_wait(domain: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "LOCK_WAIT_SECONDS", 0.2)
    other = sqlite3.connect(_path(domain), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Exception, match="locked"):
            async with domain.uow() as uow:
                audit.record(uow, Actor(kind="system", ref="cli", door="cli"), "lock.test")
                await uow.commit()
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with domain.uow() as uow:  # the connection is usable again
        assert await uow.session.scalar(select(func.count()).select_from(AuditRecord)) == 0


async def test_checkpoints_run_off_the_loop_not_inside_commits(domain: Core) -> None:
    """The writer never checkpoints (a commit would stall the loop for the copy); the
    checkpoint thread folds the log into the database file instead."""
    path = _path(domain)

    def in_the_file() -> int:
        # immutable=1 reads the database file alone, not the write-ahead log — without
        # locking, so a read while the checkpoint thread is copying pages can see a torn
        # file ("malformed"): that read counts as "not there yet" and is tried again.
        try:
            with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as raw:
                return int(raw.execute("SELECT count(*) FROM audit_log WHERE action = 'fill'").fetchone()[0])
        except sqlite3.DatabaseError:
            return 0

    async with domain.uow() as uow:
        raw = (await uow.session.connection()).sync_connection.connection.driver_connection  # type: ignore[union-attr]
        assert raw.raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    # Hold the checkpoint thread off while writing, to see what the commit alone does.
    with sqlite.checkpoints.checkpointing:
        async with domain.uow() as uow:
            for n in range(3000):
                audit.record(uow, Actor(kind="system", ref="cli", door="cli"), "fill", n=n, pad="x" * 200)
            await uow.commit()
        assert in_the_file() == 0  # all of it is still in the log
    for _ in range(200):  # the thread's own run, every 0.25 s
        if in_the_file():
            break
        await asyncio.sleep(0.05)
    assert in_the_file() == 3000
