"""knowledge articles and their search index (SPEC §3 ``articles``, §4.9)

The search index reads ``title_grams`` / ``body_grams``: the folded text cut into
character bigrams by the application (core/knowledge/grams.py), so both databases
index the same tokens:

* SQLite: a contentless FTS5 table (it stores only the index) with the ``ascii``
  tokenizer, which splits on the spaces between the bigrams and keeps every non-ASCII
  character; kept in sync by triggers like ``companies_fts`` (0007). Its rowid orders
  articles newest first (see ``_KEY``).
* PostgreSQL: a stored generated column ``search_doc`` = ``setweight(to_tsvector('simple',
  title_grams), 'A') || to_tsvector('simple', body_grams)`` with a GIN index; the weight
  tells a title match from a body match. The planner chooses between that index (rare
  words) and walking ``ix_articles_updated_on`` newest first (common words). The column is PostgreSQL's alone (not mapped
  by the ORM): only the search reads it (core/knowledge/matching.py).

docs/knowledge.md says why bigrams and not trigrams (pg_trgm, FTS5 trigram).

Revision ID: 0011_knowledge
Revises: 0010_attachments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_knowledge"
down_revision = "0010_attachments"
branch_labels = None
depends_on = None

DOCUMENT = "(setweight(to_tsvector('simple'::regconfig, title_grams), 'A') || to_tsvector('simple'::regconfig, body_grams))"

# The FTS rowid is the article's search key: its updated_on day (Julian day number) times
# 2**32 plus its id. FTS5 walks a match in rowid order, so "newest first" is its natural
# order and a search stops after the first rows that pass, however common the word
# (core/knowledge/search.py). Contentless: the index stores no text; the triggers hand
# it the old values to delete.
_KEY = "CAST(julianday({row}.updated_on) AS INTEGER) * 4294967296 + {row}.id"
_SQLITE_UP = (
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        title_grams, body_grams, content='', tokenize='ascii')""",
    f"""CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts (rowid, title_grams, body_grams)
        VALUES ({_KEY.format(row="new")}, new.title_grams, new.body_grams);
    END""",
    f"""CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title_grams, body_grams)
        VALUES ('delete', {_KEY.format(row="old")}, old.title_grams, old.body_grams);
    END""",
    f"""CREATE TRIGGER articles_fts_update AFTER UPDATE OF title_grams, body_grams, updated_on ON articles
    BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title_grams, body_grams)
        VALUES ('delete', {_KEY.format(row="old")}, old.title_grams, old.body_grams);
        INSERT INTO articles_fts (rowid, title_grams, body_grams)
        VALUES ({_KEY.format(row="new")}, new.title_grams, new.body_grams);
    END""",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TABLE IF EXISTS articles_fts",
)
# A stored tsvector, not only an expression index: phrase matches (``<->``) are rechecked
# against the row, and re-parsing every candidate's text there cost more than the
# whole search (docs/knowledge.md).
# The title alone too: the planner's estimate for a title-only match must come from the
# titles' statistics (a weight restriction on search_doc is not estimated: it assumed
# every article holding the word matched in its title, and walked thousands of rows).
_POSTGRES_UP = (
    f"ALTER TABLE articles ADD COLUMN search_doc tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED",
    "CREATE INDEX ix_articles_search_doc ON articles USING gin (search_doc)",
    "ALTER TABLE articles ADD COLUMN title_doc tsvector"
    " GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, title_grams)) STORED",
    "CREATE INDEX ix_articles_title_doc ON articles USING gin (title_doc)",
)
_POSTGRES_DOWN = (
    "DROP INDEX IF EXISTS ix_articles_title_doc",
    "ALTER TABLE articles DROP COLUMN title_doc",
    "DROP INDEX IF EXISTS ix_articles_search_doc",
    "ALTER TABLE articles DROP COLUMN search_doc",
)


def _run(sqlite: tuple[str, ...], postgres: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    for statement in sqlite if dialect == "sqlite" else postgres if dialect == "postgresql" else ():
        op.execute(statement)


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "articles",
        # Small columns first: the search reads them for every matching row, and SQLite
        # reaches columns after a long body only through its overflow pages.
        sa.Column("id", big_id, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
        sa.Column("product_family", sa.String(255), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("title_grams", sa.Text(), nullable=False),
        sa.Column("body_grams", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("code", name="uq_articles_code"),
    )
    op.create_index("ix_articles_updated_on", "articles", ["updated_on", "id"])
    _run(_SQLITE_UP, _POSTGRES_UP)


def downgrade() -> None:
    _run(_SQLITE_DOWN, _POSTGRES_DOWN)
    op.drop_index("ix_articles_updated_on", table_name="articles")
    op.drop_table("articles")
