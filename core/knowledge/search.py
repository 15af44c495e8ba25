"""Finding articles (SPEC §4.9): the words' search, the newest for a reader's products,
one article by code, and the ask modal's suggestions.

Every answer here is one ``Query`` built once whose visibility is part of the statement
(``core.knowledge.matching``), and all of them only read (``@reads``: a door answers
them from a snapshot). The order of a search is the SPEC's: articles whose title holds
every word first, then the rest; newer first within each. The ranking runs inside the
database on the matching rows' ids and dates only, and the ten winners' bodies are
fetched after the ``LIMIT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Integer, bindparam, case, exists, literal_column, or_, select

from core.actors import Actor
from core.errors import NotFound
from core.knowledge import grams
from core.knowledge.matching import (
    Audience,
    audience,
    families_of_reader,
    families_of_reader_select,
    matches,
    visible,
)
from core.knowledge.tables import Article
from core.knowledge.text import Snippet, plain_text, snippet
from core.snapshots import Query, Reader, reads

LIMIT = 10
SUGGESTIONS = 3

_title_first = case((matches("title_match"), literal_column("0")), else_=literal_column("1")).label("rank")
_RANKED = (
    select(Article.id, _title_first, Article.updated_on)
    .where(matches("match"), visible())
    .order_by(_title_first, Article.updated_on.desc(), Article.id.desc())
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=Integer))
    .subquery("ranked")
)
_COLUMNS = (
    Article.code,
    Article.title,
    Article.body,
    Article.product_family,
    Article.visibility,
    Article.updated_on,
    Article.tags,
)
_SEARCH = Query(
    select(*_COLUMNS, _RANKED.c.rank)
    .join(_RANKED, _RANKED.c.id == Article.id)
    .order_by(_RANKED.c.rank, _RANKED.c.updated_on.desc(), Article.id.desc())
)
# "The newest for their products": articles of a family in force for the reader, or
# tied to no product; a reader with no family in force gets the newest of all they may
# see. The updated_on index is walked backwards until ``limit`` rows pass.
_NEWEST = Query(
    select(*_COLUMNS, literal_column("1", Integer))
    .where(
        visible(),
        or_(
            Article.product_family.is_(None),
            Article.product_family.in_(families_of_reader()),
            ~exists(families_of_reader_select()),
        ),
    )
    .order_by(Article.updated_on.desc(), Article.id.desc())
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=Integer))
)
_BY_CODE = Query(
    select(*_COLUMNS, literal_column("1", Integer)).where(Article.code == bindparam("code"), visible())
)


@dataclass(frozen=True)
class Hit:
    """One article in a list of results; ``snippet`` is plain text around the match."""

    code: str
    title: str
    product_family: str | None
    visibility: str
    updated_on: date
    in_title: bool
    snippet: Snippet


@dataclass(frozen=True)
class ArticleView:
    """One article in full, as a reader who may see it sees it."""

    code: str
    title: str
    body: str
    product_family: str | None
    visibility: str
    updated_on: date
    tags: list[str]

    @property
    def plain_body(self) -> str:
        return plain_text(self.body)


def _hit(row: tuple[object, ...], found: list[str]) -> Hit:
    code, title, body, family, visibility, updated_on, _tags, rank = row
    return Hit(
        code=str(code),
        title=str(title),
        product_family=family if isinstance(family, str) else None,
        visibility=str(visibility),
        updated_on=updated_on,  # type: ignore[arg-type]
        in_title=rank == 0,
        snippet=snippet(plain_text(str(body)), found),
    )


def _params(who: Audience, limit: int) -> dict[str, object]:
    return {**who.params(), "limit": limit, "offset": 0}


def match_params(words: list[str]) -> dict[str, str]:
    """The search in both query languages, for all columns and for the title alone
    (``matching.matches``); each database's statement reads its own two."""
    return {
        "match_fts5": grams.fts5_query(words),
        "match_ts": grams.tsquery(words),
        "title_match_fts5": grams.fts5_query(words, "title_grams"),
        "title_match_ts": grams.tsquery(words, "A"),
    }


@reads
async def search(source: Reader, actor: Actor, text: str, limit: int = LIMIT) -> list[Hit]:
    """The best ``limit`` articles ``actor`` may see holding every word of ``text``; no
    word (only punctuation, or empty) → nothing."""
    found = grams.words(text)
    if not found:
        return []
    who = await audience(source, actor)
    rows = await source.rows(_SEARCH, **match_params(found), **_params(who, limit))
    return [_hit(row, found) for row in rows]


@reads
async def newest(source: Reader, actor: Actor, limit: int = LIMIT) -> list[Hit]:
    """``/support kb`` alone: the newest articles for the reader's products (of a
    contract in force), or the newest they may see when they have none."""
    who = await audience(source, actor)
    rows = await source.rows(_NEWEST, **_params(who, limit))
    return [_hit(row, []) for row in rows]


@reads
async def show(source: Reader, actor: Actor, code: str) -> ArticleView:
    """One article by code; ``NotFound`` alike for an unknown code and for an article
    the reader may not see (codes cannot be probed)."""
    who = await audience(source, actor)
    row = await source.first(_BY_CODE, code=code.strip().upper(), **_params(who, 1))
    if row is None:
        raise NotFound("kb.not_found", code=code.strip())
    code_, title, body, family, visibility, updated_on, tags, _ = row
    return ArticleView(
        code=str(code_),
        title=str(title),
        body=str(body),
        product_family=family if isinstance(family, str) else None,
        visibility=str(visibility),
        updated_on=updated_on,
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
    )


@reads
async def suggest(source: Reader, actor: Actor, subject: str, limit: int = SUGGESTIONS) -> list[Hit]:
    """What the ask modal offers from the subject typed so far (up to ``limit``): the
    search's answer; a subject without a word suggests nothing."""
    return await search(source, actor, subject, limit)
