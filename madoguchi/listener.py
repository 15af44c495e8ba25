"""The HTTP listener of ``serve``: a connection cap and read timeouts.

Slack expects an answer within 3 seconds, and the one HTTP listener serves Slack and the
password pages to anybody on the network. Without limits, clients that open connections
and send headers a byte at a time hold sockets until the process runs out of file
descriptors: 1,100 such clients pushed a Slack command to 3 s and filled the log with
accept errors. So:

- **Headers within MADOGUCHI_HTTP_HEADER_TIMEOUT_SECONDS** of the connection (or of the
  previous response on a kept-alive connection), else the connection is closed. aiohttp's
  keep-alive timer does that: it starts when a connection is made and fires when no whole
  request has arrived (``keepalive_timeout``). Request lines and header fields are capped
  at 8190 bytes (aiohttp's defaults, stated here; aiohttp also caps a request at 128
  header fields). Only options every aiohttp the project allows knows: with an unknown
  one aiohttp drops them all, the timeout with them.
- **The body within MADOGUCHI_HTTP_BODY_TIMEOUT_SECONDS** once the headers are in:
  ``HttpListener.middleware`` reads it before the handler runs (aiohttp keeps it for
  the handler's ``read()``/``post()``) and answers 408 otherwise. Multipart bodies are streamed by
  their handler and not read here (none of our routes takes one).
- **At most MADOGUCHI_HTTP_MAX_CONNECTIONS open connections.** At the cap, a new
  connection takes the place of the oldest connection that has not sent a whole request
  in ``SILENT_GRACE_SECONDS`` (a client trickling its headers, or one that connected and
  said nothing): that one is closed. Only when there is none (every connection is busy
  with a request, or kept alive after one) is the new connection told ``503`` and closed
  before its request is read. So a flood of half-sent requests costs the clients that
  send whole requests nothing; without the eviction they were refused until the flood's
  connections timed out. The log says once that the cap was reached and once that the
  listener is below it again (with how many connections were closed and refused), never
  once per connection. Kept below the process's file limit, the cap also keeps
  ``accept()`` from failing.

The cap is counted here, at the protocol factory: aiohttp's server learns of a connection
one loop iteration after it was accepted, and one burst of accepts (up to the listen
backlog) happens within one iteration, so that burst is counted as it comes. Which
connections have sent a request is learnt from ``middleware`` (``request.protocol``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from core.config import Settings

log = logging.getLogger("madoguchi.http")

MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
BACKLOG = 128
# A connection that has sent no whole request for this long may make room for a new one.
SILENT_GRACE_SECONDS = 1.0
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def runner_options(settings: Settings) -> dict[str, Any]:
    """What ``web.AppRunner`` passes to each connection's protocol."""
    return {
        "keepalive_timeout": settings.http_header_timeout_seconds,
        "max_line_size": MAX_LINE_SIZE,
        "max_field_size": MAX_FIELD_SIZE,
    }


class _Refused(asyncio.Protocol):
    """A connection over the cap: told 503 and closed before anything is read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REFUSAL)
        transport.close()


class HttpListener:
    """The listening socket for serve's one aiohttp app. Built with the app (its
    ``middleware`` goes on the app), started with the app's ``AppRunner``, set up."""

    def __init__(self, settings: Settings) -> None:
        self.host = settings.http_host
        self.port = settings.http_port
        self.max_connections = settings.http_max_connections
        self.body_seconds = settings.http_body_timeout_seconds
        self.runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._burst = 0  # accepted in this loop iteration, not yet known to aiohttp
        # Connections that have not sent a whole request yet, oldest first (when accepted).
        self._silent: dict[asyncio.BaseProtocol, float] = {}
        self._capped = False
        self._closed = 0  # silent connections closed to make room, since the cap was hit
        self._refused = 0  # connections refused with 503, since the cap was hit

    def middleware(self) -> Middleware:
        """Notes that a connection has sent a request, then reads its body within
        MADOGUCHI_HTTP_BODY_TIMEOUT_SECONDS before the handler runs (aiohttp keeps it for
        the handler's ``read()``/``post()``); 408 otherwise."""
        seconds = self.body_seconds

        @web.middleware
        async def listener(request: web.Request, handler: Handler) -> web.StreamResponse:
            self._silent.pop(request.protocol, None)
            if request.body_exists and not request.content_type.startswith("multipart/"):
                try:
                    async with asyncio.timeout(seconds):
                        await request.read()
                except TimeoutError:
                    log.info("http body too slow", extra={"seconds": seconds, "ip": request.remote})
                    raise web.HTTPRequestTimeout(headers={"Connection": "close"}) from None
            return await handler(request)

        return listener

    async def start(self, runner: web.AppRunner) -> int:
        """Listen; returns the bound port (port 0 means any free port)."""
        self.runner = runner
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self.host, self.port, backlog=BACKLOG, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    def open_connections(self) -> int:
        server = self.runner.server if self.runner is not None else None
        return (len(server.connections) if server is not None else 0) + self._burst

    def _protocol(self) -> asyncio.BaseProtocol:
        assert self.runner is not None and self.runner.server is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.open_connections() >= self.max_connections:
            if not self._capped:
                self._capped = True
                log.warning(
                    "http connection cap reached: closing connections that sent no request, refusing"
                    " new ones with 503 when there are none",
                    extra={"max_connections": self.max_connections},
                )
            if not self._make_room(now):
                self._refused += 1
                return _Refused()
        elif self._capped:
            log.warning(
                "http below the connection cap again",
                extra={"closed_silent": self._closed, "refused": self._refused},
            )
            self._capped, self._closed, self._refused = False, 0, 0
        if not self._burst:
            loop.call_soon(self._end_burst)
        self._burst += 1
        handler = self.runner.server()
        self._silent[handler] = now
        return handler

    def _make_room(self, now: float) -> bool:
        """Close the oldest connection silent for the grace period; False if none is."""
        for handler, since in list(self._silent.items()):
            if now - since < SILENT_GRACE_SECONDS:
                return False  # the rest are younger still
            del self._silent[handler]
            transport = getattr(handler, "transport", None)
            if transport is None or transport.is_closing():
                continue  # already gone (timed out or closed by its client)
            transport.close()
            self._closed += 1
            return True
        return False

    def _end_burst(self) -> None:
        self._burst = 0
        if len(self._silent) > 2 * self.max_connections:
            # Forget connections that ended without a request (header timeout, client gone).
            self._silent = {
                h: t for h, t in self._silent.items() if getattr(h, "transport", None) is not None
            }

    async def stop(self) -> None:
        """Stop accepting; open connections are the runner's to finish (its cleanup)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self._silent.clear()
