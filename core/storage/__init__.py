"""The storage fence: everything that touches driver or SQLAlchemy internals.

The rest of core reads and writes through two interfaces only — a unit of work
(``core.unit_of_work``: one transaction, ORM session, explicit commit) and a snapshot
(``core.snapshots``: read-only, no ORM) — and asks questions with ``Query`` objects
built once. How that is made fast lives here, each module naming the upstream version
it mirrors; pyproject pins those libraries below their next minor release:

- ``engines``: engines, session factories, the pool's width.
- ``sqlite``: SQLite inline on the event loop (aiosqlite internals), BEGIN IMMEDIATE
  that waits in asyncio sleeps, checkpoints on a thread, reader connections.
- ``compiled``: statements compiled once and run on a bare sqlite3 connection
  (SQLAlchemy compiler internals).
- ``queue``: the one queue that decides whether a transaction waits, with priorities.
"""

from core.storage.engines import bound_engine, create_engine, is_sqlite, pool_width, session_factory
from core.storage.queue import TURN_TIMEOUT_SECONDS, Priority, TurnQueue
from core.storage.sqlite import DEFERRED_BEGIN

__all__ = [
    "DEFERRED_BEGIN",
    "TURN_TIMEOUT_SECONDS",
    "Priority",
    "TurnQueue",
    "bound_engine",
    "create_engine",
    "is_sqlite",
    "pool_width",
    "session_factory",
]
