"""``madoguchi serve``: one asyncio process with every door the settings enable."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from sqlalchemy import text

from core.config import Settings
from core.unit_of_work import Core
from madoguchi.runtime import build_core
from migrations import upgrade

log = logging.getLogger("madoguchi.serve")


def http_app(core: Core) -> web.Application:
    """The HTTP side: /healthz now; the doors add their routes here."""
    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        try:
            async with core.uow() as uow:
                await uow.session.execute(text("SELECT 1"))
            database = "ok"
        except Exception:  # any failure means "not reachable"; the reason goes to the log
            log.exception("healthz: database check failed")
            database = "unreachable"
        status = 200 if database == "ok" else 503
        return web.json_response(
            {"status": "ok" if status == 200 else "degraded", "database": database}, status=status
        )

    app.router.add_get("/healthz", healthz)
    return app


async def serve(settings: Settings, *, smtp: bool = True, worker: bool = True, migrate: bool = True) -> int:
    engine, core = build_core(settings)
    if migrate:
        await upgrade(engine)
    runner = web.AppRunner(http_app(core))
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("http listening on %s:%s", settings.http_host, settings.http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await runner.cleanup()
    await engine.dispose()
    return 0
