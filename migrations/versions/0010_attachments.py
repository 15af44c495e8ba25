"""attachments: files kept with requests and inquiry messages, and their bytes

Bytes live in the database (``attachment_blobs``) so every instance serves every link
and a message's files commit with it (core/attachments/tables.py, docs/attachments.md).

Revision ID: 0010_attachments
Revises: 0009_inquiries
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_attachments"
down_revision = "0009_inquiries"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("owner_kind", sa.String(length=32), nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_owner", "attachments", ["owner_kind", "owner_id"])
    op.create_table(
        "attachment_blobs",
        sa.Column("attachment_id", _ID, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_attachment_blobs_attachment_id_attachments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_attachment_blobs")),
    )


def downgrade() -> None:
    op.drop_table("attachment_blobs")
    op.drop_index("ix_attachments_owner", table_name="attachments")
    op.drop_table("attachments")
