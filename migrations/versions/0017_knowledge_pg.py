"""knowledge search on PostgreSQL: each article's month in its tsvectors (issue 13)

The GIN index answers "which articles hold these bigrams", in no useful order; the
search wants the ten newest. Reading every match and sorting it cost ~25 ms for a word
in 3,000 of 100,000 articles (the planner cannot estimate the ``LIKE`` that follows and
so never walks the date index). With a lexeme for the article's month (``#202512``) in
``search_doc`` and ``title_doc``, the search first asks GIN for the matches *in the
newest months* (bigrams AND any of those months: one index scan, a few dozen rows) and
reads older matches only when those are fewer than the limit
(core/knowledge/search.py). ``#`` never occurs in a bigram token (runs of letters and
digits only), so no search word can match a month lexeme.

SQLite: no month lexemes (its FTS rowid is already ordered newest first, migration 0011),
but the titles get an FTS5 table of their own (``articles_fts_title``, same rowid): a
title-only match on ``articles_fts`` (``title_grams : (…)``) reads the whole doclists of
its words over titles and bodies and decodes their positions, ~1–3 ms for two words
rare together in titles at 100,000 articles; the titles' own index answers in 0.1–0.3 ms.

Both databases: ``articles.body_text``, the body as plain text
(``core.knowledge.text.plain_text``), filled here for existing rows and written with
the body from now on: every hit of a search shows a snippet of it, and rendering the
Markdown per hit (~0.16 ms, ten hits) cost as much as the search's SQL.

Revision ID: 0017_knowledge_pg
Revises: 0016_inquiry_staff
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.knowledge.text import plain_text

revision = "0017_knowledge_pg"
down_revision = "0016_inquiry_staff"
branch_labels = None
depends_on = None

# The same lexeme as core/knowledge/search.py's MONTH_LEXEME (immutable: a generated
# column may not use to_char).
MONTH = (
    "array_to_tsvector(ARRAY['#' || (extract(year FROM updated_on) * 100"
    " + extract(month FROM updated_on))::integer::text])"
)
BODY = "(setweight(to_tsvector('simple'::regconfig, title_grams), 'A') || to_tsvector('simple'::regconfig, body_grams))"
TITLE = "to_tsvector('simple'::regconfig, title_grams)"


def _columns(search_doc: str, title_doc: str) -> tuple[str, ...]:
    # One ALTER TABLE: the table is rewritten once.
    return (
        "DROP INDEX IF EXISTS ix_articles_title_doc",
        "DROP INDEX IF EXISTS ix_articles_search_doc",
        "ALTER TABLE articles DROP COLUMN title_doc, DROP COLUMN search_doc,"
        f" ADD COLUMN search_doc tsvector GENERATED ALWAYS AS ({search_doc}) STORED,"
        f" ADD COLUMN title_doc tsvector GENERATED ALWAYS AS ({title_doc}) STORED",
        "CREATE INDEX ix_articles_search_doc ON articles USING gin (search_doc)",
        "CREATE INDEX ix_articles_title_doc ON articles USING gin (title_doc)",
    )


# The same search key as migration 0011's articles_fts (its updated_on day * 2**32 + id).
_KEY = "CAST(julianday({row}.updated_on) AS INTEGER) * 4294967296 + {row}.id"
_SQLITE_UP = (
    "CREATE VIRTUAL TABLE articles_fts_title USING fts5(title_grams, content='', tokenize='ascii')",
    f"""CREATE TRIGGER articles_fts_title_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts_title (rowid, title_grams) VALUES ({_KEY.format(row="new")}, new.title_grams);
    END""",
    f"""CREATE TRIGGER articles_fts_title_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts_title (articles_fts_title, rowid, title_grams)
        VALUES ('delete', {_KEY.format(row="old")}, old.title_grams);
    END""",
    f"""CREATE TRIGGER articles_fts_title_update AFTER UPDATE OF title_grams, updated_on ON articles
    BEGIN
        INSERT INTO articles_fts_title (articles_fts_title, rowid, title_grams)
        VALUES ('delete', {_KEY.format(row="old")}, old.title_grams);
        INSERT INTO articles_fts_title (rowid, title_grams) VALUES ({_KEY.format(row="new")}, new.title_grams);
    END""",
    f"INSERT INTO articles_fts_title (rowid, title_grams) SELECT {_KEY.format(row='articles')}, title_grams"
    " FROM articles",
    "INSERT INTO articles_fts_title (articles_fts_title) VALUES ('optimize')",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS articles_fts_title_update",
    "DROP TRIGGER IF EXISTS articles_fts_title_delete",
    "DROP TRIGGER IF EXISTS articles_fts_title_insert",
    "DROP TABLE IF EXISTS articles_fts_title",
)


def _run(statements: tuple[str, ...], sqlite: tuple[str, ...] = ()) -> None:
    name = op.get_bind().dialect.name
    for statement in statements if name == "postgresql" else sqlite if name == "sqlite" else ():
        op.execute(statement)


BATCH = 1000


def _fill_body_text() -> None:
    """Each existing article's plain text, in batches of ids (a 100,000-article table is
    not held in memory at once)."""
    bind = op.get_bind()
    articles = sa.table("articles", sa.column("id", sa.BigInteger), sa.column("body", sa.Text))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(articles.c.id, articles.c.body)
            .where(articles.c.id > last)
            .order_by(articles.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text("UPDATE articles SET body_text = :text WHERE id = :id"),
            [{"id": id_, "text": plain_text(body)} for id_, body in rows],
        )
        last = rows[-1][0]


def upgrade() -> None:
    # Filled before the tsvector columns are rebuilt (PostgreSQL): the table is
    # rewritten once after the updates.
    op.add_column("articles", sa.Column("body_text", sa.Text(), nullable=False, server_default=""))
    _fill_body_text()
    _run(_columns(f"({BODY} || {MONTH})", f"({TITLE} || {MONTH})"), _SQLITE_UP)


def downgrade() -> None:
    _run(_columns(BODY, TITLE), _SQLITE_DOWN)
    op.drop_column("articles", "body_text")
