"""``madoguchi serve`` with a relay: the acknowledgements of a burst reach the relay once
each, from the service's own loop (the default) or from the sender process
(``MADOGUCHI_RELAY_PROCESS=true``), and SIGTERM ends the service and its children cleanly."""

from __future__ import annotations

import asyncio
import time
from email import message_from_bytes
from pathlib import Path

import pytest

from tests.e2e.serving import Burst, ServeProcess, base_env
from tests.integration.mail.conftest import Sink, start_sink

pytestmark = pytest.mark.slow

TOTAL = 40


def _workers(pid: int) -> set[int]:
    """The service's spawned worker processes (not multiprocessing's resource tracker)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(p) for p in task.read_text().split()]
        except OSError:
            continue
        for child in children:
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(child)
            except OSError:
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("own_process", ["true", "false"])
async def test_a_burst_is_acknowledged_at_the_relay_once_each(tmp_path: Path, own_process: str) -> None:
    sink = Sink()
    controller = start_sink(sink)
    env = base_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'var' / 'madoguchi.db'}")
    env.update(MADOGUCHI_RELAY_URL=f"smtp://127.0.0.1:{sink.port}", MADOGUCHI_RELAY_PROCESS=own_process)
    serve = ServeProcess(tmp_path, env)
    try:
        await asyncio.to_thread(serve.start)
        burst = Burst()
        await asyncio.to_thread(burst.send, serve.smtp_port, range(TOTAL))
        assert burst.accepted == set(range(TOTAL))
        deadline = time.monotonic() + 120
        while len(sink.messages) < TOTAL and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        children = _workers(serve.pid)
        assert len(children) == (2 if own_process == "true" else 1), "the parser (and the sender)"
        assert await asyncio.to_thread(serve.terminate) == 0
        assert not any(_alive(child) for child in children), "no child outlives the service"
    finally:
        serve.ensure_stopped()
        controller.stop()
    replies = [str(message_from_bytes(raw)["In-Reply-To"]) for _f, _r, raw in sink.messages]
    assert sorted(replies) == sorted(f"<burst-{n:04d}@customer.example.jp>" for n in range(TOTAL))
    assert all(mail_from.startswith("contact+b") for mail_from, _r, _raw in sink.messages)
    assert not list((tmp_path / "var" / "outbox").glob("*.eml")), "to the relay, not to files"
