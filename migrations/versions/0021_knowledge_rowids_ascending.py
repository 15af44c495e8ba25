"""knowledge search on SQLite: the FTS5 rowids ascend from the newest article

Both FTS5 indexes of the articles (``articles_fts``, 0011; ``articles_fts_title``, 0017)
are keyed by the article's search key, its updated_on day times 2**32 plus its id, so a
match walked in rowid order is newest first. The search wants the newest first, and
that was ``ORDER BY rowid DESC``: FTS5 walks a doclist backwards by loading each of its
pages whole and indexing it first, which cost 1.3–3.7× the forward walk at 100,000
articles (ライセンス 更新: 100 µs backwards against 27 forwards over ``articles_fts``;
two words found in no title, 123 against 83 over ``articles_fts_title``). The rowid is
now the key negated: ascending rowids are the same order, newest first, walked forwards
(core/knowledge/search.py); ``-rowid % 2**32`` is still the article's id.

PostgreSQL: nothing (its search does not use these tables).

Revision ID: 0021_knowledge_rowids_ascending
Revises: 0020_outbox_due_by_channel
"""

from __future__ import annotations

from alembic import op

revision = "0021_knowledge_rowids_ascending"
down_revision = "0020_outbox_due_by_channel"
branch_labels = None
depends_on = None

# The search key (0011's) and, from here, the FTS rowid: the key negated.
_KEY = "CAST(julianday({row}.updated_on) AS INTEGER) * 4294967296 + {row}.id"
_NEGATED = "-(" + _KEY + ")"


def _fts(sign: str) -> tuple[str, ...]:
    """Both FTS tables and their triggers, keyed by ``sign`` (``_KEY`` or
    ``_NEGATED``), filled from the articles and merged into one segment each (what the
    import leaves, core/importing/merging.py)."""
    key = _NEGATED if sign == "-" else _KEY
    new, old, row = key.format(row="new"), key.format(row="old"), key.format(row="articles")
    return (
        "DROP TRIGGER IF EXISTS articles_fts_update",
        "DROP TRIGGER IF EXISTS articles_fts_delete",
        "DROP TRIGGER IF EXISTS articles_fts_insert",
        "DROP TRIGGER IF EXISTS articles_fts_title_update",
        "DROP TRIGGER IF EXISTS articles_fts_title_delete",
        "DROP TRIGGER IF EXISTS articles_fts_title_insert",
        "DROP TABLE IF EXISTS articles_fts",
        "DROP TABLE IF EXISTS articles_fts_title",
        "CREATE VIRTUAL TABLE articles_fts USING fts5(title_grams, body_grams, content='', tokenize='ascii')",
        "CREATE VIRTUAL TABLE articles_fts_title USING fts5(title_grams, content='', tokenize='ascii')",
        f"""CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts (rowid, title_grams, body_grams)
            VALUES ({new}, new.title_grams, new.body_grams);
        END""",
        f"""CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts (articles_fts, rowid, title_grams, body_grams)
            VALUES ('delete', {old}, old.title_grams, old.body_grams);
        END""",
        f"""CREATE TRIGGER articles_fts_update AFTER UPDATE OF title_grams, body_grams, updated_on ON articles
        BEGIN
            INSERT INTO articles_fts (articles_fts, rowid, title_grams, body_grams)
            VALUES ('delete', {old}, old.title_grams, old.body_grams);
            INSERT INTO articles_fts (rowid, title_grams, body_grams)
            VALUES ({new}, new.title_grams, new.body_grams);
        END""",
        f"""CREATE TRIGGER articles_fts_title_insert AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts_title (rowid, title_grams) VALUES ({new}, new.title_grams);
        END""",
        f"""CREATE TRIGGER articles_fts_title_delete AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts_title (articles_fts_title, rowid, title_grams)
            VALUES ('delete', {old}, old.title_grams);
        END""",
        f"""CREATE TRIGGER articles_fts_title_update AFTER UPDATE OF title_grams, updated_on ON articles
        BEGIN
            INSERT INTO articles_fts_title (articles_fts_title, rowid, title_grams)
            VALUES ('delete', {old}, old.title_grams);
            INSERT INTO articles_fts_title (rowid, title_grams) VALUES ({new}, new.title_grams);
        END""",
        # Filled in rowid order (FTS5 appends), with automerge off while filling: one
        # 'optimize' at the end, as the import does.
        "INSERT INTO articles_fts (articles_fts, rank) VALUES ('automerge', 0)",
        "INSERT INTO articles_fts_title (articles_fts_title, rank) VALUES ('automerge', 0)",
        f"INSERT INTO articles_fts (rowid, title_grams, body_grams)"
        f" SELECT {row}, title_grams, body_grams FROM articles ORDER BY 1",
        f"INSERT INTO articles_fts_title (rowid, title_grams) SELECT {row}, title_grams FROM articles ORDER BY 1",
        "INSERT INTO articles_fts (articles_fts) VALUES ('optimize')",
        "INSERT INTO articles_fts_title (articles_fts_title) VALUES ('optimize')",
        "INSERT INTO articles_fts (articles_fts, rank) VALUES ('automerge', 4)",
        "INSERT INTO articles_fts_title (articles_fts_title, rank) VALUES ('automerge', 4)",
    )


def _run(statements: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in statements:
            op.execute(statement)


def upgrade() -> None:
    _run(_fts("-"))


def downgrade() -> None:
    _run(_fts("+"))
