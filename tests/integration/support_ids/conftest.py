"""A small world for support-ID tests: two companies, contracts with keys, accounts.

Everything is written with ``tests.factories`` so these tests do not depend on the
registration conversation to have accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from core.actors import Actor
from core.models import Account, AuditRecord, OutboxMessage
from core.unit_of_work import Core
from tests import factories

STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")


def actor_of(account: Account, door: str = "slack") -> Actor:
    return Actor(kind="account", ref=f"slack:T1:U{account.id}", door=door, account_id=account.id)  # type: ignore[arg-type]


@dataclass
class World:
    alice: Account  # 顧客A
    bob: Account  # 顧客A, Alice's colleague
    carol: Account  # 顧客Q, another company
    keys: dict[str, str] = field(default_factory=dict)
    contracts: dict[str, Any] = field(default_factory=dict)

    @property
    def a(self) -> Actor:
        return actor_of(self.alice)

    @property
    def b(self) -> Actor:
        return actor_of(self.bob)

    @property
    def c(self) -> Actor:
        return actor_of(self.carol)


@pytest.fixture
async def world(domain: Core) -> World:
    from datetime import date

    async with domain.uow() as uow:
        company_a = await factories.company(uow, "顧客A")
        company_q = await factories.company(uow, "顧客Q")
        k1 = await factories.contract(uow, company_a, number="K-0001", ends_on=date(2026, 12, 31))
        k2 = await factories.contract(
            uow, company_a, number="K-0002", ends_on=date(2027, 3, 31), product_family="製品Bファミリ"
        )
        kq = await factories.contract(uow, company_q, number="K-0009")
        kt = await factories.contract(uow, company_a, number="K-0100", requires_terms=True)
        w = World(
            alice=await factories.account(uow, company_a, "alice@customer-a.example.jp"),
            bob=await factories.account(uow, company_a, "bob@customer-a.example.jp", locale="en"),
            carol=await factories.account(uow, company_q, "carol@customer-q.example.jp"),
        )
        w.contracts = {"k1": k1, "k2": k2, "kq": kq, "kt": kt}
        w.keys = {
            "k1a": await factories.key(uow, k1, "SK-7Q2M-4TXA-9KPL"),
            "k1b": await factories.key(uow, k1, "SK-AAAA-BBBB-1111"),
            "k2a": await factories.key(uow, k2, "SK-CCCC-DDDD-2222"),
            "kqa": await factories.key(uow, kq, "SK-QQQQ-QQQQ-3333"),
            "kta": await factories.key(uow, kt, "SK-TTTT-TTTT-4444"),
            "kq2": await factories.key(uow, kq, "SK-QQQQ-QQQQ-5555"),
        }
        await uow.commit()
    return w


async def outbox_rows(domain: Core, template: str | None = None) -> list[OutboxMessage]:
    async with domain.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if template is not None:
            query = query.where(OutboxMessage.template == template)
        return list((await uow.session.scalars(query)).all())


async def audit_actions(domain: Core) -> list[str]:
    async with domain.uow() as uow:
        return list((await uow.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id))).all())
