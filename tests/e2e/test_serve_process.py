"""``madoguchi serve`` as a newcomer runs it: a subprocess, SQLite, free ports.

The same steps as ``make run`` (migrate, demo data, serve) minus creating the venv;
/healthz must answer within a minute and SIGTERM must end the process cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MADOGUCHI = [sys.executable, "-m", "madoguchi.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MADOGUCHI_", "DATABASE_URL"))}
    http, smtp = free_port(), free_port()
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'var' / 'madoguchi.db'}",
        MADOGUCHI_VAR_DIR=str(tmp_path / "var"),
        MADOGUCHI_OUTBOX_DIR=str(tmp_path / "var" / "outbox"),
        MADOGUCHI_HTTP_PORT=str(http),
        MADOGUCHI_SMTP_PORT=str(smtp),
        MADOGUCHI_PUBLIC_URL=f"http://127.0.0.1:{http}",
        PYTHONPATH=str(ROOT),
    )
    return env


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_newcomers_path_serves_healthz_within_a_minute_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = _env(tmp_path)
    started = time.monotonic()
    subprocess.run([*MADOGUCHI, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True)
    demo = subprocess.run([*MADOGUCHI, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True)
    if "not implemented" not in demo.stderr:
        assert demo.returncode == 0, demo.stderr
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*MADOGUCHI, "serve"], cwd=tmp_path, env=env, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{env['MADOGUCHI_HTTP_PORT']}/healthz"
            status, body = 0, b""
            while time.monotonic() - started < 60 and process.poll() is None:
                try:
                    status, body = _get(url)
                    if status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            assert status == 200, log_path.read_text()
            assert json.loads(body)["database"] == "ok"
            metrics_status, metrics = _get(url.replace("/healthz", "/metrics"))
            assert metrics_status == 200
            assert b"madoguchi_outbox_depth" in metrics
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    messages = [line["msg"] for line in lines]
    assert "ready" in messages
    assert messages[-1] == "stopped"


def test_role_switches_leave_smtp_and_the_worker_out(tmp_path: Path) -> None:
    from tests.e2e.serving import ServeProcess, base_env

    server = ServeProcess(tmp_path, base_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'roles.db'}"))
    try:
        server.start("--no-smtp", "--no-worker")
        status, body = server.healthz()
        assert status == 200
        assert json.loads(body)["components"] == {"web": "ok", "housekeeping": "ok"}
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{server.smtp_port}/", timeout=2)
        assert server.terminate() == 0
    finally:
        server.ensure_stopped()
