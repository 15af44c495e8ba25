"""The schema comes from the migrations and works on both databases."""

from __future__ import annotations

from sqlalchemy import func, select

from core import audit
from core.actors import Actor
from core.models import AuditRecord
from core.unit_of_work import Core


async def test_audit_record_written_in_a_unit_of_work_is_readable_after_commit(domain: Core) -> None:
    actor = Actor(kind="staff", ref="slack:T1:UADMIN", door="slack")
    async with domain.uow() as uow:
        audit.record(uow, actor, "account.disable", account_id=42, reason="test")
        await uow.commit()
    async with domain.uow() as uow:
        rows = await audit.history(uow, account_id=42)
    assert [(r.action, r.door, r.actor_id, r.details) for r in rows] == [
        ("account.disable", "slack", "slack:T1:UADMIN", {"reason": "test"})
    ]


async def test_leaving_a_unit_of_work_without_commit_rolls_back(domain: Core) -> None:
    actor = Actor(kind="system", ref="cli", door="cli")
    async with domain.uow() as uow:
        audit.record(uow, actor, "nothing")
    async with domain.uow() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(AuditRecord))
    assert count == 0
