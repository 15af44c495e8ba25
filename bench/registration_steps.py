"""Latency of the registration conversation's core steps (no door), on SQLite or PostgreSQL.

    .venv/bin/python -m bench.registration_steps                       # SQLite in a temp dir
    .venv/bin/python -m bench.registration_steps --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    .venv/bin/python -m bench.registration_steps --conversations 200 --concurrency 1 16

Runs whole conversations (start → key → confirm company → details → submit) at each
concurrency and prints p50/p99 per step in milliseconds. The PostgreSQL database must
exist and be disposable: the schema is migrated and rows are added.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from core import registration
from core.actors import Actor
from core.config import Settings
from core.storage import create_engine, session_factory
from core.unit_of_work import Core
from migrations import upgrade
from tests import factories

DETAILS: dict[str, Any] = {
    "last_name": "山田",
    "first_name": "太郎",
    "last_name_kana": "ヤマダ",
    "first_name_kana": "タロウ",
    "phone": "03-1234-5678",
    "postal_code": "1400002",
    "street": "東品川4-12-7",
    "privacy_consent": True,
}


async def conversation(core: Core, key: str, n: int, timings: dict[str, list[float]]) -> None:
    actor = Actor(kind="anonymous", ref=f"bench:{n}:{time.monotonic_ns()}", door="cli")

    async def timed(name: str, step: Any, *args: Any) -> registration.View:
        began = time.perf_counter()
        async with core.uow() as uow:
            view: registration.View = await step(uow, actor, *args)
        timings[name].append((time.perf_counter() - began) * 1000)
        return view

    view = await timed("start", registration.start)
    cid = view.conversation_id
    await timed("submit_key", registration.submit_key, cid, key)
    await timed("confirm_company", registration.confirm_company, cid)
    email = f"bench{n}.{time.monotonic_ns()}@customer.example.jp"
    await timed("submit_details", registration.submit_details, cid, {**DETAILS, "email": email})
    await timed("submit", registration.submit, cid)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            DATABASE_URL=url, MADOGUCHI_SECRET_KEY="bench", MADOGUCHI_VAR_DIR=tmp, _env_file=None
        )
        engine = create_engine(url)
        await upgrade(engine)
        core = Core(session_factory(engine), settings)
        async with core.uow() as uow:
            company = await factories.company(uow, "ベンチ株式会社")
            key = await factories.key(uow, await factories.contract(uow, company))
            await uow.commit()
        print(f"database: {engine.dialect.name}; {args.conversations} conversations per run")
        print(f"{'c':>3} {'step':<16} {'p50 ms':>8} {'p99 ms':>8}")
        for concurrency in args.concurrency:
            timings: dict[str, list[float]] = defaultdict(list)
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int, gate: asyncio.Semaphore, timings: dict[str, list[float]]) -> None:
                async with gate:
                    await conversation(core, key, n, timings)

            await asyncio.gather(*(one(n, gate, timings) for n in range(args.conversations)))
            for step, values in timings.items():
                values.sort()
                p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
                print(f"{concurrency:>3} {step:<16} {statistics.median(values):8.2f} {p99:8.2f}")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
