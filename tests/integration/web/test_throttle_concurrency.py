"""Concurrent bad links from one visitor over real HTTP: exactly the limit is evaluated
(core.throttle counts, evaluates and records an attempt in one transaction under the
visitor's lock), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
from sqlalchemy import func, select

from core import throttle
from core.models import ThrottleFailure
from tests.integration.web.conftest import Site

ATTEMPTS = 40


async def test_concurrent_bad_links_of_one_visitor_get_exactly_five_answers(site: Site) -> None:
    connector = aiohttp.TCPConnector(limit=ATTEMPTS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def attempt(n: int) -> int:
            async with http.get(f"{site.base}/activate/bogus-{n}") as response:
                await response.read()
                return response.status

        statuses = Counter(await asyncio.gather(*(attempt(n) for n in range(ATTEMPTS))))
    assert statuses == {404: throttle.MAX_FAILURES, 429: ATTEMPTS - throttle.MAX_FAILURES}
    async with site.core.uow() as uow:
        counted = await uow.session.scalar(select(func.count()).select_from(ThrottleFailure))
    assert counted == throttle.MAX_FAILURES


async def test_concurrent_password_posts_of_one_visitor_are_capped_at_ten(site: Site) -> None:
    token = await site.register()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=ATTEMPTS)) as http:

        async def attempt() -> int:
            data = {"csrf": "forged", "password": "x", "password_confirm": "x"}
            async with http.post(f"{site.base}/activate/{token}", data=data) as response:
                await response.read()
                return response.status

        statuses = Counter(await asyncio.gather(*(attempt() for _ in range(ATTEMPTS))))
    # Forged forms: 403 while the visitor may submit; then 429 (or 503 when the door's
    # cap on submissions in flight answered first, which counts nothing).
    assert statuses[403] == throttle.MAX_FAILURES
    assert statuses[403] + statuses[429] + statuses[503] == ATTEMPTS
    async with site.core.uow() as uow:
        posts = await uow.session.scalar(
            select(func.count()).where(ThrottleFailure.scope == throttle.POST_SCOPE)
        )
    assert posts == throttle.MAX_FAILURES  # refused submissions are not counted again
