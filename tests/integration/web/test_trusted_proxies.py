"""MADOGUCHI_TRUSTED_PROXIES over real HTTP: a forwarded header is believed only from a
trusted peer, and then only its right-most untrusted address (web/clients.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from core import throttle
from core.clock import FrozenClock
from core.config import Settings
from core.models import ThrottleFailure
from core.unit_of_work import Core
from madoguchi.serve import Server, web_pages
from tests.integration.web.conftest import PUBLIC_URL, Site


async def _site(settings: Settings, clock: FrozenClock, proxies: tuple[str, ...]) -> Site:
    settings = settings.model_copy(
        update={"http_port": 0, "public_url": PUBLIC_URL, "trusted_proxies": proxies}
    )
    server = Server(settings, components=[web_pages], migrate=False, clock=clock)
    await server.start()
    return Site(server, server.core)


@pytest.fixture
async def behind_proxy(settings: Settings, clock: FrozenClock, domain: Core) -> AsyncIterator[Site]:
    """The tests' client (127.0.0.1) is a trusted proxy, as are 10.0.0.0/8 addresses."""
    site = await _site(settings, clock, ("127.0.0.1", "10.0.0.0/8"))
    try:
        yield site
    finally:
        await site.server.stop()


async def _status(site: Site, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{site.base}/activate/bogus", headers=headers) as r:
        return r.status


async def _actors(site: Site) -> set[str]:
    async with site.core.uow() as uow:
        return set((await uow.session.scalars(select(ThrottleFailure.actor))).all())


async def test_the_address_a_trusted_proxy_forwards_is_the_visitor(behind_proxy: Site) -> None:
    for _ in range(throttle.MAX_FAILURES):
        assert await _status(behind_proxy, {"X-Forwarded-For": "203.0.113.5"}) == 404
    assert await _status(behind_proxy, {"X-Forwarded-For": "203.0.113.5"}) == 429
    # Another visitor behind the same proxy is not locked out with the first.
    assert await _status(behind_proxy, {"X-Forwarded-For": "203.0.113.6"}) == 404
    assert await _actors(behind_proxy) == {"203.0.113.5", "203.0.113.6"}


async def test_only_the_right_most_untrusted_address_is_believed(behind_proxy: Site) -> None:
    # The client wrote "198.51.100.1"; our proxies appended 203.0.113.5 and 10.1.2.3.
    for n in range(throttle.MAX_FAILURES):
        forged = f"198.51.100.{n}, 203.0.113.5, 10.1.2.3"
        assert await _status(behind_proxy, {"X-Forwarded-For": forged}) == 404
    assert await _status(behind_proxy, {"X-Forwarded-For": "198.51.100.99, 203.0.113.5"}) == 429
    assert await _actors(behind_proxy) == {"203.0.113.5"}


async def test_the_forwarded_header_is_read_when_there_is_no_x_forwarded_for(behind_proxy: Site) -> None:
    assert await _status(behind_proxy, {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'}) == 404
    assert await _status(behind_proxy, {"Forwarded": "for=192.0.2.60, for=10.9.9.9"}) == 404
    assert await _actors(behind_proxy) == {"2001:db8::7", "192.0.2.60"}


async def test_garbage_in_the_chain_stops_at_the_proxy(behind_proxy: Site) -> None:
    assert await _status(behind_proxy, {"X-Forwarded-For": "unknown"}) == 404
    assert await _actors(behind_proxy) == {"127.0.0.1"}


async def test_without_trusted_proxies_no_forwarded_header_is_believed(site: Site) -> None:
    for n in range(throttle.MAX_FAILURES):
        headers = {"X-Forwarded-For": f"203.0.113.{n}", "Forwarded": f"for=198.51.100.{n}"}
        assert await _status(site, headers) == 404
    assert await _status(site, {"X-Forwarded-For": "203.0.113.200"}) == 429
    assert await _actors(site) == {"127.0.0.1"}


async def test_a_peer_outside_the_trusted_proxies_is_the_visitor(
    settings: Settings, clock: FrozenClock, domain: Core
) -> None:
    site = await _site(settings, clock, ("10.0.0.0/8",))
    try:
        assert await _status(site, {"X-Forwarded-For": "203.0.113.5"}) == 404
        assert await _actors(site) == {"127.0.0.1"}
    finally:
        await site.server.stop()


def test_a_typo_in_the_trusted_proxies_stops_start_up(settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"MADOGUCHI_TRUSTED_PROXIES: '10\.0\.0\.0/33'"):
        Server(settings.model_copy(update={"trusted_proxies": ("10.0.0.0/33",)}), components=[])
