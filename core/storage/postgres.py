"""PostgreSQL: a compiled ``Query`` (``core.storage.compiled``) run on the asyncpg
connection under SQLAlchemy's adapter, without SQLAlchemy's execution machinery.

Mirrors SQLAlchemy 2.1.x's asyncpg adapter (``dialects/postgresql/asyncpg.py``,
``AsyncAdapt_asyncpg_connection``: ``_execute_mutex``, ``_transaction``,
``_start_transaction``, ``_prepare`` and its prepared-statement cache,
``_handle_exception``) as its cursor's ``_prepare_and_execute`` uses them; pyproject pins
SQLAlchemy below 2.2. The statement is the one SQLAlchemy compiles for asyncpg, prepared
once per connection in the adapter's own cache and run with the parameters SQLAlchemy's
bind processors make; the rows go through the same result processors
(tests/integration/test_snapshots.py compares the answers, types and errors with
SQLAlchemy's own path).

Why: through ``session.execute`` a statement on PostgreSQL costs the Slack door several
times its round trip in CPU — the ORM's compile state, the statement cache key, the
greenlet switch, result metadata (docs/performance.md, "Inquiries at scale": the ask
submission's CPU per request was twice SQLite's).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from core.storage.compiled import Compiled, Row, arguments, converted


def adapter(connection: Connection) -> Any | None:
    """The asyncpg adapter connection under a SQLAlchemy connection, or None (another
    driver, or someone listens to every statement — tests counting statements, tracing:
    SQLAlchemy's own path then runs it, which tells them)."""
    dispatch = connection.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        return None
    found = connection.connection.dbapi_connection
    if not all(hasattr(found, name) for name in ("_prepare", "_start_transaction", "_execute_mutex")):
        return None
    return found


async def run_asyncpg(
    adapted: Any, dialect: Dialect, compiled: Compiled, params: dict[str, Any], *, begin: bool
) -> list[Row]:
    """``compiled`` with ``params`` on the adapter's connection. ``begin``: inside the
    adapter's transaction, begun here as its cursor begins it when none is (a unit of
    work, whose commit or rollback then ends it); else outside any (a read-only
    snapshot: at READ COMMITTED each statement sees its own snapshot either way)."""
    args = arguments(compiled, params)
    async with adapted._execute_mutex:
        try:
            if begin and adapted._transaction is None:
                await adapted._start_transaction()
            prepared, _attributes = await adapted._prepare(
                compiled.sql, getattr(dialect, "_invalidate_schema_cache_asof", 0)
            )
            fetched = await prepared.fetch(*args)
        except Exception as error:
            _raise(adapted, dialect, compiled, args, error)
    if not compiled.processed:
        return [tuple(row) for row in fetched]
    return converted(fetched, compiled)


def _raise(adapted: Any, dialect: Dialect, compiled: Compiled, args: list[Any], error: Exception) -> None:
    """The exception SQLAlchemy raises for ``error`` (an ``IntegrityError`` for a unique
    violation, ...): translated by the adapter, then wrapped as ``Connection`` does."""
    base = dialect.loaded_dbapi.Error
    try:
        adapted._handle_exception(error)
    except base as translated:
        raise DBAPIError.instance(compiled.sql, args, translated, base, dialect=dialect) from error
