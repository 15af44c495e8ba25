"""One import from start to end: its own connection, the reading phase, the merge, the
audit record, and settling PostgreSQL afterwards.

Separate from the phases because this is the only place that decides transactions:
staging runs in a deferred transaction (on SQLite it does not take the write lock, so a
running service keeps working), the merge and its audit record commit together, and
the connection is thrown away at the end with its TEMP tables.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.actors import Actor
from core.business_days import calendar_for
from core.clock import JST
from core.importing.merging import Merger
from core.importing.reading import FileReader
from core.importing.report import ImportReport, ProgressCallback
from core.importing.staging import create_staging, prepare_for_merge
from core.models import AuditRecord
from core.storage import DEFERRED_BEGIN
from core.unit_of_work import UnitOfWork

BATCH_SIZE = 5_000
_SQLITE_CACHE_KIB = 256 * 1024
_IMPORTED_TABLES = (
    "companies",
    "contracts",
    "support_keys",
    "support_ids",
    "support_id_contacts",
    "pending_contacts",
    "articles",
)


async def _settle_postgres(conn: AsyncConnection) -> None:
    """Make the lookups fast right after a big import instead of after autovacuum:
    rows inserted into a GIN index wait in its pending list, which every search then
    reads whole (and the planner, seeing it, prefers a sequential scan); fresh
    statistics let the planner see the tables' new size; and a VACUUM now sets the
    visibility map, which autovacuum would otherwise do minutes later over a million
    new rows while people are being served (it was seen doubling a lookup's p99)."""
    for index in (
        "ix_companies_name_norm_trgm",
        "ix_companies_address_norm_trgm",
        "ix_articles_search_doc",
        "ix_articles_title_doc",
    ):
        await conn.execute(
            text("SELECT gin_clean_pending_list(to_regclass(:name)) WHERE to_regclass(:name) IS NOT NULL"),
            {"name": index},
        )
    await conn.commit()
    # VACUUM cannot run inside a transaction block.
    autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
    for name in _IMPORTED_TABLES:
        await autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {name}")


async def import_file(
    uow: UnitOfWork,
    actor: Actor,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Imports the vendor file at ``path``; raises ``ImportRejected`` and writes nothing
    if any row is wrong. Commits on its own connection (not ``uow.session``)."""
    started = time.monotonic()
    engine = uow.session.bind
    if not isinstance(engine, AsyncEngine):
        raise TypeError("the import needs a unit of work bound to an engine")
    report = ImportReport()
    async with engine.connect() as conn:
        try:
            await conn.execution_options(**{DEFERRED_BEGIN: True})
            await conn.run_sync(create_staging)
            if conn.dialect.name == "sqlite":
                # The merge touches every page of the big indexes; SQLite's default
                # 2 MiB cache would re-read them from disk again and again.
                await conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            reader = FileReader(uow, conn, path, progress, batch_size)
            await reader.read()
            report.rows = reader.rows
            totals = reader.totals()
            del reader  # the validation sets are no longer needed during the merge
            await prepare_for_merge(conn)
            await conn.commit()

            await conn.execution_options(**{DEFERRED_BEGIN: False})
            now = uow.clock.now()
            mail_day = calendar_for(uow.settings).next_business_day(now.astimezone(JST).date())
            await Merger(conn, report, totals, now, progress, mail_day=mail_day).run()
            report.seconds = time.monotonic() - started
            await conn.execute(
                insert(AuditRecord).values(
                    at=now,
                    actor_kind=actor.kind,
                    actor_id=actor.ref if actor.account_id is None else f"account:{actor.account_id}",
                    door=actor.door,
                    action="import.completed",
                    details={
                        "file": path.name,
                        "counts": {kind: vars(c) for kind, c in report.counts.items()},
                    },
                )
            )
            await conn.commit()
            if conn.dialect.name == "postgresql":
                await _settle_postgres(conn)
        finally:
            # TEMP tables live as long as the database connection; the pool would keep
            # them (and their disk space) around, so this connection is closed for good.
            await conn.invalidate()
    return report
