"""inquiry staff: find an inquiry by its staff post (SPEC §4.8)

A message typed in the thread of an inquiry's post in Slack names only the channel and
the post's ts; keeping it as an internal note looks the inquiry up by both, once per
message, so the lookup has its index (core/inquiries/desk.by_staff_post).

Revision ID: 0016_inquiry_staff
Revises: 0015_find_people
"""

from __future__ import annotations

from alembic import op

revision = "0016_inquiry_staff"
down_revision = "0015_find_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inquiries_slack_post", "inquiries", ["slack_channel", "slack_ts"])


def downgrade() -> None:
    op.drop_index("ix_inquiries_slack_post", table_name="inquiries")
