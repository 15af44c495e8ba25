"""mail: acknowledgements sent, for the contact window's rate limits

Revision ID: 0002_mail
Revises: 0007_search_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_mail"
down_revision = "0007_search_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_acks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_mail_acks_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_acks")),
    )
    with op.batch_alter_table("mail_acks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_acks_at"), ["at"], unique=False)
        batch_op.create_index("ix_mail_acks_email_at", ["email", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_acks_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_table("mail_acks")
