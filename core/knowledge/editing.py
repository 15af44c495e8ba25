"""Staff writing articles (SPEC §4.9): new, edit, withdraw — every change audited.

Separate from the search because these are the only writes outside the import, and
they share its rules (``core.knowledge.fields``) and its indexed form
(``core.knowledge.grams``): an article written here is found exactly like an imported
one. Only staff write (``core.staff.require_staff``); the door admits them first.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import audit
from core.actors import Actor
from core.clock import JST
from core.errors import Conflict, NotFound, ValidationFailed
from core.knowledge import grams
from core.knowledge.fields import ArticleFields, canonical_code, check
from core.knowledge.tables import Article
from core.knowledge.text import plain_text
from core.staff import require_staff
from core.unit_of_work import UnitOfWork


def _fields(uow: UnitOfWork, values: dict[str, Any]) -> ArticleFields:
    found = check(values, today=uow.clock.now().astimezone(JST).date())
    if isinstance(found, tuple):
        name, reason, params = found
        raise ValidationFailed({name: reason}, **params)
    return found


def _apply(row: Article, fields: ArticleFields, uow: UnitOfWork) -> None:
    row.title = fields.title
    row.body = fields.body
    row.product_family = fields.product_family
    row.visibility = fields.visibility
    row.tags = list(fields.tags)
    row.updated_on = fields.updated_on
    row.withdrawn = fields.withdrawn
    row.title_grams = grams.grams(fields.title)
    row.body_grams = grams.grams(fields.body)
    row.body_text = plain_text(fields.body)
    row.changed_at = uow.clock.now()


def _summary(fields: ArticleFields) -> dict[str, Any]:
    """What the audit keeps of a change: everything but the body's text (its length)."""
    values = asdict(fields)
    values["updated_on"] = fields.updated_on.isoformat()
    values["body"] = len(fields.body)
    return values


async def _article(uow: UnitOfWork, code: str, *, lock: bool = False) -> Article:
    query = select(Article).where(Article.code == canonical_code(code))
    if lock:
        query = query.with_for_update()
    found = (await uow.session.scalars(query)).first()
    if found is None:
        raise NotFound("kb.not_found", code=code.strip())
    return found


async def load(uow: UnitOfWork, actor: Actor, code: str) -> ArticleFields:
    """An article as staff edit it (withdrawn ones included), for the edit modal."""
    require_staff(actor)
    row = await _article(uow, code)
    return ArticleFields(
        row.code,
        row.title,
        row.body,
        row.product_family,
        row.visibility,
        [str(t) for t in row.tags],
        row.updated_on,
        row.withdrawn,
    )


async def create(uow: UnitOfWork, actor: Actor, values: dict[str, Any]) -> str:
    """A new article; ``Conflict`` when the code is taken. Returns its code."""
    require_staff(actor)
    fields = _fields(uow, values)
    row = Article(code=fields.code)
    _apply(row, fields, uow)
    uow.session.add(row)
    audit.record(uow, actor, "article.created", **_summary(fields))
    try:
        await uow.commit()
    except IntegrityError as exc:
        raise Conflict("kb.code_taken", code=fields.code) from exc
    return fields.code


async def edit(uow: UnitOfWork, actor: Actor, code: str, values: dict[str, Any]) -> str:
    """Rewrite an article (its code stays). Returns its code."""
    require_staff(actor)
    row = await _article(uow, code, lock=True)
    fields = _fields(uow, {**values, "code": row.code})
    _apply(row, fields, uow)
    audit.record(uow, actor, "article.edited", **_summary(fields))
    await uow.commit()
    return row.code


async def withdraw(uow: UnitOfWork, actor: Actor, code: str) -> bool:
    """Hide an article from every reader (it stays, for the audit and for staff).
    Returns False when it was withdrawn already (nothing changed, nothing audited)."""
    require_staff(actor)
    row = await _article(uow, code, lock=True)
    if row.withdrawn:
        return False
    row.withdrawn = True
    row.changed_at = uow.clock.now()
    audit.record(uow, actor, "article.withdrawn", code=row.code)
    await uow.commit()
    return True
