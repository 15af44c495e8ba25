"""Peak memory of ``madoguchi serve`` while 100 SMTP clients each send one 10 MiB message.

    PYTHONPATH=$PWD .venv/bin/python -m bench.mail_memory                  # 100 × 10 MiB, SQLite in a temp dir
    PYTHONPATH=$PWD .venv/bin/python -m bench.mail_memory --clients 40 --size-mib 10
    PYTHONPATH=$PWD .venv/bin/python -m bench.mail_memory --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Starts the real service (``python -m madoguchi.cli serve``, default settings but for the
database, a temp var/ and free HTTP/SMTP ports; the PostgreSQL database must exist and be
disposable: it is emptied first) and waits for ``/healthz``. Then every client connects
at once, each from its own loopback address (127.x.y.1, so the per-client session cap
treats them as the different MTAs they stand for), and streams one message of the size
asked for — a multipart mail with a base64 attachment, the SIZE limit's worth — in 64 KiB
blocks. Meanwhile the RSS of serve and of each of its children (the parser process) is
read from /proc every 20 ms, until every message is processed (or ``--timeout``);
serve's peak is also given per phase (receiving: until every client has its answer;
processing: after).

Prints the baseline and peak RSS of serve, of its children and of the two together, how
many clients got ``250``, how many messages were stored whole (``inbound_mails`` rows of
the right size) and processed, and the verdict on the target (docs/performance.md): peak
RSS of serve < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTACT = "contact@support.example.com"
MIB = 1024 * 1024
TARGET_MB = 300
BLOCK = 64 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the service ----------------------------------------------------------------------------


def _start_serve(url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    http_port, smtp_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MADOGUCHI_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=url,
        MADOGUCHI_SECRET_KEY="bench-secret-key",
        MADOGUCHI_VAR_DIR=str(workdir / "var"),
        MADOGUCHI_OUTBOX_DIR=str(workdir / "var" / "outbox"),
        MADOGUCHI_CONTACT_ADDRESS=CONTACT,
        MADOGUCHI_HTTP_PORT=str(http_port),
        MADOGUCHI_SMTP_PORT=str(smtp_port),
        PYTHONPATH=str(ROOT),
    )
    log = (workdir / "serve.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "madoguchi.cli", "serve"], cwd=workdir, env=env, stdout=log, stderr=log
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited early; see {workdir / 'serve.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return proc, http_port, smtp_port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve not healthy within 60 s")


def _stop_serve(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- memory -----------------------------------------------------------------------------------


def _rss(pid: int) -> int:
    """Resident set size in bytes (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(p) for p in task.read_text().split())
        except OSError:
            continue
    return found


@dataclass
class Sampler:
    """Reads the RSS of ``pid`` and its children every ``interval`` seconds in a thread."""

    pid: int
    interval: float = 0.02
    serve_peak: int = 0
    children_peak: int = 0
    total_peak: int = 0
    samples: int = 0
    phase: str = "receiving"  # then "processing": serve's peak per phase
    phase_peaks: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> tuple[int, int]:
        serve = _rss(self.pid)
        children = sum(_rss(child) for child in _children(self.pid))
        self.serve_peak = max(self.serve_peak, serve)
        self.phase_peaks[self.phase] = max(self.phase_peaks.get(self.phase, 0), serve)
        self.children_peak = max(self.children_peak, children)
        self.total_peak = max(self.total_peak, serve + children)
        self.samples += 1
        return serve, children

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# -- the load ---------------------------------------------------------------------------------


def _message_parts(size: int) -> tuple[bytes, bytes]:
    """A body shared by every client (the base64 attachment and the closing boundary) and
    the length of each client's own head, chosen so head + body is at most ``size``."""
    head_length = len(_head(0))
    tail = b"\r\n--bench-boundary--\r\n"
    room = size - head_length - len(tail)
    lines, last = divmod(room, 78)  # 76 base64 characters and CRLF per line
    chunk = base64.b64encode(os.urandom(57))  # 76 characters
    body = (chunk + b"\r\n") * lines
    if last >= 6:
        body += base64.b64encode(os.urandom((last - 2) // 4 * 3)) + b"\r\n"
    return body + tail, tail


def _head(n: int) -> bytes:
    return (
        f"From: Bench Client {n:05d} <bench{n:05d}@customer{n % 97:02d}.example.jp>\r\n"
        f"To: {CONTACT}\r\n"
        f"Subject: =?UTF-8?B?5re75LuY44OV44Kh44Kk44Or?= {n:05d}\r\n"
        f"Message-ID: <bench-memory-{n:05d}@customer.example.jp>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="bench-boundary"\r\n'
        "\r\n"
        "--bench-boundary\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "資料を添付いたします。ご確認をお願いいたします。\r\n"
        "--bench-boundary\r\n"
        'Content-Type: application/octet-stream; name="data.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="data.bin"\r\n'
        "\r\n"
    ).encode()


async def _reply(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    while line[3:4] == b"-":
        line = await reader.readline()
    return line


async def _client(port: int, n: int, body: bytes, results: list[str]) -> None:
    head = _head(n)
    size = len(head) + len(body)
    try:
        source = f"127.{1 + n // 250}.{n % 250 + 1}.1"  # one loopback address per client
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        try:
            for command in (
                None,
                f"EHLO client{n}.example.jp",
                f"MAIL FROM:<bench{n:05d}@customer{n % 97:02d}.example.jp> SIZE={size}",
                f"RCPT TO:<{CONTACT}>",
                "DATA",
            ):
                if command is not None:
                    writer.write(command.encode() + b"\r\n")
                answer = await _reply(reader)
                if answer[:1] not in (b"2", b"3"):
                    results.append(answer.decode(errors="replace").strip())
                    return
            writer.write(head)
            view = memoryview(body)
            for start in range(0, len(view), BLOCK):
                writer.write(view[start : start + BLOCK])
                await writer.drain()
            writer.write(b".\r\n")
            results.append((await _reply(reader)).decode(errors="replace").strip())
            writer.write(b"QUIT\r\n")
            await reader.readline()
        finally:
            writer.close()
    except OSError as exc:
        results.append(f"error: {exc}")


async def _database_state(url: str, size: int) -> tuple[int, int, int]:
    """(rows, rows of the right size, rows processed) in inbound_mails."""
    from sqlalchemy import func, select

    from core.models import InboundMail
    from core.storage import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(InboundMail))).scalar_one()
            whole = (
                await conn.execute(
                    select(func.count()).select_from(InboundMail).where(func.length(InboundMail.raw) == size)
                )
            ).scalar_one()
            processed = (
                await conn.execute(
                    select(func.count()).select_from(InboundMail).where(InboundMail.state != "received")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return int(rows), int(whole), int(processed)


async def _reset(url: str) -> None:
    from core.storage import create_engine
    from migrations import upgrade
    from tests.factories import empty_all_tables

    engine = create_engine(url)
    try:
        await upgrade(engine)
        await empty_all_tables(engine)
    finally:
        await engine.dispose()


async def bench(url: str, workdir: Path, clients: int, size: int, timeout: float) -> bool:
    if url.startswith("postgresql"):
        await _reset(url)
    body, _tail = _message_parts(size)
    message_size = len(_head(0)) + len(body)
    proc, _http, smtp_port = _start_serve(url, workdir)
    sampler = Sampler(proc.pid)
    try:
        baseline, _ = sampler.sample()
        sampler.serve_peak = sampler.children_peak = sampler.total_peak = 0
        sampler.phase_peaks.clear()
        sampler.start()
        started = time.monotonic()
        results: list[str] = []
        await asyncio.gather(*(_client(smtp_port, n, body, results) for n in range(clients)))
        sent = time.monotonic() - started
        sampler.phase = "processing"
        rows = whole = processed = 0
        while time.monotonic() - started < timeout:
            rows, whole, processed = await _database_state(url, message_size)
            if processed >= rows and rows >= sum(r.startswith("250") for r in results):
                break
            await asyncio.sleep(1.0)
        done = time.monotonic() - started
        sampler.stop()
    finally:
        sampler.stop()
        _stop_serve(proc)
    accepted = sum(r.startswith("250") for r in results)
    mb = 1e6
    print(
        f"{clients} clients × {message_size:,} bytes ({message_size / MIB:.2f} MiB) over SMTP; {url.split(':')[0]}"
    )
    phases = ", ".join(f"{name} {peak / mb:.0f} MB" for name, peak in sampler.phase_peaks.items())
    print(f"serve RSS: baseline {baseline / mb:.0f} MB, peak {sampler.serve_peak / mb:.0f} MB ({phases})")
    print(f"children (parser process) peak RSS: {sampler.children_peak / mb:.0f} MB")
    print(f"serve + children peak RSS: {sampler.total_peak / mb:.0f} MB   ({sampler.samples} samples)")
    print(
        f"250 answers: {accepted}/{clients}; stored whole: {whole}/{clients} (rows {rows}); processed: {processed}"
    )
    others = sorted({r for r in results if not r.startswith("250")})
    if others:
        print(f"other answers: {others[:5]}")
    print(f"all sent in {sent:.1f} s; all processed after {done:.1f} s")
    ok = accepted == clients and whole == clients and sampler.serve_peak < TARGET_MB * mb
    print(
        f"target: every message 250 and stored, serve peak RSS < {TARGET_MB} MB: {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--size-mib", type=float, default=10.0, help="message size (default: the SIZE limit)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for processing")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (serve.log)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="madoguchi-mem-"))
    url = args.url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    try:
        ok = asyncio.run(bench(url, workdir, args.clients, int(args.size_mib * MIB), args.timeout))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
