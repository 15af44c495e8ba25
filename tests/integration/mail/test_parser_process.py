"""The parser process never outlives the service that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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


def test_a_batch_reaches_the_parser_whole_large_mail_apart_small_mail_pickled() -> None:
    """A large stored mail crosses the pipe as a message of its own (no pickled copy in
    the service), small ones with their batch; the parser sees every record as sent, in
    order, bytes for bytes."""
    from multiprocessing import Pipe

    from core.config import Settings
    from mail.parser_process import SEPARATE_BYTES, _receive_call, _send_call, parse_batch

    settings = Settings(
        DATABASE_URL="sqlite+aiosqlite:///unused.db", MADOGUCHI_SECRET_KEY="k", _env_file=None
    )
    records = [
        (b"small one", "a@example.com", ["support@vendor.example"]),
        (b"L" * SEPARATE_BYTES, "b@example.com", ["support@vendor.example"]),
        (b"small two", "c@example.com", ["x@vendor.example", "y@vendor.example"]),
        (os.urandom(3 * SEPARATE_BYTES), "d@example.com", ["support@vendor.example"]),
    ]
    ours, theirs = Pipe()
    # The pipe holds less than a large mail: the sending side runs as the service runs it,
    # on a thread of its own (``asyncio.to_thread``).
    sending = threading.Thread(target=_send_call, args=(ours, parse_batch, settings, records))
    sending.start()
    work, got_settings, payload = _receive_call(theirs)
    sending.join()
    assert work is parse_batch
    assert got_settings == settings
    assert [tuple(record) for record in payload] == records
    assert not theirs.poll(0)  # nothing left over in the pipe
    # Any other call goes as one pickled message, untouched.
    sending = threading.Thread(target=_send_call, args=(ours, len, settings, [b"x" * (2 * SEPARATE_BYTES)]))
    sending.start()
    assert _receive_call(theirs) == (len, settings, [b"x" * (2 * SEPARATE_BYTES)])
    sending.join()
