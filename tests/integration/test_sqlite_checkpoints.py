"""The checkpoint thread (``core.storage.sqlite.Checkpointer``) and the engines it serves:
an engine's end must be noticed wherever the garbage collector happens to run."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from core.storage import sqlite


def test_an_engine_collected_while_the_checkpointer_reads_its_files_deadlocks_nothing(
    tmp_path: Path,
) -> None:
    """An engine's end is noticed by a finalizer, which the garbage collector runs in
    whichever thread's allocation started a collection, maybe the checkpoint thread while
    it holds its own lock (stop 24's CI hung there: that thread stuck on its own lock,
    every later ``create_engine`` behind it). Here a collection runs with the lock held;
    the engine it frees must still be counted off its file."""
    keeper = sqlite.Checkpointer()
    path = str(tmp_path / "gone.db")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    keeper.watch(engine, path)
    assert keeper.watching() == [str(Path(path).resolve())]
    cycle: list[object] = [engine]
    cycle.append(cycle)  # only the cyclic collector frees it, as engines in a test run are
    del engine, cycle

    def collect_holding_the_lock() -> None:
        with keeper._lock:  # where _checkpoint is when its own allocation starts a collection
            gc.collect()

    collector = threading.Thread(target=collect_holding_the_lock, daemon=True)
    collector.start()
    collector.join(10)
    assert not collector.is_alive(), "the finalizer waited for a lock its own thread holds"
    assert keeper.watching() == []
