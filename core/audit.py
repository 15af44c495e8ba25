"""The audit trail (SPEC §8): every change says who, through which door, what, when.

``record`` adds a row to the caller's unit of work, so the trail commits or rolls back
together with the change it describes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from core.actors import Actor
from core.models import AuditRecord
from core.unit_of_work import UnitOfWork


def values(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    *,
    account_id: int | None = None,
    support_id_id: int | None = None,
    **details: Any,
) -> dict[str, Any]:
    """The column values of one audit row: for ``record`` and for callers that insert
    many rows in one statement (the contact window's batch processing)."""
    return {
        "at": uow.clock.now(),
        "actor_kind": actor.kind,
        "actor_id": actor.ref if actor.account_id is None else f"account:{actor.account_id}",
        "door": actor.door,
        "action": action,
        "account_id": account_id if account_id is not None else actor.account_id,
        "support_id_id": support_id_id,
        "details": details,
    }


def record(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    *,
    account_id: int | None = None,
    support_id_id: int | None = None,
    **details: Any,
) -> AuditRecord:
    row = AuditRecord(
        **values(uow, actor, action, account_id=account_id, support_id_id=support_id_id, **details)
    )
    uow.session.add(row)
    return row


async def history(
    uow: UnitOfWork, *, account_id: int | None = None, support_id_id: int | None = None, limit: int = 100
) -> list[AuditRecord]:
    """Newest first; for staff reading what happened to an account or a support ID."""
    query = select(AuditRecord).order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(limit)
    conditions = []
    if account_id is not None:
        conditions.append(AuditRecord.account_id == account_id)
    if support_id_id is not None:
        conditions.append(AuditRecord.support_id_id == support_id_id)
    if conditions:
        query = query.where(or_(*conditions))
    return list((await uow.session.scalars(query)).all())
