"""``madoguchi serve``: one asyncio process with every door the settings enable.

The shape is in ``madoguchi.components`` (read it before adding a door): each door has a
factory, imported here and listed in ``COMPONENTS`` behind a one-line adapter; it adds
HTTP routes and/or returns a component with start/stop. The outbox worker is core's,
built here with the ports the doors implement (the staff channel from ``bot``, the mail
transport from ``mail``), so no door reaches another. This module owns the order of
things: migrate (under PostgreSQL's advisory lock, so several instances can start
together), build, listen, and on SIGTERM stop accepting, let every component finish
what is in flight, then exit.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot import serve as slack
from bot.staff_posts import build_staff_channel
from core import health
from core.clock import Clock
from core.config import Settings
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from madoguchi import listener
from madoguchi.components import Component, Factory, Runtime
from madoguchi.housekeeping import Housekeeping
from madoguchi.metrics import CONTENT_TYPE, Metrics
from madoguchi.runtime import build_core
from mail import serve as smtp
from mail.transport import build_transport, describe
from migrations import head, known, upgrade
from web import account_pages, clients, pages

log = logging.getLogger("madoguchi.serve")


def web_pages(rt: Runtime) -> Component | None:
    account_pages.add_routes(rt.core, app=rt.app, metrics=rt.metrics)
    return pages.build(rt.core, app=rt.app, metrics=rt.metrics)


def slack_door(rt: Runtime) -> Component | None:
    return slack.build(rt.core, app=rt.app, metrics=rt.metrics)


def outbox_worker(rt: Runtime) -> Component | None:
    """Core's outbox worker, delivering through the mail door's transport and, when Slack
    is configured, the Slack door's staff channel."""
    if not rt.worker:
        log.info("outbox worker off (--no-worker)")
        return None
    staff = build_staff_channel(rt.core)
    if staff is None:
        log.info("outbox worker: Slack delivery off; staff posts wait in the outbox until it is configured")
    # MADOGUCHI_RELAY_PROCESS: rendering and SMTP in a process of their own; else the
    # acknowledgements are rendered in the mail door's parser process when it has time.
    transport = build_transport(rt.settings, own_process=rt.settings.relay_process, render_elsewhere=True)
    worker = OutboxWorker(rt.core, transport, staff=staff, metrics=rt.metrics, worker_id=rt.instance)
    log.info(
        "outbox worker delivers mail to %s, %d rows a batch",
        describe(rt.settings, own_process=rt.settings.relay_process),
        worker.batch,
    )
    return worker


def smtp_door(rt: Runtime) -> Component | None:
    if not rt.smtp:
        log.info("mail door: inbound SMTP off (--no-smtp)")
        return None
    return smtp.build(rt.core, metrics=rt.metrics)


def housekeeping(rt: Runtime) -> Component | None:
    return Housekeeping(rt.core)


# Started in this order, stopped in reverse: SMTP stops (and drains) before the outbox
# worker, so acknowledgements of the last accepted mails can still go out on the way down.
COMPONENTS: tuple[Factory, ...] = (web_pages, slack_door, outbox_worker, smtp_door, housekeeping)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route_name(request: web.Request) -> str:
    """The route template (``/activate/{token}``), never the raw path (it may hold a token)."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical


# Probes and scrapes come every few seconds from machines, not people: logged at DEBUG.
PROBES = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})


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
            metrics.error("http")
            log.exception("unhandled error", extra={"route": route, "method": request.method})
            return web.Response(status=500, text="internal error\n")
        finally:
            seconds = time.perf_counter() - started
            metrics.http_requests.labels(route=route, method=request.method, status=str(status)).inc()
            metrics.http_seconds.labels(route=route, method=request.method).observe(seconds)
            log.log(
                logging.DEBUG if route in PROBES else logging.INFO,
                "http request",
                extra={
                    "route": route,
                    "method": request.method,
                    "status": status,
                    "ms": round(seconds * 1000, 1),
                },
            )

    return observe


class Server:
    """Everything ``serve`` runs, startable and stoppable from a test on free ports."""

    def __init__(
        self,
        settings: Settings,
        *,
        smtp: bool = True,
        worker: bool = True,
        migrate: bool = True,
        components: Sequence[Factory] = COMPONENTS,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.migrate = migrate
        self.metrics = Metrics()
        self.engine, self.core = build_core(settings)
        if clock is not None:
            self.core = Core(self.core.sessions, settings, clock)
        self.listener = listener.HttpListener(settings)
        self.app = web.Application(
            middlewares=[
                clients.middleware(settings.trusted_proxies),
                _middleware(self.metrics),
                self.listener.middleware(),
            ]
        )
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
        self._factories = tuple(components)
        self.components: list[Component] = []
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None
        # True from the moment every component has started until stop begins (/readyz).
        self.ready = False
        self.head = head()
        self.known_revisions = known()
        self.app.router.add_get("/livez", self._livez)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)

    async def start(self) -> None:
        if self.migrate:
            await upgrade(self.engine)
            log.info("schema at head")
        for factory in self._factories:
            component = factory(self.runtime)
            if component is not None:
                self.components.append(component)
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=30, **listener.runner_options(self.settings)
        )
        await self._runner.setup()
        # The bound port (port 0 in tests means "any free port").
        self.http_port = await self.listener.start(self._runner)
        log.info("http listening", extra={"host": self.settings.http_host, "port": self.http_port})
        for component in self.components:
            await component.start()
            log.info("component started", extra={"component": component.name})
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        log.info("stopping: no new connections")
        await self.listener.stop()
        for component in reversed(self.components):
            try:
                await component.stop()
                log.info("component stopped", extra={"component": component.name})
            except Exception:
                self.metrics.error("shutdown")
                log.exception("component failed to stop cleanly", extra={"component": component.name})
        if self._runner is not None:
            await self._runner.cleanup()
        await self.engine.dispose()
        log.info("stopped")

    async def _livez(self, _request: web.Request) -> web.Response:
        """The process and its event loop answer: nothing else, so a database outage
        never gets the process restarted (that is what /readyz is for)."""
        return web.json_response({"status": "ok"})

    async def _database(self) -> tuple[str, str | None]:
        """``ok``, ``unreachable`` or ``behind`` (schema older than this code's head, or
        none), and the revision found. A schema ahead of this code (a newer version
        migrated it: a rolling upgrade) is ``ok``: the instances not yet upgraded keep
        serving until their turn, instead of all leaving the load balancer at once."""
        try:
            async with self.core.uow() as uow:
                answered = await health.database_answers(uow)
        except Exception:  # any failure means "not reachable"; the reason goes to the log
            log.exception("health: database check failed")
            return "unreachable", None
        if not answered:
            return "unreachable", None
        try:
            async with self.core.uow() as uow:
                revision = await health.schema_revision(uow)
        except Exception:  # answers, but alembic's table is missing: never migrated
            revision = None
        ahead = revision is not None and revision not in self.known_revisions
        return ("ok" if revision == self.head or ahead else "behind"), revision

    async def _readyz(self, _request: web.Request) -> web.Response:
        """Ready for traffic: every component started and healthy, the database answers
        and its schema is at this code's head. 503 otherwise, with what is missing."""
        database, revision = await self._database()
        parts = {c.name: ("ok" if c.healthy() else "stuck") for c in self.components}
        ok = self.ready and database == "ok" and all(v == "ok" for v in parts.values())
        body = {
            "status": "ok" if ok else "not ready",
            "started": self.ready,
            "database": database,
            "schema": {"current": revision, "head": self.head},
            "components": parts,
        }
        return web.json_response(body, status=200 if ok else 503)

    async def _healthz(self, _request: web.Request) -> web.Response:
        """The first probe, kept for the monitors already pointed at it."""
        try:
            async with self.core.uow() as uow:
                answered = await health.database_answers(uow)
            database = "ok" if answered else "unreachable"
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
                waiting = await health.outbox_waiting(uow)
            self.metrics.outbox_depth.clear()
            for (channel, status), count in waiting.depth.items():
                self.metrics.outbox_depth.labels(channel=channel, status=status).set(count)
            for channel, age in waiting.age_seconds(self.core.clock.now()).items():
                self.metrics.outbox_age.labels(channel=channel).set(age)
        except Exception:
            self.metrics.error("metrics")
            log.exception("metrics: outbox depth unavailable")
        for component in self.components:
            self.metrics.up.labels(component=component.name).set(1 if component.healthy() else 0)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


# glibc's mallopt parameter number (malloc.h); 1 MiB: above the 256 KiB a socket read
# asks for, so everyday allocations never reach mmap.
_M_MMAP_THRESHOLD = -3
LARGE_BUFFER_BYTES = 1024 * 1024


def return_large_buffers() -> None:
    """Let every buffer of 1 MiB or more (a spooled message read back, its pickled copy
    for the parser process, an attachment) be its own mapping, given back to the system
    when it is freed.

    glibc starts with that threshold at 128 KiB but raises it to the size of every
    mmapped block freed (up to 32 MiB): after the first 10 MiB message, such buffers came
    from the heap, and freed they stayed resident, scattered among small live objects
    (and in the to_thread workers' arenas). With 100 clients each sending 10 MiB, serve
    held 190 MB of heap of which ~130 MB free: most of the peak over the baseline
    (bench.mail_memory; docs/performance.md). Fixing the threshold keeps RSS to what is
    live. Only on glibc; elsewhere nothing changes."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): their own policies
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES)


def settle_heap() -> None:
    """Move what start-up built (models, statements built once, Bolt, templates) out of
    the garbage collector's reach: it lives as long as the process, and every full
    collection walked it again: under load those pauses were the registration key step's
    p99 (docs/performance.md, "Slack door", item 4)."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings, *, smtp: bool = True, worker: bool = True, migrate: bool = True) -> int:
    return_large_buffers()
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
