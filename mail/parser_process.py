"""The parser process: stored mail is parsed and assessed in a spawned process that can be
killed when one batch holds it too long.

Why a process of our own rather than ``concurrent.futures.ProcessPoolExecutor``: the pool
cannot stop a call that is running (Python 3.11 has no public way to end its workers), and
a parse that does not end must not hold the parser for hours (issue 16: one quadratic regex
did; the next bug must not be able to). So: one process, one call at a time, a pipe; a
call that overruns its limit kills the process, and the next call starts a fresh one.

Processes are kept for reuse (``_idle``), one per caller in flight; each is started with
an empty call, so a limit never counts the seconds a new process spends importing.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from core import contact_window
from core.config import Settings
from mail.parse import parse

Record = tuple[bytes, str, list[str]]
# Starting a process (spawn, imports) may take this long, whatever the parse limit.
START_SECONDS = 120.0
MAX_IDLE = 4


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


def _serve(conn: Connection, service_pid: int) -> None:
    """The parser process's loop: a call in, its result (or its exception) out."""
    watch_service(service_pid)
    while True:
        try:
            settings, records = conn.recv()
        except EOFError:  # the service closed its end: we are done
            return
        try:
            reply: tuple[bool, Any] = (True, parse_batch(settings, records))
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

    async def call(self, settings: Settings, records: list[Record], timeout: float) -> tuple[bool, Any]:
        """Parse and assess ``records`` within ``timeout`` seconds: ``(True, assessed)``, or
        ``(False, exception)`` when ``parse_batch`` raised (the process is fine).

        Raises ``TimeoutError`` (the process is killed) or ``ParserDied``. Cancelled, the
        process is killed too: what it is doing is unknown.
        """
        loop = asyncio.get_running_loop()
        ok = False
        try:
            try:
                await asyncio.to_thread(self.conn.send, (settings, records))
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


async def parse_in_process(
    settings: Settings, records: list[Record], timeout: float
) -> list[contact_window.Assessed]:
    """``parse_batch`` in a parser process, within ``timeout`` seconds.

    A process of the idle ones, else a new one (``ParserUnavailable`` when none can
    start). Raises ``TimeoutError`` or ``ParserDied`` when this call killed its process,
    and what ``parse_batch`` raised.
    """
    parser = None
    while _idle and parser is None:
        candidate = _idle.pop()
        if candidate.alive():
            parser = candidate
        else:
            await candidate.kill()
    if parser is None:
        parser = await ParserProcess.start(settings)
    done, value = await parser.call(settings, records, timeout)
    if len(_idle) < MAX_IDLE:
        _idle.append(parser)
    else:
        await parser.kill()
    if not done:
        raise value
    return list(value)
