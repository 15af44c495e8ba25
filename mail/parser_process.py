"""The parser process: stored mail is parsed and assessed in a spawned process that can be
killed when one batch holds it too long.

Why a process of our own rather than ``concurrent.futures.ProcessPoolExecutor``: the pool
cannot stop a call that is running (Python 3.11 has no public way to end its workers), and
a parse that does not end must not hold the parser for hours (issue 16: one quadratic regex
did; the next bug must not be able to). So: one process, one call at a time, a pipe; a
call that overruns its limit kills the process, and the next call starts a fresh one.

Processes are kept for reuse (``_idle``), one per caller in flight; each is started with
an empty call, so a limit never counts the seconds a new process spends importing.

The outbox renders its acknowledgements here too (``render_in_process``): a claimed
batch's templates and MIME were a tenth of the service's CPU per mail on the event loop
that answers every SMTP client, while this process sat idle a fifth of a burst
(docs/performance.md). A render never starts a process of its own: it takes the parser
when it is free or waits a moment for it (else it renders where it is), and a parse that
finds the parser rendering waits for it rather than start a second one, so the two
kinds of work take turns in one process and never compete with the service for both
cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from core import contact_window
from core.config import Settings
from mail.parse import parse

Record = tuple[bytes, str, list[str]]
# What a process runs: a module-level function of the settings and the call's payload
# (pickled by name): ``parse_batch``, or the outbox's ``mail.transport.render_batch``.
Work = Callable[[Settings, Any], Any]
# Starting a process (spawn, imports) may take this long, whatever the parse limit.
START_SECONDS = 120.0
MAX_IDLE = 4
# A render waits at most this long for the parser to be free, then renders where it is.
RENDER_WAIT_SECONDS = 0.25


class ParserDied(Exception):
    """Raised when the parser process ended during a call (the OS killed it, it crashed)."""


class ParserUnavailable(Exception):
    """Raised when no parser process can be started at all (the caller parses in a thread)."""


def parse_batch(settings: Settings, records: list[Record]) -> list[contact_window.Assessed]:
    """Parse and assess stored mails; runs in the parser process (or a thread)."""
    limit = settings.attachment_max_bytes
    return [
        contact_window.assess(settings, parse(raw, frm, rcpts, max_attachment_bytes=limit))
        for raw, frm, rcpts in records
    ]


def watch_service(service_pid: int) -> None:
    """In a child process (the parser, the sender): leave Ctrl-C to the service (it stops us in order), and end
    when the service is gone. A service killed outright (SIGKILL, the OOM killer) runs no
    clean-up, and we would wait on the pipe for work forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == service_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="madoguchi-child-watch", daemon=True).start()


# A stored mail at least this large goes to the parser process as a pipe message of its
# own; smaller ones travel pickled with their batch (one message for the whole batch).
SEPARATE_BYTES = 256 * 1024


def _send_call(conn: Connection, work: Work, settings: Settings, payload: Any) -> None:
    """One call down the pipe. ``parse_batch``'s large records go without their raw
    bytes, each of which follows as a pipe message of its own (``send_bytes`` writes it
    from where it is): pickled with the rest, a 10 MiB mail had a second 10 MiB copy in
    the service for as long as it was being sent (bench.mail_memory). Small mail keeps
    one message per batch."""
    large: list[int] = []
    sent = payload
    if work is parse_batch:
        large = [n for n, (raw, *_rest) in enumerate(payload) if len(raw) >= SEPARATE_BYTES]
        if large:
            apart = set(large)
            sent = [(None, *rest) if n in apart else (raw, *rest) for n, (raw, *rest) in enumerate(payload)]
    conn.send((work, settings, sent, large))
    for n in large:
        conn.send_bytes(payload[n][0])


def _receive_call(conn: Connection) -> tuple[Work, Settings, Any]:
    """The other end of ``_send_call``."""
    work, settings, payload, large = conn.recv()
    if large:
        payload = list(payload)
        for n in large:
            _none, *rest = payload[n]
            payload[n] = (conn.recv_bytes(), *rest)
    return work, settings, payload


def _serve(conn: Connection, service_pid: int) -> None:
    """The parser process's loop: a call in, its result (or its exception) out."""
    watch_service(service_pid)
    while True:
        try:
            work, settings, payload = _receive_call(conn)
        except EOFError:  # the service closed its end: we are done
            return
        try:
            reply: tuple[bool, Any] = (True, work(settings, payload))
        except Exception as exc:
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an exception that does not pickle
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class ParserProcess:
    """One spawned parser process and our end of its pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # the service has threads: no fork
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child, os.getpid()), name="madoguchi-parser", daemon=True
        )
        self.process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive() and not self.conn.closed

    @classmethod
    async def start(cls, settings: Settings) -> ParserProcess:
        """A new process that has imported everything and answered an empty call.

        Raises ``ParserUnavailable`` when that fails: no mail is to blame for it."""
        try:
            parser = await asyncio.to_thread(cls)
        except OSError as exc:  # no process to be had (EAGAIN, ENOMEM, …)
            raise ParserUnavailable(str(exc)) from exc
        try:
            await parser.call(settings, [], START_SECONDS)
        except (TimeoutError, ParserDied) as exc:
            await parser.kill()
            raise ParserUnavailable(str(exc) or type(exc).__name__) from exc
        return parser

    async def call(
        self, settings: Settings, records: Any, timeout: float, work: Work = parse_batch
    ) -> tuple[bool, Any]:
        """Parse and assess ``records`` (or run another ``work`` on them) within
        ``timeout`` seconds: ``(True, assessed)``, or ``(False, exception)`` when
        ``work`` raised (the process is fine).

        Raises ``TimeoutError`` (the process is killed) or ``ParserDied``. Cancelled, the
        process is killed too: what it is doing is unknown.
        """
        loop = asyncio.get_running_loop()
        ok = False
        try:
            try:
                await asyncio.to_thread(_send_call, self.conn, work, settings, records)
            except OSError as exc:  # the process is gone and its end of the pipe with it
                raise ParserDied(str(exc)) from exc
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
                done, value = await asyncio.to_thread(self.conn.recv)
            except (EOFError, OSError) as exc:
                raise ParserDied(f"exit code {self.process.exitcode}") from exc
            ok = True
        finally:
            if not ok:
                await self.kill()
        return done, value

    async def kill(self) -> None:
        """End the process now (SIGKILL: it may be stuck in C code) and reap it."""
        with contextlib.suppress(Exception):
            self.process.kill()
        self.conn.close()
        await asyncio.to_thread(self.process.join, 5)


_idle: list[ParserProcess] = []
# Calls waiting for a process in use (a parse for one a render holds or waits for, a
# render for any): each is handed the next process given back, or None when that one
# was killed.
_waiting: deque[asyncio.Future[ParserProcess | None]] = deque()
# Processes in use now; renders holding a process or waiting for one.
_working = 0
_rendering = 0


async def _idle_one() -> ParserProcess | None:
    while _idle:
        candidate = _idle.pop()
        if candidate.alive():
            return candidate
        await candidate.kill()
    return None


async def _turn(timeout: float | None) -> ParserProcess | None:
    """The next process given back; None when it was killed (or is dead), or when
    ``timeout`` passed first."""
    turn: asyncio.Future[ParserProcess | None] = asyncio.get_running_loop().create_future()
    _waiting.append(turn)
    try:
        await asyncio.wait({turn}, timeout=timeout)
    except asyncio.CancelledError:
        if turn.done():
            await _give_back(turn.result())  # handed over as we were cancelled: pass it on
        raise
    finally:
        if not turn.done():
            turn.cancel()
            with contextlib.suppress(ValueError):
                _waiting.remove(turn)
    parser = None if turn.cancelled() else turn.result()
    if parser is not None and not parser.alive():
        await parser.kill()
        return None
    return parser


async def _give_back(parser: ParserProcess | None) -> None:
    """A call is done with ``parser`` (None: it killed it): to the first waiting call,
    else among the idle."""
    while _waiting:
        turn = _waiting.popleft()
        if not turn.done() and not turn.get_loop().is_closed():
            turn.set_result(parser)
            return
    if parser is None:
        return
    if len(_idle) < MAX_IDLE:
        _idle.append(parser)
    else:
        await parser.kill()


async def parse_in_process(
    settings: Settings, records: list[Record], timeout: float
) -> list[contact_window.Assessed]:
    """``parse_batch`` in a parser process, within ``timeout`` seconds.

    A process of the idle ones, else (while a render holds the parser or waits for it)
    the next one given back, else a new one (``ParserUnavailable`` when none can start).
    Raises ``TimeoutError`` or ``ParserDied`` when this call killed its process, and what
    ``parse_batch`` raised.
    """
    global _working
    parser = await _idle_one()
    if parser is None and _rendering:
        parser = await _turn(None)
    if parser is None:
        parser = await ParserProcess.start(settings)
    _working += 1
    kept: ParserProcess | None = None
    try:
        done, value = await parser.call(settings, records, timeout)
        kept = parser
    finally:
        _working -= 1
        await _give_back(kept)
    if not done:
        raise value
    return list(value)


async def render_in_process(settings: Settings, work: Work, payload: Any, timeout: float) -> Any | None:
    """``work(settings, payload)`` in the parser process, within ``timeout`` seconds; None
    when no parser process is free within ``RENDER_WAIT_SECONDS`` (or none runs at all),
    or this call failed (the caller then does the work itself: nothing was lost).

    For the outbox's rendering (see the module's text): never starts a process."""
    global _working, _rendering
    _rendering += 1
    try:
        parser = await _idle_one()
        if parser is None and _working:
            parser = await _turn(RENDER_WAIT_SECONDS)
            if parser is None and _waiting:
                await _give_back(None)  # a parse waiting behind us starts a process itself
        if parser is None:
            return None
        _working += 1
        kept: ParserProcess | None = None
        try:
            done, value = await parser.call(settings, payload, timeout, work)
            kept = parser
        except (TimeoutError, ParserDied):
            return None
        finally:
            _working -= 1
            await _give_back(kept)
        return value if done else None
    finally:
        _rendering -= 1
