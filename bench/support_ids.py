"""Latency of the support-ID services a person waits for, near-empty vs loaded.

    .venv/bin/python -m bench.support_ids                          # SQLite in a temp dir
    .venv/bin/python -m bench.support_ids --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    .venv/bin/python -m bench.support_ids --loaded 0 50000 --rounds 300

For each load (support IDs of other customers, each with a contract, two keys and a
contact) it measures, for one user with 10 support IDs: ``list_for_account``, ``show``,
``add_key`` + ``remove_key`` of a free key, and ``issue``; prints p50/p99 in ms. SPEC §9
wants a waited-for lookup on a loaded database within 2x of the near-empty one. The
PostgreSQL database must exist and be disposable (it is migrated and filled).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from core import support_ids, support_keys
from core.actors import Actor
from core.config import Settings
from core.models import Account, Contract, SupportId, SupportIdContact, SupportKey
from core.storage import create_engine, session_factory
from core.unit_of_work import Core, UnitOfWork
from migrations import upgrade
from tests import factories

BATCH = 5_000


async def load_others(core: Core, target: int) -> None:
    """Top the database up to ``target`` support IDs of other customers, in bulk."""
    async with core.uow() as uow:
        have = await uow.session.scalar(select(func.count()).select_from(SupportId)) or 0
        company = await factories.company(uow, "他社")
        await uow.commit()
        now = datetime.now(UTC)
        for start in range(have, target, BATCH):
            stop = min(target, start + BATCH)
            ids = range(start, stop)
            await uow.session.execute(
                insert(Contract),
                [
                    {
                        "number": f"L-{n:08d}",
                        "company_id": company.id,
                        "product_family": "製品Aファミリ",
                        "end_user": "他社",
                        "starts_on": date(2024, 1, 1),
                        "ends_on": date(2027, 12, 31),
                        "requires_terms": False,
                    }
                    for n in ids
                ],
            )
            await uow.session.execute(
                insert(SupportId),
                [
                    {
                        "name": f"LOAD-{n:08d}",
                        "name_key": f"load-{n:08d}",
                        "description": "",
                        "created_at": now,
                    }
                    for n in ids
                ],
            )
            await uow.session.execute(
                insert(Account),
                [
                    {
                        "email": f"load{n}@other.example.jp",
                        "company_id": company.id,
                        "last_name": "他",
                        "first_name": "社",
                        "last_name_kana": "タ",
                        "first_name_kana": "シャ",
                        "phone": "03-0000-0000",
                        "postal_code": "1000001",
                        "prefecture": "東京都",
                        "city": "千代田区",
                        "street": "1",
                        "privacy_consented_at": now,
                        "created_at": now,
                        "status": "active",
                    }
                    for n in ids
                ],
            )
            contract_ids = dict(
                (
                    await uow.session.execute(
                        select(Contract.number, Contract.id).where(Contract.number.like("L-%"))
                    )
                ).all()
            )
            sid_ids = dict(
                (
                    await uow.session.execute(
                        select(SupportId.name, SupportId.id).where(SupportId.name.like("LOAD-%"))
                    )
                ).all()
            )
            account_ids = dict(
                (
                    await uow.session.execute(
                        select(Account.email, Account.id).where(Account.email.like("load%@other.example.jp"))
                    )
                ).all()
            )
            await uow.session.execute(
                insert(SupportKey),
                [
                    {
                        "key_hash": support_keys.digest(uow.hasher, f"LOAD{n:08d}K{k}"),
                        "last4": f"{n % 10_000:04d}",
                        "contract_id": contract_ids[f"L-{n:08d}"],
                        "support_id_id": sid_ids[f"LOAD-{n:08d}"],
                        "issued_via": "import",
                    }
                    for n in ids
                    for k in range(2)
                ],
            )
            await uow.session.execute(
                insert(SupportIdContact),
                [
                    {
                        "support_id_id": sid_ids[f"LOAD-{n:08d}"],
                        "account_id": account_ids[f"load{n}@other.example.jp"],
                        "added_at": now,
                    }
                    for n in ids
                ],
            )
            await uow.commit()
    if core.settings.database_url.startswith("postgresql"):
        # As the import does after a load: a bulk load leaves no planner statistics.
        async with core.uow() as uow:
            began = time.perf_counter()
            await uow.session.execute(text("ANALYZE"))
            print(f"(ANALYZE took {time.perf_counter() - began:.1f} s)")
            await uow.commit()


async def measure(
    core: Core,
    rounds: int,
    user: Actor,
    issuer: Actor,
    free_key: str,
    fresh_key: Callable[[], Awaitable[str]],
) -> dict[str, list[float]]:
    """``issuer`` issues (so the measured user's list stays the same size)."""
    timings: dict[str, list[float]] = defaultdict(list)

    async def timed(name: str, call: Callable[[UnitOfWork], Awaitable[Any]]) -> None:
        began = time.perf_counter()
        async with core.uow() as uow:
            await call(uow)
        timings[name].append((time.perf_counter() - began) * 1000)

    for n in range(rounds):
        await timed("list_for_account", lambda uow: support_ids.list_for_account(uow, user))
        await timed("show", lambda uow: support_ids.show(uow, user, "MINE-0"))
        await timed("add_key", lambda uow: support_ids.add_key(uow, user, "MINE-0", free_key))
        await timed("remove_key", lambda uow: support_ids.remove_key(uow, user, "MINE-0", free_key))
        key = await fresh_key()
        await timed(
            "issue", lambda uow, key=key, n=n: support_ids.issue(uow, issuer, key, f"B{time.time_ns()}{n}")
        )
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="")
    parser.add_argument("--loaded", type=int, nargs="+", default=[0, 20_000])
    parser.add_argument("--rounds", type=int, default=200)
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
            account = await factories.account(uow, company, f"bench{time.time_ns()}@customer.example.jp")
            user = Actor(kind="account", ref=f"bench:{account.id}", door="cli", account_id=account.id)
            other = await factories.account(uow, company, f"issuer{time.time_ns()}@customer.example.jp")
            issuer = Actor(kind="account", ref=f"bench:{other.id}", door="cli", account_id=other.id)
            mine = [await factories.key(uow, await factories.contract(uow, company)) for _ in range(10)]
            spare_contract = await factories.contract(uow, company)
            free_key = await factories.key(uow, spare_contract)
            await factories.key(uow, spare_contract)
            await uow.commit()
        for n, key in enumerate(mine):
            async with core.uow() as uow:
                await support_ids.issue(uow, user, key, f"MINE-{n}")

        async def fresh_key() -> str:
            async with core.uow() as uow:
                raw = await factories.key(uow, await factories.contract(uow, company))
                await uow.commit()
            return raw

        print(f"database: {engine.dialect.name}; {args.rounds} rounds; user has 10 support IDs")
        print(f"{'loaded':>8} {'service':<18} {'p50 ms':>8} {'p99 ms':>8}")
        for target in args.loaded:
            began = time.perf_counter()
            await load_others(core, target)
            loaded_in = time.perf_counter() - began
            timings = await measure(core, args.rounds, user, issuer, free_key, fresh_key)
            for name, values in timings.items():
                values.sort()
                p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
                print(f"{target:>8} {name:<18} {statistics.median(values):8.2f} {p99:8.2f}")
            print(f"{target:>8} (loaded in {loaded_in:.1f} s)")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
