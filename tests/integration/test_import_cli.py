"""``madoguchi import`` and ``madoguchi demo`` as an operator runs them: in a real
process, on a terminal or not, and killed halfway."""

from __future__ import annotations

import json
import os
import pty
import select as select_module
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core import importing, support_keys
from core.actors import SYSTEM_CLI
from core.config import Settings
from core.errors import InvalidSupportKey
from core.models import Company, Contract, SupportId, SupportKey
from core.unit_of_work import Core
from madoguchi import datagen, runtime

ROOT = Path(__file__).resolve().parents[2]


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": settings.database_url,
        "MADOGUCHI_SECRET_KEY": settings.resolved_secret_key(),
        "MADOGUCHI_VAR_DIR": str(settings.var_dir),
        "MADOGUCHI_LOCALE": "en",
    }


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "madoguchi.cli", *args]


def test_progress_is_drawn_in_place_on_a_terminal(domain: Core, settings: Settings, tmp_path: Path) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("how progress is printed does not depend on the database")
    source = tmp_path / "vendor.json"
    datagen.write(source, datagen.scaled(2_000))
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            cli("import", str(source)),
            stdout=secondary,
            stderr=secondary,
            stdin=subprocess.DEVNULL,
            env=cli_env(settings),
            cwd=tmp_path,
        )
        os.close(secondary)
        output = b""
        while True:
            ready, _, _ = select_module.select([primary], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal is gone once the child exits
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0
    finally:
        os.close(primary)
    text = output.decode("utf-8", "replace")
    assert "\r\x1b[2K[" in text
    assert "rows/s" in text and "ETA" in text and "█" in text
    assert "Import finished" in text


def test_without_a_terminal_progress_is_plain_log_lines(
    domain: Core, settings: Settings, tmp_path: Path
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("how progress is printed does not depend on the database")
    source = tmp_path / "vendor.json"
    datagen.write(source, datagen.scaled(2_000))
    done = subprocess.run(
        cli("import", str(source)), capture_output=True, env=cli_env(settings), cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "\r" not in err and "\x1b" not in err and "█" not in err
    progress = [line for line in err.splitlines() if "rows/s" in line]
    assert any("reading contracts" in line for line in progress)
    assert any("writing" in line for line in progress)
    out = done.stdout.decode()
    assert "Import finished" in out and "support keys: 2,000 / 0 / 0" in out


def test_a_bad_row_is_printed_and_the_command_fails(domain: Core, settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "vendor.json"
    source.write_text(
        json.dumps({"companies": [{"code": "C1", "name": "x"}, {"code": "C1", "name": "y"}]}),
        encoding="utf-8",
    )
    done = subprocess.run(
        cli("import", str(source)), capture_output=True, env=cli_env(settings), cwd=tmp_path, timeout=120
    )
    assert done.returncode == 1
    assert "companies[1].code: duplicate of companies[0]" in done.stderr.decode()


async def test_an_import_killed_midway_leaves_the_previous_data_intact(
    domain: Core, settings: Settings, tmp_path: Path
) -> None:
    first = tmp_path / "first.json"
    datagen.write(first, datagen.scaled(200))
    async with domain.uow() as uow:
        await importing.import_file(uow, SYSTEM_CLI, first)

    async def snapshot() -> tuple[int, int, int, list[str]]:
        async with domain.uow() as uow:
            session = uow.session
            return (
                int(await session.scalar(select(func.count()).select_from(Company)) or 0),
                int(await session.scalar(select(func.count()).select_from(Contract)) or 0),
                int(await session.scalar(select(func.count()).select_from(SupportKey)) or 0),
                list(await session.scalars(select(Company.name).order_by(Company.code).limit(5))),
            )

    before = await snapshot()
    # A larger file whose first companies rename the ones already there: once the
    # merge has started, those renames are written but not committed.
    second = tmp_path / "second.json"
    datagen.write(second, datagen.scaled(30_000))
    text = second.read_text(encoding="utf-8").replace("株式会社", "合同会社", 50)
    second.write_text(text, encoding="utf-8")

    process = subprocess.Popen(
        cli("import", str(second)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(settings),
        cwd=tmp_path,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    seen = b""
    while b"writing" not in seen and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen += line
    # "writing" is reported after the first merge step: the transaction holds changes.
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the import finished before it could be killed"
    process.stderr.close()
    assert b"writing" in seen

    assert await snapshot() == before
    # The database is usable afterwards, and still holds exactly the first file.
    async with domain.uow() as uow:
        report = await importing.import_file(uow, SYSTEM_CLI, first)
    assert not report.changed


async def test_demo_loads_the_demo_companies_and_is_idempotent(domain: Core, settings: Settings) -> None:
    assert await runtime.demo_command(settings) == 0
    assert await runtime.demo_command(settings) == 0
    async with domain.uow() as uow:
        names = set(await uow.session.scalars(select(Company.name)))
        assert {"顧客A", "顧客Q"} <= names
        # The frozen test clock (2026-11-26) is inside the valid demo contracts...
        found = await support_keys.check_usable(uow, "SK-DEMO-A001-0001", "demo")
        assert found.contract.ends_on.year >= 2030
        migrated = await uow.session.scalar(select(SupportId).where(SupportId.name == "MIGRATED_001"))
        assert migrated is not None and migrated.migrated
        migrated_key = await support_keys.find(uow, "SK-DEMO-Q004-0001")
        assert migrated_key is not None and migrated_key.contract.requires_terms
        assert migrated_key.key.support_id_id == migrated.id
    async with domain.uow() as uow:
        # ...and one contract has ended.
        with pytest.raises(InvalidSupportKey):
            await support_keys.check_usable(uow, "SK-DEMO-A003-EXP1", "demo")


def test_demo_prints_keys_to_try() -> None:
    listing = runtime.demo_keys("en")
    assert "SK-DEMO-A001-0001" in listing and "valid" in listing
    assert "SK-DEMO-A003-EXP1" in listing and "outside its period" in listing
    assert "MIGRATED_001" in listing


async def test_on_sqlite_a_running_import_lets_the_service_write_until_its_final_merge(
    domain: Core, settings: Settings, tmp_path: Path
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has row locks; the question is SQLite's single writer")
    source = tmp_path / "vendor.json"
    datagen.write(source, datagen.scaled(50_000))
    process = subprocess.Popen(
        cli("import", str(source)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(settings),
        cwd=tmp_path,
    )
    assert process.stderr is not None
    seen = b""
    while b"reading contracts" not in seen:
        line = process.stderr.readline()
        assert line, seen
        seen += line
    # The import is reading the file now: a writer must get the lock at once.
    writer = sqlite3.connect(
        make_url(settings.database_url).database or "", timeout=1.0, isolation_level=None
    )
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO companies (code, name, name_norm, postal_code, prefecture, address, address_norm, phone)"
            " VALUES ('LIVE-1', '書込テスト', '書込テスト', '', '', '', '', '')"
        )
        writer.execute("COMMIT")
    finally:
        writer.close()
    rest = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 0, rest
    assert b"writing" in rest  # the write above happened before the merge began
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Company)) == 5_000 + 1
