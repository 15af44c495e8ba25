"""outbox: the due rows of one channel from their own part of the index

The worker claims the oldest due rows of the channels it delivers; without a staff
channel (a mail-only install, or Slack not configured yet) that is mail only, and the
staff posts wait. The index led by (status, next_attempt_at) put those waiting posts at
the head of every claim's walk: each claim read past all of them (1,600 waiting posts
≈ 1 ms a claim, and a mail-only install gathers posts without end). With the channel
second, a claim of one channel reads only its own rows (core/delivery.py ``claim``);
the health scrape's counts by status still lead with the status.

Revision ID: 0020_outbox_due_by_channel
Revises: 0019_knowledge_lexemes
"""

from __future__ import annotations

from alembic import op

revision = "0020_outbox_due_by_channel"
down_revision = "0019_knowledge_lexemes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["status", "channel", "next_attempt_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"])
