"""The schema comes from the migrations and works on both databases."""

from __future__ import annotations

from sqlalchemy import func, insert, select

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


async def test_a_unit_whose_statements_commit_as_they_run_keeps_them_without_commit(domain: Core) -> None:
    """``each_statement_commits``: on PostgreSQL each statement commits as it runs (the
    mail door's one-statement group commit, without BEGIN and COMMIT round trips), so
    leaving without ``commit()`` keeps it; SQLite keeps its transaction, and rolls back."""
    actor = Actor(kind="system", ref="cli", door="cli")
    async with domain.uow() as uow:
        await uow.each_statement_commits()
        await uow.session.execute(insert(AuditRecord), [audit.values(uow, actor, "autocommitted")])
    async with domain.uow() as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "autocommitted")
        )
    assert count == (1 if domain.settings.database_url.startswith("postgresql") else 0)
    # The connection went back to the pool in its usual mode: the next unit is a transaction.
    async with domain.uow() as uow:
        audit.record(uow, actor, "rolled back")
    async with domain.uow() as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "rolled back")
        )
    assert count == 0
