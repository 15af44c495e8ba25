"""Every command logs like ``serve``: one JSON object per line on stderr, scrubbed, at
MADOGUCHI_LOG_LEVEL; what the command reports stays plain on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def madoguchi(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MADOGUCHI_", "DATABASE_URL"))}
    base |= {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        "MADOGUCHI_SECRET_KEY": "k" * 40,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "madoguchi", *args],
        cwd=tmp_path,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_logs_json_lines_and_prints_the_revision(tmp_path: Path) -> None:
    done = madoguchi(tmp_path, "db", "upgrade", MADOGUCHI_LOG_LEVEL="info")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= record.keys()
    assert any(json.loads(line)["logger"].startswith("alembic") for line in lines)
    assert done.stdout.strip() == done.stdout.strip().splitlines()[-1]  # the revision, one plain line


@pytest.mark.parametrize("command", [("db", "upgrade"), ("purge",)])
def test_the_log_level_setting_silences_info_lines(tmp_path: Path, command: tuple[str, ...]) -> None:
    assert madoguchi(tmp_path, "db", "upgrade").returncode == 0
    done = madoguchi(tmp_path, *command, MADOGUCHI_LOG_LEVEL="WARNING")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip()


def test_an_unknown_log_level_is_refused_by_check(tmp_path: Path) -> None:
    done = madoguchi(tmp_path, "check", MADOGUCHI_LOG_LEVEL="chatty", MADOGUCHI_LOCALE="en")
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL  configuration: MADOGUCHI_LOG_LEVEL is not valid (")
