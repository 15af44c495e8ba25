"""Knowledge search on a big knowledge base vs a near-empty one (SPEC §4.9, §9).

    .venv/bin/python bench/knowledge.py                        # 100,000 articles, SQLite + PostgreSQL
    .venv/bin/python bench/knowledge.py --articles 20000 --no-postgres --no-write

1. Generates 100,000 Japanese-like articles deterministically (madoguchi/articlegen.py,
   streamed to bench/out/) and imports them with the vendor import (the file's
   ``articles`` part): wall time; then imports the same file again (must change nothing).
2. On that database and on a near-empty one (the first 100 articles of the same
   generator), sends ``/support kb WORDS`` as signed Slack requests to the real door
   (in a process of its own, bench/door_process.py, as Slack's requests would not share
   its event loop; its CPU per request is reported too) at concurrency 16, as a customer holding a key
   of 製品Aファミリ (the fullest visibility condition): two-character words, words of
   three or more characters, and two-word queries; p50 / p99 in ms. Then the same
   searches through the core alone (``search.search`` on a snapshot, 16 at a time),
   which is the part the number of articles can change. Both databases are loaded
   first and measured in ``--rounds`` rounds, the order alternating, each round a share
   of ``--requests``; p50 / p99 over all rounds' samples (the machine's speed drifts
   within minutes: one database measured after the other let the drift into the ratio).
3. Writes its section of docs/performance.md (between the knowledge markers).

PostgreSQL: TEST_DATABASE_URL (or --postgres URL) names a server; the bench creates and
drops databases of its own there. Targets (issue 13): import < 60 s; p99 loaded ≤ 2×
near-empty on both databases, and < 30 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.door_process import DoorProcess  # noqa: E402
from core import accounts, importing, workspaces  # noqa: E402
from core.actors import SYSTEM_CLI, Actor  # noqa: E402
from core.clock import JST, FrozenClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.knowledge import search  # noqa: E402
from core.models import SupportId, SupportIdContact, SupportKey  # noqa: E402
from core.snapshots import snapshot  # noqa: E402
from core.storage import create_engine, session_factory  # noqa: E402
from core.unit_of_work import Core  # noqa: E402
from madoguchi import articlegen  # noqa: E402
from migrations import upgrade  # noqa: E402
from tests import factories  # noqa: E402

OUT = ROOT / "bench" / "out"
SECRET = "bench-signing-secret"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=JST)
CONCURRENCY = 16
NEAR_EMPTY = 100
MARK_BEGIN = "<!-- knowledge:begin -->"
MARK_END = "<!-- knowledge:end -->"
KINDS = {
    "2 characters": articlegen.TWO_CHAR,
    "3+ characters": articlegen.LONGER,
    "two words": articlegen.TWO_WORDS,
}


@dataclass
class Result:
    database: str
    articles: int
    import_s: float = 0.0
    reimport_s: float = 0.0
    reimport_changed: bool = False
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # kind → (p50, p99)


def _settings_kwargs(url: str, var: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "MADOGUCHI_SECRET_KEY": "bench-secret-key-not-for-production",
        "MADOGUCHI_VAR_DIR": str(var),
    }


def _settings(url: str, var: Path) -> Settings:
    # SLACK_API_URL: never called, the user's locale is seeded (the door's process has a fake).
    return Settings(**_settings_kwargs(url, var), SLACK_API_URL="http://127.0.0.1:9/api/", _env_file=None)


async def _seed_reader(core: Core) -> None:
    """U1: an active account, contact of a support ID holding a key of 製品Aファミリ."""
    async with core.uow() as uow:
        company = await factories.company(uow, "ベンチ株式会社")
        contract = await factories.contract(uow, company, number="K-BENCH")
        account = await factories.account(
            uow, company, "bench@customer.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        await factories.key(uow, contract)
        sid = SupportId(name="BENCH_01", name_key="bench_01", created_at=uow.clock.now())
        uow.session.add(sid)
        await uow.session.flush()
        uow.session.add(
            SupportIdContact(support_id_id=sid.id, account_id=account.id, added_at=uow.clock.now())
        )
        await uow.session.execute(
            update(SupportKey).where(SupportKey.contract_id == contract.id).values(support_id_id=sid.id)
        )
        await workspaces.remember_client_locale(uow, "T1", "U1", "ja")
        await uow.commit()


def _signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _command(text: str, n: int) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "bench",
            "channel_id": "C1",
            "user_id": "U1",
            "user_name": "u1",
            "command": "/support",
            "text": f"kb {text}",
            "api_app_id": "A1",
            "response_url": "http://127.0.0.1:9/response",
            "trigger_id": f"t{n}",
        }
    )


async def _latencies(url: str, words: tuple[str, ...], requests: int) -> list[float]:
    """``requests`` signed ``/support kb`` requests, 16 at a time; ms each."""
    timings: list[float] = []
    counter = iter(range(requests))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for n in counter:
                body = _command(words[n % len(words)], n)
                began = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=_signed(body)) as resp:
                    text = await resp.text()
                timings.append((time.perf_counter() - began) * 1000)
                assert resp.status == 200 and "blocks" in text, (resp.status, text[:200])

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return timings


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _core_latencies(core: Core, words: tuple[str, ...], requests: int) -> list[float]:
    """The same searches through the core alone (a snapshot and ``search.search``, what
    the door calls), 16 at a time: the storage's share of a request."""
    timings: list[float] = []
    counter = iter(range(requests))
    async with snapshot(core) as snap:
        who = await accounts.slack_identity(snap, "T1", "U1")
    actor = Actor(kind="account", ref="slack:T1:U1", door="slack", account_id=who.account_id)

    async def worker() -> None:
        for n in counter:
            began = time.perf_counter()
            async with snapshot(core) as snap:
                await search.search(snap, actor, words[n % len(words)])
            timings.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return timings


async def _measure(
    core: Core, requests: int, door_settings: dict[str, Any], into: dict[str, list[float]]
) -> None:
    """One round: door latencies against the door serving in its own process
    (bench/door_process.py), with its CPU (``[seconds, requests]``); then the core's.
    Added to ``into``, kind by kind."""
    async with DoorProcess(door_settings, now=NOW) as door:
        await _latencies(door.events_url, articlegen.TWO_CHAR, 64)  # warm-up
        for kind, words in KINDS.items():
            cpu = await door.cpu_seconds()
            into.setdefault(kind, []).extend(await _latencies(door.events_url, words, requests))
            used = into.setdefault(f"{kind} (door CPU)", [0.0, 0.0])
            used[0] += await door.cpu_seconds() - cpu
            used[1] += requests
    await _core_latencies(core, articlegen.TWO_CHAR, 64)  # warm-up
    for kind, words in KINDS.items():
        into.setdefault(f"{kind} (core)", []).extend(await _core_latencies(core, words, requests))


def _summary(samples: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """kind → (p50, p99) in ms over every round's samples; door CPU → (ms a request, 0)."""
    out: dict[str, tuple[float, float]] = {}
    for kind, values in samples.items():
        if kind.endswith("(door CPU)"):
            out[kind] = (values[0] / values[1] * 1000, 0.0)
        else:
            out[kind] = (statistics.median(values), _p(values, 0.99))
    return out


@contextlib.asynccontextmanager
async def _loaded(
    database: str, admin: str, path: Path, result: Result
) -> AsyncIterator[tuple[Core, dict[str, Any]]]:
    """A fresh database holding ``path``'s articles (import and re-import timed into
    ``result``) and the bench's reader; dropped on the way out."""
    with tempfile.TemporaryDirectory() as tmp:
        name = None
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        else:
            name = f"madoguchi_kb_{uuid.uuid4().hex[:10]}"
            await _postgres_db(admin, f'CREATE DATABASE "{name}"')
            url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        try:
            var = Path(tmp) / "var"
            engine = create_engine(url)
            try:
                await upgrade(engine)
                core = Core(session_factory(engine), _settings(url, var), FrozenClock(NOW))
                began = time.perf_counter()
                async with core.uow() as uow:
                    await importing.import_file(uow, SYSTEM_CLI, path)
                result.import_s = time.perf_counter() - began
                began = time.perf_counter()
                async with core.uow() as uow:
                    again = await importing.import_file(uow, SYSTEM_CLI, path)
                result.reimport_s = time.perf_counter() - began
                result.reimport_changed = again.changed
                await _seed_reader(core)
                yield core, _settings_kwargs(url, var)
            finally:
                await engine.dispose()
        finally:
            if name is not None:
                await _postgres_db(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres_db(admin: str, sql: str) -> None:
    import asyncpg

    parsed = make_url(admin)
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(database: str, admin: str, count: int, requests: int, rounds: int) -> list[Result]:
    """Both databases loaded side by side, then measured round by round, the order
    alternating (near-empty, big; big, near-empty; …): the machine's speed drifts by tens
    of per cent within minutes (docs/performance.md), and measuring one database after
    the other let that drift into the ratio, either way."""
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = (count, NEAR_EMPTY)
    results = {n: Result(database, n) for n in sizes}
    samples: dict[int, dict[str, list[float]]] = {n: {} for n in sizes}
    async with contextlib.AsyncExitStack() as stack:
        loaded = {}
        for n in sizes:
            path = OUT / f"articles-{n}.json"
            if not path.exists():
                articlegen.write(path, n)
            loaded[n] = await stack.enter_async_context(_loaded(database, admin, path, results[n]))
            r = results[n]
            print(
                f"{database} {n:>7} articles: import {r.import_s:.1f} s, again {r.reimport_s:.1f} s "
                f"(changed: {r.reimport_changed})"
            )
        for round_ in range(rounds):
            for n in sizes[:: -1 if round_ % 2 == 0 else 1]:
                core, door_settings = loaded[n]
                await _measure(core, max(1, requests // rounds), door_settings, samples[n])
    for n in sizes:
        results[n].latency = _summary(samples[n])
        print(f"{database} {n:>7} articles, {rounds} rounds:")
        for kind, (p50, p99) in results[n].latency.items():
            print(f"    {kind:<14} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    return [results[n] for n in sizes]


def table(results: list[Result]) -> str:
    lines = [
        "| database | query (`/support kb` through the door; (core): the search alone) "
        "| near-empty p50 / p99 ms | 100k p50 / p99 ms | p99 ratio |",
        "|---|---|---|---|---|",
    ]
    by_db: dict[str, list[Result]] = {}
    for r in results:
        by_db.setdefault(r.database, []).append(r)
    for database, (big, small) in (
        (d, sorted(rs, key=lambda r: r.articles)[::-1]) for d, rs in by_db.items()
    ):
        for kind in big.latency:
            if kind.endswith("(door CPU)"):
                continue
            b, s = big.latency[kind], small.latency[kind]
            lines.append(
                f"| {database} | {kind} | {s[0]:.1f} / {s[1]:.1f} | {b[0]:.1f} / {b[1]:.1f} | {b[1] / s[1]:.2f}× |"
            )
    lines.append("")
    for database, rs in by_db.items():
        big = max(rs, key=lambda r: r.articles)
        small = min(rs, key=lambda r: r.articles)
        cpu = [
            f"{kind.removesuffix(' (door CPU)')} {small.latency[kind][0]:.2f} / {big.latency[kind][0]:.2f} ms"
            for kind in big.latency
            if kind.endswith("(door CPU)") and kind in small.latency
        ]
        if cpu:
            lines.append(
                f"- {database}: the door's CPU per request (its own process, HTTP included), "
                f"near-empty / {big.articles:,}: " + "; ".join(cpu) + "."
            )
        lines.append(
            f"- {database}: import of {big.articles:,} articles {big.import_s:.1f} s; the same file again "
            f"{big.reimport_s:.1f} s ({'changed rows!' if big.reimport_changed else 'nothing changed'})."
        )
    return "\n".join(lines)


def write_docs(text: str) -> None:
    path = ROOT / "docs" / "performance.md"
    doc = path.read_text(encoding="utf-8")
    section = f"{MARK_BEGIN}\n{text}\n{MARK_END}"
    if MARK_BEGIN in doc:
        head, rest = doc.split(MARK_BEGIN, 1)
        doc = head + section + rest.split(MARK_END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(doc, encoding="utf-8")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=800, help="per kind of query, all rounds")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per database")
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL", ""))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = await run("sqlite", "", args.articles, args.requests, args.rounds)
    if args.postgres and not args.no_postgres:
        results += await run("postgresql", args.postgres, args.articles, args.requests, args.rounds)
    text = table(results)
    print(text)
    if not args.no_write:
        stamp = date.today().isoformat()
        write_docs(f"## Knowledge search — `bench/knowledge.py` ({stamp})\n\n{text}")


if __name__ == "__main__":
    asyncio.run(main())
