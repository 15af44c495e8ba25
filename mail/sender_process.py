"""The sender process (``MADOGUCHI_RELAY_PROCESS=true``): outbox mail to the relay is
rendered and sent by a process of its own, a batch per call.

Rendering a template, writing the MIME and speaking SMTP cost about as much CPU per
acknowledgement as storing and processing the mail it answers, and on the service's one
event loop that work delays every SMTP client's ``250`` and every Slack answer
(docs/performance.md, "Contact window end to end"). So ``madoguchi serve`` can keep only the
claim and the settle (the database) and hands each claimed batch over in one pipe
message: the rows' values (``mail.transport.Outgoing``, read in the service: JSON,
sealed secrets, signed links), sent in the child over its own persistent relay sessions
(``mail.relay``), an outcome per row back.

One child, one batch at a time (a second batch waits for the first: the child is busy
anyway). A child that dies or overruns the batch's deadline (the relay timeout for each
round of sessions, plus one) is killed and every row of the batch is deferred, to be tried
again: a mail it had already handed to the relay may then go out twice, which is how a
network error after DATA has always behaved. The next batch starts a fresh child.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import pickle
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from core.config import Settings
from core.ports import MailOutcome
from mail.parser_process import watch_service
from mail.relay import Relay
from mail.transport import Mail, Outgoing, RelayTransport, deferred

# A batch pickled to at most this many bytes is written to the pipe on the event loop
# (a pipe holds 64 KiB: the write does not wait for the child); larger from a thread.
_INLINE_BYTES = 60 * 1024
# Starting a child (spawn, imports) may take this long.
START_SECONDS = 120.0
# A child asked to stop gets this long to say QUIT to the relay.
STOP_SECONDS = 10.0


class SenderDied(Exception):
    """The sender process ended during a call (killed, crashed)."""


def _serve(conn: Connection, service_pid: int, settings: Settings) -> None:
    """The child's loop: a batch in, its outcomes out; the relay sessions stay open
    between batches (their idle timers run while the next batch is sent)."""
    watch_service(service_pid)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    transport = RelayTransport(settings, Relay.from_url(settings.relay_url or ""))
    lanes = settings.relay_connections
    try:
        while True:
            try:
                batch: list[Outgoing] = conn.recv()
            except EOFError:  # the service closed its end: we are done
                return
            conn.send(loop.run_until_complete(transport.send_many(batch, lanes)))
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.wait_for(transport.close(), STOP_SECONDS))
        loop.close()


class _Child:
    """One spawned sender process and our end of its pipe."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")  # the service has threads: no fork
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child, os.getpid(), settings), name="madoguchi-sender", daemon=True
        )
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive() and not self.conn.closed

    async def call(self, batch: list[Outgoing], timeout: float) -> list[MailOutcome]:
        """The batch's outcomes within ``timeout`` seconds; raises ``TimeoutError`` or
        ``SenderDied`` (the child is killed: what it is doing is unknown)."""
        loop = asyncio.get_running_loop()
        ok = False
        try:
            payload = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
            try:
                if len(payload) <= _INLINE_BYTES:
                    # The child is waiting in recv(): a write this size does not block.
                    # Inline it costs no thread hop, and no wait of this loop for the GIL
                    # while a thread pickles (up to the 5 ms switch interval per SMTP reply).
                    self.conn.send_bytes(payload)
                else:
                    await asyncio.to_thread(self.conn.send_bytes, payload)
            except OSError as exc:
                raise SenderDied(str(exc)) from exc
            readable: asyncio.Future[None] = loop.create_future()

            def ready() -> None:
                if not readable.done():
                    readable.set_result(None)

            loop.add_reader(self.conn.fileno(), ready)
            try:
                await asyncio.wait_for(readable, timeout)
            finally:
                loop.remove_reader(self.conn.fileno())
            try:
                # A batch's outcomes are a few KB, written at once: read inline too.
                outcomes: list[MailOutcome] = self.conn.recv()
            except (EOFError, OSError) as exc:
                raise SenderDied(f"exit code {self.process.exitcode}") from exc
            ok = True
        finally:
            if not ok:
                await self.kill()
        return outcomes

    async def stop(self) -> None:
        """Close our end (the child says QUIT to the relay and ends), then reap it."""
        self.conn.close()
        await asyncio.to_thread(self.process.join, STOP_SECONDS + 5)
        await self.kill()

    async def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        self.conn.close()
        await asyncio.to_thread(self.process.join, 5)


class SenderProcessTransport:
    """``core.ports.MailTransport`` for ``madoguchi serve`` with a relay: each batch is
    rendered and sent by the sender process (see the module's text)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._child: _Child | None = None
        self._turn = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        """The child's process id, while one runs (tests, logs)."""
        return self._child.process.pid if self._child is not None and self._child.alive() else None

    async def send(self, mail: Mail) -> MailOutcome:
        return (await self.send_many([mail]))[0]

    async def send_many(self, mails: Sequence[Mail], lanes: int = 1) -> list[MailOutcome]:
        outcomes: list[MailOutcome | None] = [None] * len(mails)
        batch: list[Outgoing] = []
        sent: list[int] = []
        for index, mail in enumerate(mails):
            try:
                batch.append(Outgoing.of(mail))  # the row's JSON and secrets read here
                sent.append(index)
            except Exception as exc:
                outcomes[index] = deferred(exc)
        if batch or not mails:  # no mails: the worker starting, start the child now
            async with self._turn:
                try:
                    replies = await self._call(batch)
                except (TimeoutError, SenderDied, OSError) as exc:
                    replies = [deferred(exc)] * len(batch)
            for index, outcome in zip(sent, replies, strict=True):
                outcomes[index] = outcome
        return [o if o is not None else MailOutcome("deferred") for o in outcomes]

    async def _call(self, batch: list[Outgoing]) -> list[MailOutcome]:
        child = self._child
        if child is None or not child.alive():
            if child is not None:
                await child.kill()
            self._child = child = await asyncio.to_thread(_Child, self.settings)
            await child.call([], START_SECONDS)  # imported and listening
        rounds = math.ceil(len(batch) / max(1, self.settings.relay_connections))
        return await child.call(batch, self.settings.relay_timeout_seconds * (rounds + 1))

    async def close(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            async with self._turn:
                await child.stop()
