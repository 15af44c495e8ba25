"""Latency of the password page over real HTTP (serve's app in-process), on SQLite.

    .venv/bin/python -m bench.web_pages            # 200 accounts: GET the form, POST a password

Each account: GET /activate/{token} (link check + throttle check + render), then POST a
good password (throttle bookkeeping + Argon2id + consume the link). Requests come from
distinct X-less clients on 127.0.0.1, so the per-IP throttle is raised for the run.
Prints p50/p99 in milliseconds, sequential and with 8 concurrent clients.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import select

from core import accounts, throttle
from core.actors import Actor
from core.config import Settings
from core.models import OutboxMessage
from madoguchi.serve import Server, web_pages
from tests import factories


async def _tokens(server: Server, count: int) -> list[str]:
    out = []
    async with server.core.uow() as uow:
        company = await factories.company(uow)
        for n in range(count):
            await accounts.create_account(
                uow,
                Actor(kind="system", ref="bench", door="cli"),
                factories.details(f"bench{n}@customer-a.example.jp"),
                company.id,
                "ja",
            )
        await uow.commit()
        rows = (await uow.session.scalars(select(OutboxMessage))).all()
        for row in rows:
            out.append(str(uow.sealer.open(row.sealed)["link"]).rsplit("/", 1)[1])
    return out


async def _walk(
    http: aiohttp.ClientSession, base: str, token: str, gets: list[float], posts: list[float]
) -> None:
    started = time.perf_counter()
    async with http.get(f"{base}/activate/{token}") as response:
        html = await response.text()
        assert response.status == 200, response.status
    gets.append((time.perf_counter() - started) * 1000)
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match
    data = {"csrf": match.group(1), "password": "Kumquat-2026x", "password_confirm": "Kumquat-2026x"}
    started = time.perf_counter()
    async with http.post(f"{base}/activate/{token}", data=data) as response:
        assert response.status == 200, response.status
    posts.append((time.perf_counter() - started) * 1000)


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main(count: int) -> None:
    throttle.LIMITS.update({"web.post": 10**9, "web.link": 10**9})
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            DATABASE_URL=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            MADOGUCHI_SECRET_KEY="bench",
            MADOGUCHI_HTTP_PORT="0",
            _env_file=None,
        )
        server = Server(settings, components=[web_pages])
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.http_port}"
            tokens = await _tokens(server, count * 2)
            async with aiohttp.ClientSession() as http:
                for label, concurrency, batch in (
                    ("sequential", 1, tokens[:count]),
                    ("8 clients", 8, tokens[count:]),
                ):
                    gets: list[float] = []
                    posts: list[float] = []
                    queue = list(batch)

                    async def client(
                        queue: list[str] = queue, gets: list[float] = gets, posts: list[float] = posts
                    ) -> None:
                        while queue:
                            await _walk(http, base, queue.pop(), gets, posts)

                    await asyncio.gather(*(client() for _ in range(concurrency)))
                    print(
                        f"{label:>10}: GET form p50 {_p(gets, 50):6.1f} ms p99 {_p(gets, 99):6.1f} ms | "
                        f"POST password p50 {_p(posts, 50):6.1f} ms p99 {_p(posts, 99):6.1f} ms"
                    )
        finally:
            await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100)
    asyncio.run(main(parser.parse_args().accounts))
