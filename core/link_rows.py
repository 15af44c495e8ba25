"""The row behind a mailed single-use link (sign-in links, email-change confirmations):
found by the keyed hash of its token, refused with the password pages' own reasons —
unknown, used, expired — in one place, so every such link answers alike."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from core.clock import aware
from core.errors import NotFound
from core.unit_of_work import UnitOfWork

Row = TypeVar("Row")


async def usable_row(uow: UnitOfWork, model: type[Row], token: str, purpose: str) -> Row:
    """``model``'s row for ``token`` if it may still be used; else ``NotFound`` with the
    reason (``accounts.link_unknown`` / ``_used`` / ``_expired``)."""
    if not token or len(token) > 128:
        raise NotFound("accounts.link_unknown")
    token_hash = getattr(model, "token_hash")  # noqa: B009 — every link table has one
    row: Row | None = await uow.session.scalar(
        select(model)
        .where(token_hash == uow.hasher.digest(token, purpose=purpose))
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("accounts.link_unknown")
    if getattr(row, "used_at") is not None:  # noqa: B009
        raise NotFound("accounts.link_used")
    if aware(getattr(row, "expires_at")) <= uow.clock.now():  # noqa: B009
        raise NotFound("accounts.link_expired")
    return row
