"""requests by sender and time: the per-sender cap on new requests

The contact window counts each sender's requests of the last hour for every batch of
incoming mail (MADOGUCHI_REQUESTS_PER_SENDER_HOUR, core/contact_window/batch.py); without
this index that count scans every request ever made.

Revision ID: 0008_requests_by_sender
Revises: 0002_mail
"""

from __future__ import annotations

from alembic import op

revision = "0008_requests_by_sender"
down_revision = "0002_mail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_requests_sender_created_at", "requests", ["sender", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_sender_created_at", table_name="requests")
