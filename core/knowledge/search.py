"""Finding articles (SPEC §4.9): the words' search, the newest for a reader's products,
one article by code, and the ask modal's suggestions.

Every answer here is one ``Query`` built once whose visibility is part of the statement
(``core.knowledge.matching``), and all of them only read (``@reads``: a door answers
them from a snapshot). The order of a search is the SPEC's: articles whose title holds
every word first, then the rest; newer first within each. It is computed as two groups
(title; elsewhere), each read newest first and cut at the limit, so a search costs
about the same for a word in ten articles and a word in ten thousand: on SQLite the
index itself is ordered newest first (the FTS rowid, migrations 0011 and 0021), each
group a statement of its own and the second sent only when the titles do not fill the
page; on PostgreSQL the GIN index is asked for the matches of the newest months first,
then of the years before them (migrations 0017 and 0019: month and year lexemes), both
groups in one statement. The search is the one answer that differs by database (FTS5
MATCH vs ``tsvector @@``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    Date,
    Float,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ColumnElement, Select

from core.actors import Actor
from core.errors import NotFound
from core.knowledge import grams
from core.knowledge.matching import (
    Audience,
    audience,
    families_cte,
    families_of_reader,
    families_of_reader_select,
    visible,
)
from core.knowledge.tables import Article
from core.knowledge.text import Snippet, plain_text, snippet
from core.snapshots import Query, Reader, Row, reads

LIMIT = 10
SUGGESTIONS = 3

_COLUMNS = (
    Article.code,
    Article.title,
    Article.body,
    Article.product_family,
    Article.visibility,
    Article.updated_on,
    Article.tags,
)
# A hit's columns: the body's stored plain text for its snippet (migration 0017; no
# Markdown rendered per hit), not the Markdown, nor the tags (a hit shows none).
_HIT_COLUMNS = (
    Article.code,
    Article.title,
    Article.body_text,
    Article.product_family,
    Article.visibility,
    Article.updated_on,
)
# SQLite: the FTS rowid is the article's search key negated (migrations 0011, 0021): its
# updated_on day times 2**32 plus its id, so the match is walked newest first in
# ascending rowid order — FTS5's forward walk, 1.3–3.7× cheaper than its backward one —
# and stops at the limit.
_ID_MASK: ColumnElement[int] = literal_column("4294967296")


def _fts5_group(rank: int, fts: str, words: int = 0) -> Query:
    """One group of results on SQLite, a statement of its own: newest first, straight
    from the index's order, cut at ``:limit``. The title group reads the titles' own
    index (migration 0017): a column filter on ``articles_fts`` read the words' whole
    doclists, bodies included. The other group (``words``: how many) reads the articles
    holding every word and leaves out those whose title holds every word by ``LIKE`` on
    the row's title bigrams (``grams.like_pattern``), which it reads anyway: the FTS5
    ``NOT title_grams : (…)`` it replaces decoded the words' doclists a second time
    (0.05–0.12 ms of 0.1–0.3 at 100,000 articles)."""
    key: ColumnElement[int] = literal_column(f"{fts}.rowid")
    conditions = [visible()]
    if words:
        conditions.append(~and_(*(_word_in(Article.title_grams, n) for n in range(words))))
    return Query(
        select(*_HIT_COLUMNS, literal_column(str(rank), Integer))
        .select_from(table(fts))
        .join(Article, Article.id == -key % _ID_MASK)
        .where(text(f"{fts} MATCH :words").bindparams(bindparam("words", type_=String)), *conditions)
        .order_by(key)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


def _word_in(column: InstrumentedAttribute[str], n: int) -> ColumnElement[bool]:
    return column.like(bindparam(f"w{n}", type_=String))


# PostgreSQL. The GIN index answers which articles hold a word's bigrams, in no useful
# order, and the planner cannot estimate the ``LIKE`` of a long word, so it read and
# sorted every match (~3,000 rows, ~25 ms, for インストール in 100,000 articles). Each
# article's tsvectors also hold its month (``#202512``, migration 0017): a group first
# asks GIN for the matches in the newest months — the months of at least ``WINDOW``
# newest articles — in the same index scan, and reads the older matches only when those
# were fewer than the limit (a word too rare to fill ten rows there: few matches anyway).
WINDOW = 2000
# When the newest months hold fewer than the limit, the years of the ``WIDE`` newest
# articles come next (each article's year is a lexeme too, ``#2025``, migration 0019),
# then the rest: two words rare together (ライセンス 更新: 253 matches in 100,000
# articles, 3 in the newest months) read ~40 rows there instead of all 250 older ones
# (each a heap row, ~10 µs). Years, not months: GIN asks for the smallest keys first,
# and 24 months' lexemes (~800 articles each) are each smaller than a rare word's, so it
# read all 20,000 of them (10 ms); a year's are not.
WIDE = 10_000
# The month lexeme of a date column, as migration 0017's generated columns write it.
MONTH_LEXEME = "'#' || (extract(year FROM {day}) * 100 + extract(month FROM {day}))::integer::text"
# The windows: every month from the one of ``:since`` to the newest article's; every
# year from the one of ``:far`` to the one of ``:since`` (None when ``:far`` is), and
# ``far``, where the rest begins (the first day of ``:far``'s year; no ``:far``: the
# newest months' start). Any ``since`` and ``far`` give the same results (each part
# reads every match between its bounds), so they are looked up apart and remembered
# for a while (``_known``): stepping over the 2,000 newest dates in the index cost
# ~0.4 ms per search.
_RECENT = (
    text(
        "SELECT string_agg(quote_literal(" + MONTH_LEXEME.format(day="m") + "), ' | ')::tsquery AS months,"
        " min(m)::date AS since,"
        " (SELECT string_agg(quote_literal('#' || y), ' | ')::tsquery FROM generate_series("
        " extract(year FROM CAST(:far AS date))::integer,"
        " extract(year FROM CAST(:since AS date))::integer) AS y) AS years,"
        " coalesce(make_date(extract(year FROM CAST(:far AS date))::integer, 1, 1), min(m)::date) AS far"
        " FROM generate_series("
        " date_trunc('month', CAST(:since AS date)),"
        " (SELECT max(updated_on) FROM articles), interval '1 month') AS m"
    )
    .bindparams(bindparam("since", type_=Date), bindparam("far", type_=Date))
    .columns(
        literal_column("months"),
        literal_column("since", Date),
        literal_column("years"),
        literal_column("far", Date),
    )
    .cte("recent")
)
# What the search looks up apart and remembers (``_known``): the updated_on of the
# articles just older than the ``WINDOW`` and the ``WIDE`` newest (None: fewer), and the planner's
# statistics of the bigrams' frequencies (``grams.tsquery_lexemes``: a long word asks GIN
# for its rarest bigrams only). None of it changes what a search finds.
_STATISTICS: Select[tuple[Any]] = (
    select(literal_column("1"))
    .select_from(table("pg_stats"))
    .where(
        literal_column("schemaname") == func.current_schema(),
        literal_column("tablename") == literal_column("'articles'"),
        literal_column("attname") == literal_column("'search_doc'"),
    )
)
_KNOWN = Query(
    select(
        *(
            select(Article.updated_on)
            .order_by(Article.updated_on.desc(), Article.id.desc())
            .offset(newest)
            .limit(1)
            .scalar_subquery()
            for newest in (WINDOW, WIDE)
        ),
        _STATISTICS.with_only_columns(
            literal_column("most_common_elems::text::text[]", ARRAY(Text))
        ).scalar_subquery(),
        _STATISTICS.with_only_columns(
            literal_column("most_common_elem_freqs", ARRAY(Float))
        ).scalar_subquery(),
    )
)
# How long what ``_known`` found is used before it is looked up again (seconds); per
# database.
WINDOW_TTL = 60.0


@dataclass(frozen=True)
class _Known:
    since: date | None
    far: date | None
    frequency: dict[str, float]


_KNOWN_BY_DATABASE: dict[str, tuple[float, _Known]] = {}


async def _known(source: Reader) -> _Known:
    """The window's start and the bigrams' frequencies for ``source``'s database, looked
    up at most every ``WINDOW_TTL`` seconds: only how much each part of the search reads
    depends on them, never what it finds (a start made stale by an import meanwhile
    costs reads for at most that long; statistics are as fresh as the last ANALYZE,
    none before it: every bigram is asked for). Stepping over the 2,000 newest dates in
    the index cost ~0.4 ms per search."""
    key = source.settings.database_url
    now = time.monotonic()
    found = _KNOWN_BY_DATABASE.get(key)
    if found is None or now - found[0] > WINDOW_TTL:
        row = await source.first(_KNOWN)
        since, far, lexemes, shares = row if row is not None else (None, None, None, None)
        frequency = dict(zip(lexemes or (), shares or (), strict=False))
        found = _KNOWN_BY_DATABASE[key] = (now, _Known(since, far, frequency))
    return found[1]


_MONTHS = select(_RECENT.c.months).scalar_subquery()
_SINCE = select(_RECENT.c.since).scalar_subquery()
_YEARS = select(_RECENT.c.years).scalar_subquery()
_FAR = select(_RECENT.c.far).scalar_subquery()
_ROWS = bindparam("limit", type_=Integer) + bindparam("offset", type_=Integer)
# The lexemes as written (``'帳票' & '票出'``), cast without a text-search parser: the
# tsvectors are the stored bigram tokens as they are (migration 0019).
_TSQUERY: ColumnElement[Any] = cast(bindparam("lexemes", type_=String), TSQUERY)
_QUERY = select(select(_TSQUERY.label("query")).cte("words").c.query).scalar_subquery()
# The reader's families once for the six parts (their join planned once, not twelve times).
_FAMILIES = families_cte()


def _tsvector_group(rank: int, long_words: tuple[int, ...], windowed: bool) -> tuple[Any, ...]:
    """One group of results on PostgreSQL, as its three parts: the matches of the
    newest months (a CTE), those of the years before them (a CTE, read only when the
    first part is short), and the older ones (read only when both together are short;
    each newest first and cut at the limit; ``_ranked`` orders them). Not ``windowed`` (a
    one-character word: its prefix is many GIN keys, whose union ANDed with the months
    cost 7 ms where the planner's walk of the date index costs 2): one part, as the
    planner likes.

    The GIN index answers an AND of lexemes exactly, without rereading any row: every
    bigram of every word (a long word: its rarest, ``grams.tsquery_lexemes``; a
    one-character word: a prefix), with any of the part's months or years. For a word
    of one or two characters that is the whole answer; for a longer one
    (``long_words``, by position) ``LIKE`` on the bigram strings decides that the word is
    there (``grams.like_pattern``). The title group reads the title's own tsvector
    (migration 0011)."""
    column = "title_doc" if rank == 0 else "search_doc"
    title_like = [_word_in(Article.title_grams, n) for n in long_words]
    if rank == 0:
        conditions = [*title_like, visible(_FAMILIES)]
    else:
        anywhere = (
            or_(_word_in(Article.title_grams, n), _word_in(Article.body_grams, n)) for n in long_words
        )
        conditions = [
            *anywhere,
            ~and_(_lexemes("title_doc", hidden=windowed), *title_like),
            visible(_FAMILIES),
        ]
    order = (Article.updated_on.desc(), Article.id.desc())
    if not windowed:
        return (
            select(literal_column(str(rank)).label("rank"), Article.id, *_HIT_COLUMNS)
            .where(_lexemes(column), *conditions)
            .order_by(*order)
            .limit(_ROWS)
            .subquery(f"matches_{rank}"),
        )
    newest = (
        select(literal_column(str(rank)).label("rank"), Article.id, *_HIT_COLUMNS)
        .where(_lexemes(column, _MONTHS, hidden=True), *conditions)
        .order_by(*order)
        .limit(_ROWS)
        .cte(f"newest_{rank}")
    )

    def fewer(*parts: Any) -> ColumnElement[bool]:
        # Read only when the parts before found fewer than the limit.
        counts = [select(func.count()).select_from(part).scalar_subquery() for part in parts]
        return sum(counts[1:], counts[0]) < _ROWS

    middle = (
        select(literal_column(str(rank)).label("rank"), Article.id, *_HIT_COLUMNS)
        .where(
            fewer(newest),
            _lexemes(column, _YEARS, hidden=True),
            # Not index conditions (an OR with a constant): ANDing the date index's
            # range with the GIN match read ~100,000 index entries.
            or_(Article.updated_on < _SINCE, _SINCE.is_(None)),
            *conditions,
        )
        .order_by(*order)
        .limit(_ROWS)
        .cte(f"middle_{rank}")
    )
    older = (
        select(literal_column(str(rank)).label("rank"), Article.id, *_HIT_COLUMNS)
        .where(
            fewer(newest, middle),
            _lexemes(column, hidden=True),
            or_(Article.updated_on < _FAR, _FAR.is_(None)),
            *conditions,
        )
        .order_by(*order)
        .limit(_ROWS)
        .subquery(f"older_{rank}")
    )
    return newest, middle, older


def _lexemes(column: str, months: Any = None, hidden: bool = False) -> ColumnElement[bool]:
    """``articles.<column> @@ CAST(:lexemes AS tsquery)`` (``&&`` the newest months'
    lexemes): the GIN-indexed tsvector columns of migrations 0011, 0017 and 0019,
    PostgreSQL's only (not mapped by the ORM). ``hidden``: the tsquery comes from a CTE,
    so the planner estimates it alike for every word and reuses one generic plan instead
    of planning every search (~1–2 ms each at 100,000 articles); the windowed statement's
    shape does not depend on the word's frequency."""
    query: Any = _QUERY if hidden else _TSQUERY
    if months is not None:
        query = query.op("&&")(months)
    return literal_column(f"articles.{column}").op("@@", return_type=Boolean)(query)


def _ranked(*groups: Any) -> Query:
    """Title matches first, then the rest; newer first in each; ``limit`` in all."""
    both = union_all(*(select(group) for group in groups)).subquery()
    return Query(
        select(*(both.c[c.key] for c in _HIT_COLUMNS), both.c.rank)
        .order_by(both.c.rank, both.c.updated_on.desc(), both.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


# SQLite: the title group's statement, and the other group's per number of words
# (built when first asked).
_SQLITE_TITLES = _fts5_group(0, "articles_fts_title")
_SQLITE_ELSEWHERE: dict[int, Query] = {}


def _sqlite_elsewhere(words: int) -> Query:
    found = _SQLITE_ELSEWHERE.get(words)
    if found is None:
        found = _SQLITE_ELSEWHERE[words] = _fts5_group(1, "articles_fts", words)
    return found


# PostgreSQL: one statement per set of positions of long words, windowed or not (built
# when first asked).
_POSTGRES_SEARCH: dict[tuple[tuple[int, ...], bool], Query] = {}


def _postgres_search(long_words: tuple[int, ...], windowed: bool) -> Query:
    found = _POSTGRES_SEARCH.get((long_words, windowed))
    if found is None:
        found = _POSTGRES_SEARCH[long_words, windowed] = _ranked(
            *_tsvector_group(0, long_words, windowed), *_tsvector_group(1, long_words, windowed)
        )
    return found


# "The newest for their products": articles of a family in force for the reader, or
# tied to no product; a reader with no family in force gets the newest of all they may
# see. The updated_on index is walked backwards until ``limit`` rows pass.
_NEWEST = Query(
    select(*_HIT_COLUMNS, literal_column("1", Integer))
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
    # Positional, in the fields' order: a frozen dataclass's keyword call costs ~0.5 µs
    # more (ten hits a search).
    code, title, body_text, family, visibility, updated_on, rank = row
    return Hit(
        str(code),
        str(title),
        family if isinstance(family, str) else None,
        str(visibility),
        updated_on,  # type: ignore[arg-type]
        rank == 0,
        snippet(str(body_text), found),
    )


def _params(who: Audience, limit: int) -> dict[str, object]:
    return {**who.params(), "limit": limit, "offset": 0}


def statement(words: list[str], frequency: dict[str, float] | None = None) -> tuple[Query, dict[str, str]]:
    """PostgreSQL's search statement and its match parameters; ``frequency``: the
    bigrams' statistics (``grams.tsquery_lexemes``)."""
    long_words = tuple(n for n, word in enumerate(words) if len(word) > 2)
    params = {"lexemes": grams.tsquery_lexemes(words, frequency)}
    params.update({f"w{n}": grams.like_pattern(words[n]) for n in long_words})
    windowed = all(len(word) > 1 for word in words)
    return _postgres_search(long_words, windowed), params


async def _sqlite_rows(source: Reader, words: list[str], params: dict[str, object], limit: int) -> list[Row]:
    """SQLite's answer: the title group, then — only when it found fewer than the limit
    — the other group for the rest (the two in one snapshot). Title matches come first
    in the SPEC's order, so when the titles fill the page the other group cannot
    contribute a row: most one-word searches at 100,000 articles end there, and the
    other group's walk (its doclists and ten rows or more read to be dropped) is saved.
    Each group is walked newest first by its index, so the two lists one after the other
    are the order ``ORDER BY rank, updated_on DESC, id DESC`` gave."""
    match: dict[str, object] = {"words": grams.fts5_query(words)}
    rows = await source.rows(_SQLITE_TITLES, **match, **params)
    short = limit - len(rows)
    if short > 0:
        match.update({f"w{n}": grams.like_pattern(word) for n, word in enumerate(words)})
        rows += await source.rows(_sqlite_elsewhere(len(words)), **{**params, **match, "limit": short})
    return rows


@reads
async def search(source: Reader, actor: Actor, text: str, limit: int = LIMIT) -> list[Hit]:
    """The best ``limit`` articles ``actor`` may see holding every word of ``text``; no
    word (only punctuation, or empty) → nothing."""
    found = grams.words(text)
    if not found:
        return []
    who = await audience(source, actor)
    params: dict[str, object] = _params(who, limit)
    if source.dialect.name == "sqlite":
        rows = await _sqlite_rows(source, found, params, limit)
    else:
        known = await _known(source)
        query, match = statement(found, known.frequency)
        if "since" in query.compiled(source.dialect).names:
            params.update(since=known.since, far=known.far)
        rows = await source.rows(query, **match, **params)
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
