"""The parser process never outlives the service that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SERVICE = """
import asyncio, os, sys
from core.config import Settings
from mail.parser_process import ParserProcess

async def main() -> None:
    settings = Settings(DATABASE_URL="sqlite+aiosqlite:///unused.db", MADOGUCHI_SECRET_KEY="k", _env_file=None)
    parser = await ParserProcess.start(settings)
    print(parser.pid, flush=True)
    await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_parser_process_ends_when_the_service_is_killed_outright(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    service = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert service.stdout is not None
        [parser] = [int(pid) for pid in service.stdout.readline().split()]
        assert _alive(parser)
    finally:
        service.send_signal(signal.SIGKILL)
        service.wait()
    deadline = time.monotonic() + 30
    while _alive(parser) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(parser):  # do not leave it behind even when the test fails
        os.kill(parser, signal.SIGKILL)
        raise AssertionError("the parser process outlived the service")
