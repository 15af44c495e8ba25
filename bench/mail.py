"""Contact-window throughput: mails/s and DATA→250 latency at 1/8/32 SMTP clients.

    .venv/bin/python -m bench.mail                                    # SQLite in a temp dir
    .venv/bin/python -m bench.mail --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    .venv/bin/python -m bench.mail --messages 2000 --clients 1 8 32 --rounds 3

Each round starts two servers, each in its own process, and drives them with the same
raw asyncio SMTP client (lighter than aiosmtplib) from this process:

- ``madoguchi``: the real contact window (``mail.smtp.SMTPServer``): raw bytes committed
  before ``250`` (group commit), then parsed, threaded, classified, acknowledged (the ack
  row queued in the outbox) and posted (Slack row queued) by the processor. The server
  is two OS processes, as in ``madoguchi serve``: the service and the parser process it
  starts (parsing and assessing stored mail, see ``mail.inbound.InboundProcessor``).
- ``bare``: aiosmtpd on the same loop setup with a handler that only answers ``250``.

Reported per server and client count: accepted mails/s (first MAIL to last 250), p50/p99
from DATA to the final ``250``, and for madoguchi the end-to-end rate until every stored
mail is processed. 2 KB messages, 80 % new requests from distinct senders, 20 % replies
threaded by In-Reply-To. The PostgreSQL database must exist and be disposable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTACT = "contact@support.example.com"
ROOT = Path(__file__).resolve().parents[1]


# -- servers (run in a child process) ---------------------------------------------------


async def _serve_madoguchi(url: str, port: int) -> None:
    from core.config import Settings
    from core.storage import create_engine, session_factory
    from core.unit_of_work import Core
    from mail.smtp import SMTPServer
    from migrations import upgrade

    settings = Settings(
        DATABASE_URL=url,
        MADOGUCHI_SECRET_KEY="bench",
        MADOGUCHI_ACK_BREAKER_LIMIT=10_000_000,
        _env_file=None,
    )
    engine = create_engine(url)
    await upgrade(engine)
    core = Core(session_factory(engine), settings)
    # Every bench client connects from 127.0.0.1: no per-client cap here (default 10).
    server = SMTPServer(core, host="127.0.0.1", port=port, max_sessions=200, max_sessions_per_client=0)
    await server.start()
    print(f"READY {server.port}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()
    await engine.dispose()


async def _serve_bare(port: int) -> None:
    from functools import partial

    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(partial(SMTP, Handler(), hostname="bench"), "127.0.0.1", port)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


# -- load ---------------------------------------------------------------------------------


def _message(n: int, reply_to: int | None) -> bytes:
    sender = f"user{n:06d}@customer{n % 97}.example.jp"
    headers = [
        f"From: =?UTF-8?B?5bGx55Sw?= <{sender}>",
        f"To: {CONTACT}",
        f"Message-ID: <bench-{n}@customer.example.jp>",
        "Subject: =?ISO-2022-JP?B?GyRCJDckWSRrJE4kNCRsJDckRhsoQg==?="
        if reply_to is None
        else "Subject: Re: q",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if reply_to is not None:
        headers.append(f"In-Reply-To: <bench-{reply_to}@customer.example.jp>")
    body = ("製品のライセンスについて質問があります。キーの追加方法を教えてください。\r\n" * 20)[:600]
    raw = ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()
    return raw.ljust(2048, b"x")[:2046] + b"\r\n"


async def _client(
    port: int, jobs: list[tuple[str, bytes]], data_lat: list[float], mail_lat: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"EHLO bench\r\n")
    while not (await reader.readline()).startswith(b"250 "):
        pass
    for sender, raw in jobs:
        started = time.perf_counter()
        writer.write(f"MAIL FROM:<{sender}>\r\n".encode())
        assert (await reader.readline()).startswith(b"250")
        writer.write(f"RCPT TO:<{CONTACT}>\r\n".encode())
        assert (await reader.readline()).startswith(b"250")
        data_at = time.perf_counter()
        writer.write(b"DATA\r\n")
        assert (await reader.readline()).startswith(b"354")
        writer.write(raw + b".\r\n")
        reply = await reader.readline()
        assert reply.startswith(b"250"), reply
        done = time.perf_counter()
        data_lat.append(done - data_at)
        mail_lat.append(done - started)
    writer.write(b"QUIT\r\n")
    await reader.readline()
    writer.close()


async def _drive(port: int, clients: int, start: int, count: int) -> tuple[float, list[float], list[float]]:
    jobs: list[list[tuple[str, bytes]]] = [[] for _ in range(clients)]
    for i in range(count):
        n = start + i
        reply_to = n - 5 if i >= 5 and i % 5 == 0 else None  # every fifth mail continues an earlier one
        sender_n = reply_to if reply_to is not None else n
        jobs[i % clients].append(
            (f"user{sender_n:06d}@customer{sender_n % 97}.example.jp", _message(n, reply_to))
        )
    data_lat: list[float] = []
    mail_lat: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, j, data_lat, mail_lat) for j in jobs))
    return time.perf_counter() - started, data_lat, mail_lat


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _spawn(kind: str, url: str) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "bench.mail", "--serve", kind, "--url", url]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise SystemExit(f"{kind} server did not start: {line!r}")
    return proc, int(line.split()[1])


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by a server process and by its child
    processes (madoguchi's parser process), from /proc; zeros where there is none."""

    def used(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    return used(pid), sum(used(c) for c in children)


async def _pending(url: str) -> int:
    from sqlalchemy import func, select

    from core.models import InboundMail
    from core.storage import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(InboundMail).where(InboundMail.state == "received")
                )
                or 0
            )
    finally:
        await engine.dispose()


async def _reset(url: str) -> None:
    from core.storage import create_engine
    from migrations import upgrade
    from tests.factories import empty_all_tables

    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    await empty_all_tables(url)


def _peer(python: str, messages: int) -> float | None:
    """django-helpdesk's get_email on the same messages, in its own venv (see
    bench/helpdesk_peer/run.py); None when it cannot run."""
    try:
        out = subprocess.run(
            [python, "run.py", str(messages)],
            cwd=ROOT / "bench" / "helpdesk_peer",
            env={**os.environ, "HD_WAL": "1"},
            capture_output=True,
            text=True,
            timeout=1800,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if line.startswith("HELPDESK"):
            print(line, file=sys.stderr)
            return float(line.split()[1])
    return None


async def bench(
    url: str, clients_list: list[int], messages: int, rounds: int, peer: str | None = None
) -> None:
    results: dict[tuple[str, int], list[tuple[float, float, float, float, float]]] = {}
    cpu: dict[int, list[tuple[float, ...]]] = {}  # µs per mail: service, parser process
    seq = 0
    for _round in range(rounds):
        for clients in clients_list:
            # madoguchi, on a clean database each time.
            await _reset(url)
            proc, port = _spawn("madoguchi", url)
            try:
                await asyncio.sleep(0.5)  # the parser process starting up is not the mails' CPU
                cpu_before = _cpu(proc.pid)
                elapsed, data_lat, mail_lat = await _drive(port, clients, seq, messages)
                seq += messages
                accepted = time.perf_counter()
                while await _pending(url):
                    await asyncio.sleep(0.05)
                e2e = messages / (elapsed + time.perf_counter() - accepted)
                cpu_after = _cpu(proc.pid)
            finally:
                _stop(proc)
            results.setdefault(("madoguchi", clients), []).append(
                (messages / elapsed, _pct(data_lat, 0.5), _pct(data_lat, 0.99), _pct(mail_lat, 0.99), e2e)
            )
            cpu.setdefault(clients, []).append(
                tuple((b - a) / messages * 1e6 for a, b in zip(cpu_before, cpu_after, strict=True))
            )
            proc, port = _spawn("bare", url)
            try:
                elapsed, data_lat, mail_lat = await _drive(port, clients, seq, messages)
            finally:
                _stop(proc)
            results.setdefault(("bare", clients), []).append(
                (messages / elapsed, _pct(data_lat, 0.5), _pct(data_lat, 0.99), _pct(mail_lat, 0.99), 0.0)
            )
            print(f"round {_round + 1} clients {clients}: done", file=sys.stderr, flush=True)
        if peer:
            rate = _peer(peer, messages)
            if rate is not None:
                results.setdefault(("helpdesk", 0), []).append((rate, 0.0, 0.0, 0.0, rate))
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"\n{backend}, {messages} mails per run, medians of {rounds} round(s)\n")
    print(
        "| server | clients | accepted mails/s | p50 DATA→250 | p99 DATA→250 | p99 MAIL→250 | processed mails/s (end to end) | vs bare |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for clients in clients_list:
        bare_rate = statistics.median(r[0] for r in results[("bare", clients)])
        for kind in ("madoguchi", "bare"):
            rows = results[(kind, clients)]
            rate, p50, p99, mp99, e2e = (statistics.median(r[i] for r in rows) for i in range(5))
            e2e_text = f"{e2e:,.0f}" if kind == "madoguchi" else "–"
            print(
                f"| {kind} | {clients} | {rate:,.0f} | {p50:.1f} ms | {p99:.1f} ms | {mp99:.1f} ms | {e2e_text} | {rate / bare_rate:.2f} |"
            )
    for clients in clients_list:
        service, parser = (statistics.median(r[i] for r in cpu[clients]) for i in range(2))
        print(
            f"\nmadoguchi CPU per mail at {clients} client(s), store to processed: service process "
            f"{service:,.0f} µs, parser process {parser:,.0f} µs"
        )
    if ("helpdesk", 0) in results:
        peer_rate = statistics.median(r[0] for r in results[("helpdesk", 0)])
        print(
            f"| django-helpdesk 2.6.1 get_email (local mailbox, WAL) | – | – | – | – | – | {peer_rate:,.0f} | – |"
        )
        for clients in clients_list:
            ours = statistics.median(r[4] for r in results[("madoguchi", clients)])
            print(f"\nmadoguchi end to end at {clients} client(s) / django-helpdesk: {ours / peer_rate:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--peer-python", default="", help="python of a venv with django-helpdesk==2.6.1")
    parser.add_argument("--serve", choices=["madoguchi", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "madoguchi":
        asyncio.run(_serve_madoguchi(args.url, 0))
        return
    if args.serve == "bare":
        asyncio.run(_serve_bare(0))
        return
    url = args.url
    if not url:
        tmp = tempfile.mkdtemp(prefix="bench-mail-")
        url = f"sqlite+aiosqlite:///{os.path.join(tmp, 'bench.db')}"
    asyncio.run(bench(url, args.clients, args.messages, args.rounds, args.peer_python or None))


if __name__ == "__main__":
    main()
