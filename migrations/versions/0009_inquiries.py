"""inquiries: the inquiry and its thread of messages (SPEC §4.8)

An inquiry's number is its primary key, handed out by PostgreSQL's identity sequence or
SQLite's AUTOINCREMENT (never reused), so concurrent openings never share a number.
Every index serves one lookup a person waits for (see core/inquiries/tables.py).

Revision ID: 0009_inquiries
Revises: 0008_requests_by_sender
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_inquiries"
down_revision = "0008_requests_by_sender"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inquiries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("support_id_id", _ID, nullable=True),
        sa.Column("product_family", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("asker_account_id", _ID, nullable=False),
        sa.Column("asker_email", sa.String(length=254), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("autoclose_on", sa.Date(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_id", _ID, nullable=True),
        sa.Column("thread_id", sa.String(length=255), nullable=False),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["support_id_id"], ["support_ids.id"], name=op.f("fk_inquiries_support_id_id_support_ids")
        ),
        sa.ForeignKeyConstraint(
            ["asker_account_id"], ["accounts.id"], name=op.f("fk_inquiries_asker_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"], ["inquiries.id"], name=op.f("fk_inquiries_previous_id_inquiries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiries")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_inquiries_support_status_updated", "inquiries", ["support_id_id", "status", "updated_at"]
    )
    op.create_index("ix_inquiries_asker_updated", "inquiries", ["asker_account_id", "updated_at"])
    op.create_index("ix_inquiries_status_due", "inquiries", ["status", "due_on"])
    op.create_index("ix_inquiries_status_autoclose", "inquiries", ["status", "autoclose_on"])
    op.create_index("ix_inquiries_assignee_status_due", "inquiries", ["assignee", "status", "due_on"])
    op.create_index("ix_inquiries_thread_id", "inquiries", ["thread_id"])
    op.create_table(
        "inquiry_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("inquiry_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("author_account_id", _ID, nullable=True),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inquiry_id"], ["inquiries.id"], name=op.f("fk_inquiry_messages_inquiry_id_inquiries")
        ),
        sa.ForeignKeyConstraint(
            ["author_account_id"],
            ["accounts.id"],
            name=op.f("fk_inquiry_messages_author_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_messages")),
    )
    op.create_index("ix_inquiry_messages_thread", "inquiry_messages", ["inquiry_id", "id"])
    op.create_index("ix_inquiry_messages_message_id", "inquiry_messages", ["message_id"])


def downgrade() -> None:
    op.drop_table("inquiry_messages")
    op.drop_table("inquiries")
