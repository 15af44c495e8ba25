"""knowledge search on PostgreSQL: the tsvectors are the stored bigrams as they are, and the year (issue 13)

The search asks GIN for an AND of lexemes (core/knowledge/search.py); it never asks for a
phrase (``<->``) nor a weight (``:A``, the title has ``title_doc`` of its own), so the
positions and weights that ``to_tsvector('simple', …)`` stores were never read. Making
them cost the import: the text-search parser read each article's ~260 bigram tokens
again, character class by character class, and the positions made the tsvectors ~40 %
larger (measured at 100,000 articles: the import's INSERT of the articles cost the
server 16–17 s of CPU with them, 12–13 s without; the table 272 → 233 MB). Here the columns are
the bigram tokens split at their spaces (``array_to_tsvector``: no parser, no positions)
plus the month lexeme of migration 0017 and the year's (``#2025``: the search's second
window, core/knowledge/search.py ``WIDE``); the search casts its query text to ``tsquery``
(``'帳票' & '票出'``: the lexemes as written, no parser) instead of ``to_tsquery``. Both
sides are the tokens ``core.knowledge.grams`` wrote, exactly, as on SQLite.

``array_remove(…, '')``: an article whose title or body holds no letter has empty
bigrams, and ``array_to_tsvector`` refuses an empty lexeme.

SQLite: nothing (its FTS5 tables read the same tokens already).

Revision ID: 0019_knowledge_lexemes
Revises: 0018_inquiry_lists
"""

from __future__ import annotations

from alembic import op

revision = "0019_knowledge_lexemes"
down_revision = "0018_inquiry_lists"
branch_labels = None
depends_on = None

# Migration 0017's month lexeme, and (with it) the article's year.
MONTH = (
    "array_to_tsvector(ARRAY['#' || (extract(year FROM updated_on) * 100"
    " + extract(month FROM updated_on))::integer::text])"
)
MONTH_AND_YEAR = (
    "array_to_tsvector(ARRAY['#' || (extract(year FROM updated_on) * 100"
    " + extract(month FROM updated_on))::integer::text,"
    " '#' || extract(year FROM updated_on)::integer::text])"
)
TOKENS = "array_to_tsvector(array_remove(string_to_array({text}, ' '), ''))"
BODY = TOKENS.format(text="title_grams || ' ' || body_grams")
TITLE = TOKENS.format(text="title_grams")
# Migration 0017's columns, for the way back.
PARSED_BODY = (
    "(setweight(to_tsvector('simple'::regconfig, title_grams), 'A')"
    " || to_tsvector('simple'::regconfig, body_grams))"
)
PARSED_TITLE = "to_tsvector('simple'::regconfig, title_grams)"


def _columns(search_doc: str, title_doc: str, dates: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (
        "DROP INDEX IF EXISTS ix_articles_title_doc",
        "DROP INDEX IF EXISTS ix_articles_search_doc",
        # One ALTER TABLE: the table is rewritten once.
        "ALTER TABLE articles DROP COLUMN title_doc, DROP COLUMN search_doc,"
        f" ADD COLUMN search_doc tsvector GENERATED ALWAYS AS ({search_doc} || {dates}) STORED,"
        f" ADD COLUMN title_doc tsvector GENERATED ALWAYS AS ({title_doc} || {dates}) STORED",
        "CREATE INDEX ix_articles_search_doc ON articles USING gin (search_doc)",
        "CREATE INDEX ix_articles_title_doc ON articles USING gin (title_doc)",
    ):
        op.execute(statement)


def upgrade() -> None:
    _columns(BODY, TITLE, MONTH_AND_YEAR)


def downgrade() -> None:
    _columns(PARSED_BODY, PARSED_TITLE, MONTH)
