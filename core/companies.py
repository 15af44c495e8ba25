"""Finding a customer's company (SPEC §4.2 step 2, and staff find).

The name is required and matched partially, width-, case- and kana-insensitively; an
optional area (prefecture and/or city, e.g. ``東京都品川区`` or ``品川``) narrows by the
HQ address. Both sides are compared in ``core.normalize.fold`` form: the import stores
``Company.name_norm`` / ``address_norm`` folded the same way.

The query lives in ``search`` alone so the index behind it is a storage detail
(migration 0007): on PostgreSQL the ``LIKE`` conditions themselves use pg_trgm GIN
indexes; on SQLite the FTS5 trigram table ``companies_fts`` first narrows the rows to
those containing every term of three characters or more, and the ``LIKE`` conditions
then decide exactly as before. A search whose every term is shorter than three
characters has no trigram to look up and scans (both databases).
"""

from __future__ import annotations

from sqlalchemy import case, column, func, select, table, text

from core.models import Company
from core.normalize import fold
from core.unit_of_work import UnitOfWork

DEFAULT_LIMIT = 20


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


TRIGRAM = 3


def _fts_match(terms: list[tuple[str, str]]) -> str:
    """An FTS5 query: each term a quoted phrase on its column, which the trigram
    tokenizer answers as "contains this substring". Terms under three characters
    cannot be looked up and are left to the LIKE conditions."""
    phrases = [
        f'{name} : "{term.replace(chr(34), chr(34) * 2)}"' for name, term in terms if len(term) >= TRIGRAM
    ]
    return " AND ".join(phrases)


async def search(uow: UnitOfWork, name: str, area: str = "", limit: int = DEFAULT_LIMIT) -> list[Company]:
    """Companies whose name contains ``name`` (and whose HQ address contains every word
    of ``area``), the exact name first, then names starting with it, then shortest; empty name → nothing."""
    folded = fold(name)
    if not folded:
        return []
    words = fold(area).split()
    query = select(Company).where(Company.name_norm.like(_like_pattern(folded), escape="\\"))
    for word in words:
        query = query.where(Company.address_norm.like(_like_pattern(word), escape="\\"))
    if uow.session.get_bind().dialect.name == "sqlite":
        match = _fts_match([("name_norm", folded), *(("address_norm", w) for w in words)])
        if match:
            query = query.where(
                Company.id.in_(
                    select(column("rowid"))
                    .select_from(table("companies_fts"))
                    .where(text("companies_fts MATCH :fts_match").bindparams(fts_match=match))
                )
            )
    rank = case(
        (Company.name_norm == folded, 0),
        (Company.name_norm.like(_like_pattern(folded)[1:], escape="\\"), 1),
        else_=2,
    )
    query = query.order_by(rank, func.length(Company.name_norm), Company.name_norm, Company.id).limit(limit)
    return list((await uow.session.scalars(query)).all())
