"""account lifecycle: last password change, product-information choice, sign-in links,
email changes (SPEC §4.11)

Revision ID: 0012_accounts
Revises: 0011_knowledge
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_accounts"
down_revision = "0011_knowledge"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("marketing_changed_at", sa.DateTime(timezone=True), nullable=True))
    # Accounts that already set a password: the best known date is their activation.
    op.execute("UPDATE accounts SET password_changed_at = activated_at WHERE password_hash IS NOT NULL")
    op.execute("UPDATE accounts SET marketing_changed_at = privacy_consented_at")
    op.create_table(
        "signin_links",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("slack_team_id", sa.String(32), nullable=False),
        sa.Column("slack_user_id", sa.String(32), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "account_id", _ID, sa.ForeignKey("accounts.id", name="fk_signin_links_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_signin_links"),
        sa.UniqueConstraint("token_hash", name="uq_signin_links_token_hash"),
    )
    op.create_index("ix_signin_links_slack_user_id", "signin_links", ["slack_user_id"])
    op.create_index("ix_signin_links_account_id", "signin_links", ["account_id"])
    op.create_table(
        "email_changes",
        sa.Column("id", _ID, primary_key=True),
        sa.Column(
            "account_id",
            _ID,
            sa.ForeignKey("accounts.id", name="fk_email_changes_account_id_accounts"),
            nullable=False,
        ),
        sa.Column("new_email", sa.String(254), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_email_changes"),
        sa.UniqueConstraint("token_hash", name="uq_email_changes_token_hash"),
    )
    op.create_index("ix_email_changes_account_id", "email_changes", ["account_id"])


def downgrade() -> None:
    op.drop_table("email_changes")
    op.drop_table("signin_links")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("marketing_changed_at")
        batch.drop_column("password_changed_at")
