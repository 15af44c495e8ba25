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
  at 8190 bytes and 128 fields (aiohttp's defaults, stated here).
- **The body within MADOGUCHI_HTTP_BODY_TIMEOUT_SECONDS** once the headers are in:
  ``body_timeout`` reads it before the handler runs (aiohttp keeps it for the handler's
  ``read()``/``post()``) and answers 408 otherwise. Multipart bodies are streamed by
  their handler and not read here (none of our routes takes one).
- **At most MADOGUCHI_HTTP_MAX_CONNECTIONS open connections**: past that a new connection
  gets ``503`` and is closed at once, before its request is read. The log says so once
  when the cap is first hit and once when connections are accepted again (with how many
  were refused), never once per connection. Kept below the process's file limit, the cap
  also keeps ``accept()`` from failing.

The cap is counted here, at the protocol factory: aiohttp's server learns of a connection
one loop iteration after it was accepted, and one burst of accepts (up to the listen
backlog) happens within one iteration, so that burst is counted as it comes.
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
MAX_HEADERS = 128
BACKLOG = 128
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
        "max_headers": MAX_HEADERS,
    }


def body_timeout(seconds: float) -> Middleware:
    """Reads a request's body within ``seconds`` before its handler runs; 408 otherwise."""

    @web.middleware
    async def read_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists and not request.content_type.startswith("multipart/"):
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                log.info("http body too slow", extra={"seconds": seconds, "ip": request.remote})
                raise web.HTTPRequestTimeout(headers={"Connection": "close"}) from None
        return await handler(request)

    return read_in_time


class _Refused(asyncio.Protocol):
    """A connection over the cap: told 503 and closed before anything is read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REFUSAL)
        transport.close()


class HttpListener:
    """The listening socket for serve's one aiohttp app (its ``AppRunner``, set up)."""

    def __init__(self, runner: web.AppRunner, settings: Settings) -> None:
        self.runner = runner
        self.host = settings.http_host
        self.port = settings.http_port
        self.max_connections = settings.http_max_connections
        self._server: asyncio.Server | None = None
        self._burst = 0  # accepted in this loop iteration, not yet known to aiohttp
        self._refused = 0  # since the cap was hit; 0 while accepting

    async def start(self) -> int:
        """Listen; returns the bound port (port 0 means any free port)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self.host, self.port, backlog=BACKLOG, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    def open_connections(self) -> int:
        server = self.runner.server
        return (len(server.connections) if server is not None else 0) + self._burst

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self.runner.server
        assert server is not None
        if self.open_connections() >= self.max_connections:
            if not self._refused:
                log.warning(
                    "http connection cap reached: refusing new connections with 503",
                    extra={"max_connections": self.max_connections},
                )
            self._refused += 1
            return _Refused()
        if self._refused:
            log.warning("http accepting connections again", extra={"refused": self._refused})
            self._refused = 0
        if not self._burst:
            asyncio.get_running_loop().call_soon(self._end_burst)
        self._burst += 1
        return server()

    def _end_burst(self) -> None:
        self._burst = 0

    async def stop(self) -> None:
        """Stop accepting; open connections are the runner's to finish (its cleanup)."""
        if self._server is not None:
            self._server.close()
            self._server = None
