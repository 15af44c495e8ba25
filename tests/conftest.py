"""Fixtures shared by every test.

Storage: the ``db_url`` fixture is parametrised over SQLite and PostgreSQL; the
PostgreSQL half runs only when TEST_DATABASE_URL is set (``.ci/run`` sets it) and uses a
fresh database of its own, created for this run and dropped after it, so nothing left
by an earlier run decides a result. The schema is built by the alembic migrations, the
same way production builds it. Between tests every table is emptied.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from core.clock import JST, FrozenClock
from core.config import Settings
from core.storage import create_engine, session_factory
from core.unit_of_work import Core
from migrations import upgrade
from tests import factories
from tests.fakeslack import FakeSlack

# Thursday 2026-11-26 10:00 in Tokyo: a business day, well inside the demo contracts.
TEST_NOW = datetime(2026, 11, 26, 10, 0, tzinfo=JST)

_CLEARED_PREFIXES = ("SLACK_", "MADOGUCHI_", "DATABASE_URL")


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real tokens or a developer's .env never leak into a test."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES):
            monkeypatch.delenv(name, raising=False)


def _postgres_admin_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _migrate(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "madoguchi.db"
        url = f"sqlite+aiosqlite:///{path}"
        _migrate(url)
        yield url
        return
    admin = _postgres_admin_url()
    if admin is None:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL half skipped")
    name = f"madoguchi_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(admin, f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        asyncio.run(_pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(TEST_NOW)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        DATABASE_URL=db_url,
        MADOGUCHI_SECRET_KEY="test-secret-key-not-for-production",
        MADOGUCHI_VAR_DIR=str(tmp_path / "var"),
        MADOGUCHI_OUTBOX_DIR=str(tmp_path / "var" / "outbox"),
        MADOGUCHI_STAFF_USERS="USTAFF1",
        MADOGUCHI_STAFF_CHANNEL="CSTAFF",
        _env_file=None,
    )


@pytest.fixture
async def domain(settings: Settings, clock: FrozenClock) -> AsyncIterator[Core]:
    """The core as the composition root builds it, on a clean database, frozen clock."""
    engine = create_engine(settings.database_url)
    core = Core(session_factory(engine), settings, clock)
    try:
        yield core
    finally:
        await engine.dispose()
        await factories.empty_all_tables(settings.database_url)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on a loopback port, recording every call (tests/fakeslack.py)."""
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()
