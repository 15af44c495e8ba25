"""Files the service creates are its user's only (core/private_files.py), whatever the
umask; and on PostgreSQL nothing starts without MADOGUCHI_SECRET_KEY."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import MissingSecretKey, Settings
from core.outbox import enqueue_mail
from core.storage import create_engine
from core.unit_of_work import Core
from madoguchi import cli
from migrations import upgrade
from tests.integration.mail.conftest import worker_for

PG_URL = "postgresql+asyncpg://madoguchi@127.0.0.1:5432/madoguchi"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022): what we create must be private anyway."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
async def test_the_sqlite_database_its_wal_and_shm_and_var_are_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    database = var / "madoguchi.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        await upgrade(engine)
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: _mode(p) for p in (database, wal, shm)} == {
            "madoguchi.db": 0o600,
            "madoguchi.db-wal": 0o600,
            "madoguchi.db-shm": 0o600,
        }
        assert _mode(var) == 0o700
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("open_umask")
def test_the_generated_secret_key_and_its_folder_are_private(tmp_path: Path) -> None:
    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
        MADOGUCHI_VAR_DIR=str(tmp_path / "var" / "deeper"),
        _env_file=None,
    )
    key = settings.resolved_secret_key()
    assert len(key) > 40 and settings.resolved_secret_key() == key
    assert _mode(tmp_path / "var" / "deeper" / "secret_key") == 0o600
    assert _mode(tmp_path / "var" / "deeper") == 0o700 and _mode(tmp_path / "var") == 0o700


@pytest.mark.usefixtures("open_umask")
async def test_outbox_eml_files_holding_links_are_private(domain: Core) -> None:
    async with domain.uow() as uow:
        enqueue_mail(
            uow,
            "username_reminder",
            ["taro@customer.example"],
            {
                "username": "taro@customer.example",
                "company": "顧客A",
                "last_name": "山田",
                "first_name": "太郎",
            },
            locale="ja",
        )
        await uow.commit()
    await worker_for(domain).drain()
    [path] = list(domain.settings.outbox_dir.glob("*.eml"))
    assert _mode(path) == 0o600
    assert _mode(domain.settings.outbox_dir) == 0o700


def test_postgresql_without_a_secret_key_refuses_and_says_what_to_do(tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=PG_URL, MADOGUCHI_VAR_DIR=str(tmp_path / "var"), _env_file=None)
    with pytest.raises(MissingSecretKey, match="MADOGUCHI_SECRET_KEY is required with PostgreSQL") as refused:
        settings.resolved_secret_key()
    assert "copy the contents" not in str(refused.value)
    assert not (tmp_path / "var").exists()  # nothing generated
    # A machine that generated a key before (on SQLite) is told where it is.
    sqlite = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
        MADOGUCHI_VAR_DIR=str(tmp_path / "var"),
        _env_file=None,
    )
    sqlite.resolved_secret_key()
    with pytest.raises(MissingSecretKey, match=r"copy the contents of .*secret_key"):
        settings.resolved_secret_key()
    with_key = settings.model_copy(update={"secret_key": "shared-by-every-instance"})
    assert with_key.resolved_secret_key() == "shared-by-every-instance"


def test_serve_on_postgresql_without_a_secret_key_exits_with_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MADOGUCHI_SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    previous = os.umask(0o022)
    try:
        assert cli.main(["serve", "--no-smtp", "--no-migrate"]) == 2
    finally:
        os.umask(previous)
    err = capsys.readouterr().err
    assert "madoguchi: MADOGUCHI_SECRET_KEY is required with PostgreSQL" in err
    assert "token_urlsafe" in err
