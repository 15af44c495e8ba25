"""The contact window end to end: SMTP clients → ``madoguchi serve`` → acknowledgements
at a relay, at 1/8/32 clients, beside the relay ceiling measured in the same run.

    .venv/bin/python -m bench.mail                                    # SQLite in a temp dir
    .venv/bin/python -m bench.mail --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    .venv/bin/python -m bench.mail --messages 2000 --clients 1 8 32 --rounds 3
    .venv/bin/python -m bench.mail --set MADOGUCHI_RELAY_PROCESS=false   # settings for serve

Each round starts, each in its own process:

- ``sink``: an aiosmtpd relay stand-in that answers ``250`` and notes when each message
  arrived (``--serve sink``);
- ``madoguchi``: ``madoguchi serve`` itself on a fresh database, its
  ``MADOGUCHI_RELAY_URL`` pointed at the sink, without Slack: the door commits the raw
  bytes before ``250``, the parser process and the processor make requests and queue
  acknowledgements, the outbox worker sends them to the sink (its parser process is a
  child of the service process);
- ``bare``: aiosmtpd with a handler that only answers ``250``, for the door's ratio;
- the ceiling: ``../shared/bench/relay_baseline.py`` (aiosmtplib into an aiosmtpd sink,
  a connection per mail and persistent sessions), run as it is, once per round.

The same raw asyncio SMTP client (lighter than aiosmtplib) drives both servers from this
process. Reported per client count: accepted mails/s (first MAIL to last ``250``),
p50/p99 DATA→``250``, processed mails/s (until no stored mail waits), acknowledgements
delivered at the sink per second (from the first DATA to the last acknowledgement
arriving at the sink: the clock is CLOCK_MONOTONIC, shared by the processes), the
ceiling (the best persistent-session rate of the baseline) and the ratio, and the CPU
per mail of madoguchi's processes. 2 KB messages, 80 % new requests from distinct
senders (each gets an acknowledgement), 20 % replies threaded by In-Reply-To (none).
The PostgreSQL database must exist and be disposable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CONTACT = "contact@support.example.com"
INQUIRY = "inquiry@support.example.com"
# Where the clients send: the contact window, or (``--to inquiry``) the inquiry address,
# whose senders are then seeded as active accounts each with one support ID.
RCPT = {"to": CONTACT}
ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT.parent / "shared" / "bench" / "relay_baseline.py"
# More settings for madoguchi serve (``--set NAME=VALUE``), e.g. MADOGUCHI_RELAY_PROCESS=false.
EXTRA_ENV: dict[str, str] = {}
# Acknowledgements still arriving after this long without a new one: stop waiting.
QUIET_SECONDS = 10.0


# -- servers (run in a child process) ---------------------------------------------------


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


async def _serve_sink() -> None:
    """The relay: ``250`` to everything, and on each ``stats`` line from stdin the
    messages so far with the monotonic time of the first and the last."""
    from functools import partial

    from aiosmtpd.smtp import SMTP

    seen: list[float] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            seen.append(time.monotonic())
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(partial(SMTP, Handler(), hostname="relay"), "127.0.0.1", 0)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "stats":
            first, last = (seen[0], seen[-1]) if seen else (0.0, 0.0)
            print(f"STATS {len(seen)} {first!r} {last!r}", flush=True)
    server.close()


# -- load ---------------------------------------------------------------------------------


def _message(n: int, reply_to: int | None) -> bytes:
    sender = f"user{n:06d}@customer{n % 97}.example.jp"
    headers = [
        f"From: =?UTF-8?B?5bGx55Sw?= <{sender}>",
        f"To: {RCPT['to']}",
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


@dataclass
class Load:
    elapsed: float  # first MAIL to last 250
    first_data: float  # time.monotonic() of the first DATA
    data_lat: list[float]
    mail_lat: list[float]


async def _client(
    port: int,
    jobs: list[tuple[str, bytes]],
    data_lat: list[float],
    mail_lat: list[float],
    firsts: list[float],
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
        writer.write(f"RCPT TO:<{RCPT['to']}>\r\n".encode())
        assert (await reader.readline()).startswith(b"250")
        data_at = time.perf_counter()
        if not firsts:
            firsts.append(time.monotonic())
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


def _jobs(clients: int, start: int, count: int) -> tuple[list[list[tuple[str, bytes]]], int]:
    """Each client's mails, and how many of them are new requests (acknowledged)."""
    jobs: list[list[tuple[str, bytes]]] = [[] for _ in range(clients)]
    new = 0
    for i in range(count):
        n = start + i
        reply_to = n - 5 if i >= 5 and i % 5 == 0 else None  # every fifth mail continues an earlier one
        new += reply_to is None
        sender_n = reply_to if reply_to is not None else n
        jobs[i % clients].append(
            (f"user{sender_n:06d}@customer{sender_n % 97}.example.jp", _message(n, reply_to))
        )
    return jobs, new


async def _drive(port: int, jobs: list[list[tuple[str, bytes]]]) -> Load:
    data_lat: list[float] = []
    mail_lat: list[float] = []
    firsts: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, j, data_lat, mail_lat, firsts) for j in jobs))
    return Load(time.perf_counter() - started, firsts[0], data_lat, mail_lat)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- processes ----------------------------------------------------------------------------


def _spawn(kind: str) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "bench.mail", "--serve", kind]
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


def _sink_stats(sink: subprocess.Popen[str]) -> tuple[int, float, float]:
    assert sink.stdin is not None and sink.stdout is not None
    sink.stdin.write("stats\n")
    sink.stdin.flush()
    _word, count, first, last = sink.stdout.readline().split()
    return int(count), float(first), float(last)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_madoguchi(
    url: str, relay_port: int, workdir: Path, log_name: str
) -> tuple[subprocess.Popen[bytes], int]:
    """``madoguchi serve`` as an operator starts it, configured through its environment."""
    smtp_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MADOGUCHI_", "DATABASE_URL"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": url,
            "MADOGUCHI_SECRET_KEY": "bench",
            "MADOGUCHI_ACK_BREAKER_LIMIT": "10000000",
            "MADOGUCHI_RELAY_URL": f"smtp://127.0.0.1:{relay_port}",
            "MADOGUCHI_SMTP_PORT": str(smtp_port),
            # Every bench client connects from 127.0.0.1: no per-client session cap here.
            "MADOGUCHI_SMTP_MAX_SESSIONS": "200",
            "MADOGUCHI_SMTP_MAX_SESSIONS_PER_CLIENT": "0",
            "MADOGUCHI_HTTP_PORT": str(_free_port()),
            "MADOGUCHI_VAR_DIR": str(workdir / "var"),
            "MADOGUCHI_OUTBOX_DIR": str(workdir / "outbox"),
            **EXTRA_ENV,
        }
    )
    with (workdir / log_name).open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "madoguchi.cli", "serve"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"madoguchi serve exited ({proc.returncode}); see {workdir / log_name}")
        try:
            with socket.create_connection(("127.0.0.1", smtp_port), timeout=1) as probe:
                if probe.recv(100).startswith(b"220"):
                    return proc, smtp_port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"madoguchi serve did not listen in 60 s; see {workdir / log_name}")


def _stop_madoguchi(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
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

    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # a child started by any thread
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
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


_BASELINE_LINE = re.compile(r"^(new connection per mail|persistent sessions)\s+conc=(\d+): median\s+(\d+)")


def _ceiling(script: Path) -> dict[tuple[str, int], float]:
    """The relay baseline's medians, by (how, concurrency); empty when it cannot run."""
    try:
        out = subprocess.run(
            [sys.executable, script.name], cwd=script.parent, capture_output=True, text=True, timeout=600
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found: dict[tuple[str, int], float] = {}
    for line in out.splitlines():
        print(f"  baseline: {line}", file=sys.stderr)
        match = _BASELINE_LINE.match(line)
        if match:
            found[(match.group(1), int(match.group(2)))] = float(match.group(3))
    return found


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


# -- one measurement ----------------------------------------------------------------------


@dataclass
class Result:
    accepted: float
    p50: float
    p99: float
    mail_p99: float
    processed: float
    acks: float  # delivered at the sink per second
    acked: int
    expected: int
    service_cpu: float  # µs per mail
    parser_cpu: float


async def _seed_senders(url: str, start: int, messages: int) -> None:
    """For ``--to inquiry``: every sender of this run an active account, contact of a
    support ID of its own (so a new mail opens an inquiry, a reply continues it)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from core.models import Account, Company, SupportId, SupportIdContact
    from core.storage import create_engine, session_factory

    engine = create_engine(url)
    now = datetime.now(UTC)
    senders = sorted({s for job in _jobs(1, start, messages)[0] for s, _raw in job})
    try:
        async with session_factory(engine)() as session:
            company = Company(
                code="CB", name="ベンチ", name_norm="ベンチ", postal_code="", address="", phone=""
            )
            session.add(company)
            await session.flush()
            await session.execute(
                insert(Account),
                [{"email": s, "company_id": company.id, "last_name": "山田", "first_name": "太郎",
                  "last_name_kana": "ヤマダ", "first_name_kana": "タロウ", "phone": "03-0000-0000",
                  "postal_code": "1000001", "prefecture": "東京都", "city": "千代田区", "street": "1",
                  "privacy_consented_at": now, "created_at": now, "status": "active"} for s in senders],
            )  # fmt: skip
            await session.execute(
                insert(SupportId),
                [{"name": f"B{n}", "name_key": f"b{n}", "description": "", "created_at": now}
                 for n in range(len(senders))],
            )  # fmt: skip
            accounts = dict((await session.execute(select(Account.email, Account.id))).all())
            sids = dict((await session.execute(select(SupportId.name, SupportId.id))).all())
            await session.execute(
                insert(SupportIdContact),
                [{"support_id_id": sids[f"B{n}"], "account_id": accounts[s], "added_at": now}
                 for n, s in enumerate(senders)],
            )  # fmt: skip
            await session.commit()
    finally:
        await engine.dispose()


async def _madoguchi_run(url: str, clients: int, start: int, messages: int, workdir: Path) -> Result:
    await _reset(url)
    if RCPT["to"] == INQUIRY:
        await _seed_senders(url, start, messages)
    sink, relay_port = _spawn("sink")
    try:
        proc, port = _start_madoguchi(url, relay_port, workdir, f"serve-{start}.log")
        try:
            await asyncio.sleep(0.5)  # the parser process starting up is not the mails' CPU
            jobs, expected = _jobs(clients, start, messages)
            cpu_before = _cpu(proc.pid)
            load = await _drive(port, jobs)
            accepted_at = time.perf_counter()
            processed_at: float | None = None
            acked, last_ack, progress_at = 0, 0.0, time.monotonic()
            while True:
                if processed_at is None and not await _pending(url):
                    processed_at = time.perf_counter()
                count, _first, last = _sink_stats(sink)
                if count != acked:
                    acked, last_ack, progress_at = count, last, time.monotonic()
                if processed_at is not None and acked >= expected:
                    break
                if time.monotonic() - progress_at > QUIET_SECONDS:
                    print(f"  only {acked} of {expected} acknowledgements arrived", file=sys.stderr)
                    break
                await asyncio.sleep(0.05)
            cpu_after = _cpu(proc.pid)
        finally:
            _stop_madoguchi(proc)
    finally:
        _stop(sink)
    processed = messages / (load.elapsed + ((processed_at or time.perf_counter()) - accepted_at))
    service, parser = ((b - a) / messages * 1e6 for a, b in zip(cpu_before, cpu_after, strict=True))
    return Result(
        accepted=messages / load.elapsed,
        p50=_pct(load.data_lat, 0.5),
        p99=_pct(load.data_lat, 0.99),
        mail_p99=_pct(load.mail_lat, 0.99),
        processed=processed,
        acks=acked / (last_ack - load.first_data) if acked else 0.0,
        acked=acked,
        expected=expected,
        service_cpu=service,
        parser_cpu=parser,
    )


async def _bare_run(clients: int, start: int, messages: int) -> float:
    proc, port = _spawn("bare")
    try:
        jobs, _new = _jobs(clients, start, messages)
        load = await _drive(port, jobs)
    finally:
        _stop(proc)
    return messages / load.elapsed


async def bench(
    url: str,
    clients_list: list[int],
    messages: int,
    rounds: int,
    peer: str | None = None,
    baseline: Path | None = BASELINE,
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-mail-run-"))
    ours: dict[int, list[Result]] = {}
    bare: dict[int, list[float]] = {}
    ceilings: list[dict[tuple[str, int], float]] = []
    helpdesk: list[float] = []
    seq = 0
    for round_no in range(rounds):
        if baseline is not None:
            print(f"round {round_no + 1}: relay baseline ({baseline})", file=sys.stderr, flush=True)
            ceilings.append(_ceiling(baseline))
        for clients in clients_list:
            ours.setdefault(clients, []).append(await _madoguchi_run(url, clients, seq, messages, workdir))
            seq += messages
            bare.setdefault(clients, []).append(await _bare_run(clients, seq, messages))
            seq += messages
            print(f"round {round_no + 1} clients {clients}: done", file=sys.stderr, flush=True)
        if peer:
            rate = _peer(peer, messages)
            if rate is not None:
                helpdesk.append(rate)
    _report(url, messages, rounds, clients_list, ours, bare, ceilings, helpdesk)
    print(f"\nserve logs: {workdir}")


def _report(
    url: str,
    messages: int,
    rounds: int,
    clients_list: list[int],
    ours: dict[int, list[Result]],
    bare: dict[int, list[float]],
    ceilings: list[dict[tuple[str, int], float]],
    helpdesk: list[float],
) -> None:
    def med(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    kinds = sorted({key for found in ceilings for key in found})
    ceiling = {key: med([found[key] for found in ceilings if key in found]) for key in kinds}
    best = max((rate for (how, _c), rate in ceiling.items() if how == "persistent sessions"), default=0.0)
    print(f"\n{backend}, {messages} mails per run, medians of {rounds} round(s)\n")
    for (how, conc), rate in ceiling.items():
        print(f"relay ceiling (relay_baseline.py, same run): {how}, {conc} at once: {rate:,.0f} mails/s")
    print(
        "\n| clients | accepted mails/s | vs bare | p50 DATA→250 | p99 DATA→250 | p99 MAIL→250 "
        "| processed mails/s | acks delivered/s | acks / ceiling | CPU per mail: service / parser |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for clients in clients_list:
        rows = ours[clients]
        accepted = med([r.accepted for r in rows])
        acks = med([r.acks for r in rows])
        ratio = f"{acks / best:.2f}× of {best:,.0f}" if best else "–"
        print(
            f"| {clients} | {accepted:,.0f} | {accepted / med(bare[clients]):.2f} "
            f"| {med([r.p50 for r in rows]):.1f} ms | {med([r.p99 for r in rows]):.1f} ms "
            f"| {med([r.mail_p99 for r in rows]):.1f} ms | {med([r.processed for r in rows]):,.0f} "
            f"| {acks:,.0f} | {ratio} "
            f"| {med([r.service_cpu for r in rows]):,.0f} / {med([r.parser_cpu for r in rows]):,.0f} µs |"
        )
    for clients in clients_list:
        short = [f"{r.acked}/{r.expected}" for r in ours[clients] if r.acked < r.expected]
        if short:
            print(f"\nat {clients} client(s) some acknowledgements did not arrive: {', '.join(short)}")
    if helpdesk:
        peer_rate = med(helpdesk)
        print(f"\ndjango-helpdesk 2.6.1 get_email (local mailbox, WAL): {peer_rate:,.0f} mails/s")
        for clients in clients_list:
            processed = med([r.processed for r in ours[clients]])
            print(
                f"madoguchi processed at {clients} client(s) / django-helpdesk: {processed / peer_rate:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--to", choices=["contact", "inquiry"], default="contact", help="the address the clients write to"
    )
    parser.add_argument("--peer-python", default="", help="python of a venv with django-helpdesk==2.6.1")
    parser.add_argument("--baseline", default=str(BASELINE), help="relay_baseline.py ('' to skip it)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting for madoguchi serve"
    )
    parser.add_argument("--serve", choices=["bare", "sink"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        asyncio.run(_serve_bare(0))
        return
    if args.serve == "sink":
        asyncio.run(_serve_sink())
        return
    EXTRA_ENV.update(item.split("=", 1) for item in args.set)
    RCPT["to"] = INQUIRY if args.to == "inquiry" else CONTACT
    url = args.url
    if not url:
        tmp = tempfile.mkdtemp(prefix="bench-mail-")
        url = f"sqlite+aiosqlite:///{os.path.join(tmp, 'bench.db')}"
    baseline = Path(args.baseline) if args.baseline else None
    asyncio.run(bench(url, args.clients, args.messages, args.rounds, args.peer_python or None, baseline))


if __name__ == "__main__":
    main()
