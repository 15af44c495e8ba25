"""A small world for inquiry tests: one company with a support ID holding an in-force
contract (製品Aファミリ) and an ended one (製品Cファミリ), its contacts, a CC address,
an outsider of another company and a pending account.

Written with ``tests.factories`` so these tests do not depend on the registration
conversation to have accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from core.actors import Actor
from core.inquiries.tables import Inquiry, InquiryMessage
from core.models import (
    Account,
    AuditRecord,
    OutboxMessage,
    SupportId,
    SupportIdCc,
    SupportIdContact,
    SupportKey,
)
from core.support_ids.names import name_key
from core.unit_of_work import Core
from tests import factories

STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")
STAFF2 = Actor(kind="staff", ref="slack:T1:USTAFF2", door="slack")


def actor_of(account: Account, door: str = "slack") -> Actor:
    return Actor(kind="account", ref=f"slack:T1:U{account.id}", door=door, account_id=account.id)  # type: ignore[arg-type]


@dataclass
class World:
    alice: Account  # asker, contact of ACME_A
    bob: Account  # Alice's colleague, contact of ACME_A (reads English)
    carol: Account  # another company, contact of nothing of ACME_A
    dave: Account  # pending (password never set), contact of ACME_A

    @property
    def a(self) -> Actor:
        return actor_of(self.alice)

    @property
    def b(self) -> Actor:
        return actor_of(self.bob)

    @property
    def c(self) -> Actor:
        return actor_of(self.carol)

    @property
    def d(self) -> Actor:
        return actor_of(self.dave)


async def add_support_id(core: Core, name: str, contracts: list[object], contacts: list[Account]) -> int:
    async with core.uow() as uow:
        sid = SupportId(name=name, name_key=name_key(name), description="", created_at=uow.clock.now())
        uow.session.add(sid)
        await uow.session.flush()
        for contract in contracts:
            await factories.key(uow, contract)  # type: ignore[arg-type]
            await uow.session.flush()
        await uow.session.execute(
            SupportKey.__table__.update()
            .where(SupportKey.contract_id.in_([c.id for c in contracts]))  # type: ignore[attr-defined]
            .values(support_id_id=sid.id)
        )
        for account in contacts:
            uow.session.add(
                SupportIdContact(support_id_id=sid.id, account_id=account.id, added_at=uow.clock.now())
            )
        await uow.commit()
        return sid.id


@pytest.fixture
async def world(domain: Core) -> World:
    async with domain.uow() as uow:
        company_a = await factories.company(uow, "顧客A")
        company_q = await factories.company(uow, "顧客Q")
        w = World(
            alice=await factories.account(uow, company_a, "alice@customer-a.example.jp"),
            bob=await factories.account(uow, company_a, "bob@customer-a.example.jp", locale="en"),
            carol=await factories.account(uow, company_q, "carol@customer-q.example.jp"),
            dave=await factories.account(uow, company_a, "dave@customer-a.example.jp", status="pending"),
        )
        in_force = await factories.contract(uow, company_a, number="K-0001", ends_on=date(2027, 3, 31))
        ended = await factories.contract(
            uow, company_a, number="K-0002", ends_on=date(2025, 3, 31), product_family="製品Cファミリ"
        )
        other = await factories.contract(uow, company_q, number="K-0009", product_family="製品Bファミリ")
        await uow.commit()
    sid = await add_support_id(domain, "ACME_A", [in_force, ended], [w.alice, w.bob, w.dave])
    await add_support_id(domain, "QUUX_Q", [other], [w.carol])
    async with domain.uow() as uow:
        uow.session.add(SupportIdCc(support_id_id=sid, email="cc@customer-a.example.jp"))
        await uow.commit()
    return w


async def count(core: Core, table: type) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table)) or 0)


async def counts(core: Core) -> tuple[int, int, int]:
    """Inquiries, messages and outbox rows: what a refusal must leave untouched."""
    return (await count(core, Inquiry), await count(core, InquiryMessage), await count(core, OutboxMessage))


async def outbox(core: Core, template: str | None = None) -> list[OutboxMessage]:
    async with core.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if template is not None:
            query = query.where(OutboxMessage.template == template)
        return list((await uow.session.scalars(query)).all())


async def inquiry(core: Core, number: int) -> Inquiry:
    async with core.uow() as uow:
        found = await uow.session.get(Inquiry, number)
        assert found is not None
        return found


async def actions(core: Core) -> list[str]:
    async with core.uow() as uow:
        found = await uow.session.scalars(
            select(AuditRecord.action).where(AuditRecord.action.like("inquiry.%")).order_by(AuditRecord.id)
        )
        return list(found.all())


def at(text: str) -> datetime:
    """A JST wall-clock time, ``2026-12-01 09:00``."""
    from core.clock import JST

    return datetime.fromisoformat(text).replace(tzinfo=JST)
