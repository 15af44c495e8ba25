"""Alembic migrations and the one function that applies them.

``upgrade`` runs on an async engine: on PostgreSQL under an advisory lock, so several
``madoguchi serve`` instances starting together migrate once and wait for each other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent
ADVISORY_LOCK_ID = 0x6D61646F  # "mado"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


def head() -> str | None:
    """The newest revision this code brings the schema to (``/readyz``, ``madoguchi check``)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known() -> frozenset[str]:
    """Every revision this code knows. A recorded revision outside it was written by a newer
    version (a rolling upgrade in progress): ahead, not behind."""
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions())


async def current(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
