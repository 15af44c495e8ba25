"""people by name: staff `find` looks up accounts by name and reading (issue 14)

Staff find is a lookup a person waits for (SPEC §9), so it is answered from an index:
``accounts.name_norm`` (family + given name) and ``accounts.kana_norm`` (their reading),
each in ``core.normalize.person_key`` form, B-tree indexed, searched by prefix (a range
on the index, the same on SQLite and PostgreSQL). The model keeps them on every change
of a name (``Account._keep_name_keys``); existing rows are filled here with the same
function, so the two never disagree.

Revision ID: 0015_find_people
Revises: 0012_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.normalize import person_key

revision = "0015_find_people"
down_revision = "0012_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("name_norm", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("kana_norm", sa.String(128), nullable=False, server_default=""))
    accounts = sa.table(
        "accounts",
        sa.column("id", sa.BigInteger),
        sa.column("last_name", sa.String),
        sa.column("first_name", sa.String),
        sa.column("last_name_kana", sa.String),
        sa.column("first_name_kana", sa.String),
        sa.column("name_norm", sa.String),
        sa.column("kana_norm", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            accounts.c.id,
            accounts.c.last_name,
            accounts.c.first_name,
            accounts.c.last_name_kana,
            accounts.c.first_name_kana,
        )
    ).all()
    for row in rows:
        bind.execute(
            accounts.update()
            .where(accounts.c.id == row.id)
            .values(
                name_norm=person_key(row.last_name, row.first_name),
                kana_norm=person_key(row.last_name_kana, row.first_name_kana),
            )
        )
    op.create_index("ix_accounts_name_norm", "accounts", ["name_norm"])
    op.create_index("ix_accounts_kana_norm", "accounts", ["kana_norm"])


def downgrade() -> None:
    op.drop_index("ix_accounts_kana_norm", table_name="accounts")
    op.drop_index("ix_accounts_name_norm", table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("kana_norm")
        batch.drop_column("name_norm")
