"""The Slack door in a process of its own, for the benchmarks that drive it over HTTP.

Why: a bench that serves the door on its own event loop pays the load generator's CPU —
aiohttp's client, signing, 16 requests in flight — inside every measured request, on the
same loop; Slack is another machine. Here the door (with a fake Slack Web API beside it)
serves from a child process like ``madoguchi serve`` does — its start-up heap frozen
(``gc.freeze()``, madoguchi/serve.py) — while the bench's process signs and sends, as
bench/slack.py does for the door's first measurements. The child also reports its own
CPU time, so a bench can give the door's CPU per request beside the latencies.

    async with DoorProcess(settings, now=NOW) as door:
        await session.post(door.events_url, ...)
        views = await door.calls("views.open")
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


class DoorProcess:
    """Starts ``python -m bench.door_process`` with ``settings`` (``Settings`` keyword
    arguments; ``SLACK_API_URL`` is the child's fake Slack) and a frozen clock at ``now``."""

    def __init__(self, settings: dict[str, Any], now: datetime | None = None) -> None:
        self.settings = settings
        self.now = now
        self.base = ""
        self.events_url = ""
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DoorProcess:
        args = ["--settings", json.dumps(self.settings)]
        if self.now is not None:
            args += ["--now", self.now.isoformat()]
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.door_process", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert self._process.stdout is not None
        line = (await asyncio.wait_for(self._process.stdout.readline(), 60)).decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"the door process did not start: {line!r}")
        self.base = line.split()[1]
        self.events_url = f"{self.base}/slack/events"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()  # the child stops at end of input
            try:
                await asyncio.wait_for(self._process.wait(), 30)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    async def _get(self, path: str) -> Any:
        assert self._session is not None, "use the door process inside `async with`"
        async with self._session.get(f"{self.base}{path}") as resp:
            return await resp.json()

    async def calls(self, method: str) -> list[dict[str, Any]]:
        """The bodies of the fake Slack's recorded ``method`` calls, oldest first."""
        return list(await self._get(f"/bench/calls/{method}"))

    async def cpu_seconds(self) -> float:
        """The child's CPU time so far (user + system)."""
        return float(await self._get("/bench/cpu"))

    async def drain(self) -> None:
        """Waits for the door's after-ack jobs (Web API calls)."""
        await self._get("/bench/drain")


async def serve(settings: dict[str, Any], now: str | None) -> None:
    from aiohttp import web

    from bot.app import SlackDoor
    from core.clock import FrozenClock, SystemClock
    from core.config import Settings
    from core.storage import create_engine, session_factory
    from core.unit_of_work import Core
    from tests.fakeslack import FakeSlack

    fake = await FakeSlack().start()
    config = Settings(**{**settings, "SLACK_API_URL": fake.url}, _env_file=None)
    clock = FrozenClock(datetime.fromisoformat(now)) if now else SystemClock()
    core = Core(session_factory(create_engine(config.database_url)), config, clock)
    door = SlackDoor(core)
    await door.start()

    async def calls(request: web.Request) -> web.Response:
        return web.json_response([c.body for c in fake.of(request.match_info["method"])])

    async def cpu(_request: web.Request) -> web.Response:
        return web.json_response(time.process_time())

    async def drain(_request: web.Request) -> web.Response:
        await door.drain()
        return web.json_response(True)

    app = web.Application()
    app.add_routes(door.routes())
    app.router.add_get("/bench/calls/{method}", calls)
    app.router.add_get("/bench/cpu", cpu)
    app.router.add_get("/bench/drain", drain)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gc.freeze()
    print(f"READY http://127.0.0.1:{port}", flush=True)
    # Serve until the bench closes our standard input.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    await door.stop()
    await fake.stop()
    await core.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="Settings keyword arguments as JSON")
    parser.add_argument("--now", help="a frozen clock at this ISO time")
    args = parser.parse_args()
    asyncio.run(serve(json.loads(args.settings), args.now))


if __name__ == "__main__":
    main()
