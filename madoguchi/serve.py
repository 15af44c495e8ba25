"""``madoguchi serve``: one asyncio process with every door the settings enable.

The shape is in ``madoguchi.components`` (read it before adding a door): each door names
one factory in ``COMPONENTS``; the factory adds HTTP routes and/or returns a component
with start/stop. This module owns the order of things: migrate (under PostgreSQL's
advisory lock, so several instances can start together), build, listen, and on
SIGTERM stop accepting, let every component finish what is in flight, then exit.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from sqlalchemy import func, select, text

from core.clock import Clock
from core.config import Settings
from core.models import OutboxMessage
from core.unit_of_work import Core
from madoguchi.components import Component, Runtime
from madoguchi.metrics import CONTENT_TYPE, Metrics
from madoguchi.runtime import build_core
from migrations import upgrade

log = logging.getLogger("madoguchi.serve")

# One line per door: "module:factory", factory(rt: Runtime) -> Component | None.
# Started in this order, stopped in reverse: SMTP stops (and drains) before the outbox
# worker, so acknowledgements of the last accepted mails can still go out on the way down.
COMPONENTS: tuple[str, ...] = (
    "web.pages:build",
    "bot.serve:build",
    "mail.serve:build_worker",
    "mail.serve:build_smtp",
    "madoguchi.housekeeping:build",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route_name(request: web.Request) -> str:
    """The route template (``/activate/{token}``), never the raw path (it may hold a token)."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical


def _middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = _route_name(request)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499
            raise
        except Exception:
            metrics.errors.labels(where="http").inc()
            log.exception("unhandled error", extra={"route": route, "method": request.method})
            return web.Response(status=500, text="internal error\n")
        finally:
            metrics.http_requests.labels(route=route, method=request.method, status=str(status)).inc()
            log.info(
                "http request",
                extra={
                    "route": route,
                    "method": request.method,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )

    return observe


def load_factory(spec: str) -> Callable[[Runtime], Component | None]:
    module_name, _, attr = spec.partition(":")
    factory: Callable[[Runtime], Component | None] = getattr(importlib.import_module(module_name), attr)
    return factory


class Server:
    """Everything ``serve`` runs, startable and stoppable from a test on free ports."""

    def __init__(
        self,
        settings: Settings,
        *,
        smtp: bool = True,
        worker: bool = True,
        migrate: bool = True,
        components: Sequence[str] = COMPONENTS,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.migrate = migrate
        self.metrics = Metrics()
        self.engine, self.core = build_core(settings)
        if clock is not None:
            self.core = Core(self.core.sessions, settings, clock)
        self.app = web.Application(middlewares=[_middleware(self.metrics)])
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.runtime = Runtime(
            settings=settings,
            core=self.core,
            app=self.app,
            metrics=self.metrics,
            instance=self.instance,
            smtp=smtp,
            worker=worker,
        )
        self._specs = tuple(components)
        self.components: list[Component] = []
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.http_port: int | None = None
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)

    async def start(self) -> None:
        if self.migrate:
            await upgrade(self.engine)
            log.info("schema at head")
        for spec in self._specs:
            component = load_factory(spec)(self.runtime)
            if component is not None:
                self.components.append(component)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=30)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await self._site.start()
        server = self._site._server
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.settings.http_port
        log.info("http listening", extra={"host": self.settings.http_host, "port": self.http_port})
        for component in self.components:
            await component.start()
            log.info("component started", extra={"component": component.name})

    async def stop(self) -> None:
        log.info("stopping: no new connections")
        if self._site is not None:
            await self._site.stop()
        for component in reversed(self.components):
            try:
                await component.stop()
                log.info("component stopped", extra={"component": component.name})
            except Exception:
                self.metrics.errors.labels(where="shutdown").inc()
                log.exception("component failed to stop cleanly", extra={"component": component.name})
        if self._runner is not None:
            await self._runner.cleanup()
        await self.engine.dispose()
        log.info("stopped")

    async def _healthz(self, _request: web.Request) -> web.Response:
        try:
            async with self.core.uow() as uow:
                await uow.session.execute(text("SELECT 1"))
            database = "ok"
        except Exception:  # any failure means "not reachable"; the reason goes to the log
            log.exception("healthz: database check failed")
            database = "unreachable"
        parts = {c.name: ("ok" if c.healthy() else "stuck") for c in self.components}
        ok = database == "ok" and all(v == "ok" for v in parts.values())
        return web.json_response(
            {"status": "ok" if ok else "degraded", "database": database, "components": parts},
            status=200 if ok else 503,
        )

    async def _metrics(self, _request: web.Request) -> web.Response:
        try:
            async with self.core.uow() as uow:
                rows = (
                    await uow.session.execute(
                        select(OutboxMessage.channel, OutboxMessage.status, func.count())
                        .where(OutboxMessage.status.in_(("pending", "sending")))
                        .group_by(OutboxMessage.channel, OutboxMessage.status)
                    )
                ).all()
            self.metrics.outbox_depth.clear()
            for channel in ("mail", "slack"):
                for status in ("pending", "sending"):
                    self.metrics.outbox_depth.labels(channel=channel, status=status).set(0)
            for channel, status, count in rows:
                self.metrics.outbox_depth.labels(channel=channel, status=status).set(count)
        except Exception:
            self.metrics.errors.labels(where="metrics").inc()
            log.exception("metrics: outbox depth unavailable")
        for component in self.components:
            self.metrics.up.labels(component=component.name).set(1 if component.healthy() else 0)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def settle_heap() -> None:
    """Move what start-up built (models, statements built once, Bolt, templates) out of
    the garbage collector's reach: it lives as long as the process, and every full
    collection walked it again. Under load those pauses were the registration key
    step's p99 at 16 concurrent users (bench/slack.py, back-to-back runs: 38 → 16 ms
    and 46 → 25 ms)."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings, *, smtp: bool = True, worker: bool = True, migrate: bool = True) -> int:
    server = Server(settings, smtp=smtp, worker=worker, migrate=migrate)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await server.start()
        except OSError as exc:  # a port in use is the usual newcomer's trouble: say which
            log.error(
                "cannot listen: %s (set MADOGUCHI_HTTP_PORT / MADOGUCHI_SMTP_PORT to free ports)",
                exc.strerror or exc,
            )
            return 1
        settle_heap()
        log.info("ready", extra={"instance": server.instance})
        await stop.wait()
    finally:
        await server.stop()
    return 0
