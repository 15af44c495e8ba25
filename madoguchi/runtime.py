"""Building the core from settings, and the one-shot CLI commands."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from core.config import Settings
from core.db import create_engine, session_factory
from core.unit_of_work import Core
from migrations import current, upgrade


def build_core(settings: Settings) -> tuple[AsyncEngine, Core]:
    engine = create_engine(settings.database_url)
    return engine, Core(session_factory(engine), settings)


async def db_command(settings: Settings, command: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        if command == "upgrade":
            await upgrade(engine)
        print(await current(engine))
    finally:
        await engine.dispose()
    return 0


async def import_command(settings: Settings, path: str) -> int:
    raise SystemExit("import: not implemented yet")


async def demo_command(settings: Settings) -> int:
    raise SystemExit("demo: not implemented yet")
