"""indexes for the company search (SPEC §9: every lookup a person waits for)

The other waiting lookups already have their index from 0001 (key hash, contract
number, company code, account email, support-ID name_key — all unique — and the
foreign keys a user's support-ID list joins on). The company search is a partial match
(``name_norm LIKE '%…%'``), which no B-tree serves:

* SQLite: an FTS5 table with the trigram tokenizer over ``companies.name_norm`` and
  ``address_norm`` (external content: it stores only the index), kept in sync by
  triggers, so every writer of ``companies`` keeps it right without knowing of it.
* PostgreSQL: ``pg_trgm`` GIN indexes on the same two columns; ``LIKE '%…%'`` uses them.

And ``support_keys.support_id_id`` becomes a partial index (only keys in a support ID).

Revision ID: 0007_search_indexes
Revises: 0005_slack
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_search_indexes"
down_revision = "0005_slack"
branch_labels = None
depends_on = None

_SQLITE_UP = (
    """CREATE VIRTUAL TABLE companies_fts USING fts5(
        name_norm, address_norm, content='companies', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER companies_fts_insert AFTER INSERT ON companies BEGIN
        INSERT INTO companies_fts (rowid, name_norm, address_norm)
        VALUES (new.id, new.name_norm, new.address_norm);
    END""",
    """CREATE TRIGGER companies_fts_delete AFTER DELETE ON companies BEGIN
        INSERT INTO companies_fts (companies_fts, rowid, name_norm, address_norm)
        VALUES ('delete', old.id, old.name_norm, old.address_norm);
    END""",
    """CREATE TRIGGER companies_fts_update AFTER UPDATE OF name_norm, address_norm ON companies BEGIN
        INSERT INTO companies_fts (companies_fts, rowid, name_norm, address_norm)
        VALUES ('delete', old.id, old.name_norm, old.address_norm);
        INSERT INTO companies_fts (rowid, name_norm, address_norm)
        VALUES (new.id, new.name_norm, new.address_norm);
    END""",
    "INSERT INTO companies_fts (companies_fts) VALUES ('rebuild')",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS companies_fts_update",
    "DROP TRIGGER IF EXISTS companies_fts_delete",
    "DROP TRIGGER IF EXISTS companies_fts_insert",
    "DROP TABLE IF EXISTS companies_fts",
)
_POSTGRES_UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_companies_name_norm_trgm ON companies USING gin (name_norm gin_trgm_ops)",
    "CREATE INDEX ix_companies_address_norm_trgm ON companies USING gin (address_norm gin_trgm_ops)",
)
_POSTGRES_DOWN = (
    "DROP INDEX IF EXISTS ix_companies_address_norm_trgm",
    "DROP INDEX IF EXISTS ix_companies_name_norm_trgm",
)


def _run(sqlite: tuple[str, ...], postgres: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    for statement in sqlite if dialect == "sqlite" else postgres if dialect == "postgresql" else ():
        op.execute(statement)


def upgrade() -> None:
    _run(_SQLITE_UP, _POSTGRES_UP)
    # Keys are looked up by support ID only where they have one; the NULLs of the keys
    # in no support ID (most of a vendor file) need no index entries.
    op.drop_index("ix_support_keys_support_id_id", table_name="support_keys")
    op.create_index(
        "ix_support_keys_support_id_id",
        "support_keys",
        ["support_id_id"],
        sqlite_where=sa.text("support_id_id IS NOT NULL"),
        postgresql_where=sa.text("support_id_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_support_keys_support_id_id", table_name="support_keys")
    op.create_index("ix_support_keys_support_id_id", "support_keys", ["support_id_id"])
    _run(_SQLITE_DOWN, _POSTGRES_DOWN)
