"""Finding a customer's company (SPEC §4.2 step 2, and staff find).

The name is required and matched partially, width-, case- and kana-insensitively; an
optional area (prefecture and/or city, e.g. ``東京都品川区`` or ``品川``) narrows by the
HQ address. Both sides are compared in ``core.normalize.fold`` form: the import stores
``Company.name_norm`` / ``address_norm`` folded the same way.

The query lives in ``search`` alone so an index (FTS5 / pg_trgm) can be put behind it
without touching its callers.
"""

from __future__ import annotations

from sqlalchemy import case, func, select

from core.models import Company
from core.normalize import fold
from core.unit_of_work import UnitOfWork

DEFAULT_LIMIT = 20


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(uow: UnitOfWork, name: str, area: str = "", limit: int = DEFAULT_LIMIT) -> list[Company]:
    """Companies whose name contains ``name`` (and whose HQ address contains every word
    of ``area``), the exact name first, then names starting with it, then shortest; empty name → nothing."""
    folded = fold(name)
    if not folded:
        return []
    query = select(Company).where(Company.name_norm.like(_like_pattern(folded), escape="\\"))
    for word in fold(area).split():
        query = query.where(Company.address_norm.like(_like_pattern(word), escape="\\"))
    rank = case(
        (Company.name_norm == folded, 0),
        (Company.name_norm.like(_like_pattern(folded)[1:], escape="\\"), 1),
        else_=2,
    )
    query = query.order_by(rank, func.length(Company.name_norm), Company.name_norm, Company.id).limit(limit)
    return list((await uow.session.scalars(query)).all())
