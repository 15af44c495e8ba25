"""Fixtures for the web pages: the serve HTTP app in-process on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from core import accounts
from core.actors import Actor
from core.clock import FrozenClock
from core.config import Settings
from core.models import OutboxMessage
from core.unit_of_work import Core
from madoguchi.serve import Server, web_pages
from tests import factories

PUBLIC_URL = "https://support.example.test"


@dataclass
class Site:
    server: Server
    core: Core

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.http_port}"

    async def register(self, email: str = "taro.yamada@customer-a.example.jp", locale: str = "ja") -> str:
        """A pending account; returns the raw token of its activation link."""
        async with self.core.uow() as uow:
            company = await factories.company(uow)
            await accounts.create_account(
                uow,
                Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1")),
                factories.details(email),
                company.id,
                locale,
            )
            await uow.commit()
            row = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()))).first()
            assert row is not None
            link = str(uow.sealer.open(row.sealed)["link"])
        assert link.startswith(self.core.settings.public_url + "/")
        return link.rsplit("/", 1)[1]


@pytest.fixture
async def site(settings: Settings, clock: FrozenClock, domain: Core) -> AsyncIterator[Site]:
    settings = settings.model_copy(update={"http_port": 0, "public_url": PUBLIC_URL})
    server = Server(settings, components=[web_pages], migrate=False, clock=clock)
    await server.start()
    try:
        yield Site(server, server.core)
    finally:
        await server.stop()
