"""inquiry lists: a support ID's inquiries newest first, open ones from their own index

``/support inquiries ID`` lists a support ID's open inquiries by last change. The index
led by (support ID, status) could not give them in that order: the planner read every
inquiry of the support ID — closed ones included, years of them for a large customer —
and sorted. Now an index in list order, and a partial one holding only what is not
closed, so a page of the open list reads a page of index entries
(core/inquiries/reading.py; docs/performance.md, "Inquiries at scale").

Revision ID: 0018_inquiry_lists
Revises: 0017_knowledge_pg
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_inquiry_lists"
down_revision = "0017_knowledge_pg"
branch_labels = None
depends_on = None

NOT_CLOSED = sa.text("status != 'closed'")


def upgrade() -> None:
    op.drop_index("ix_inquiries_support_status_updated", table_name="inquiries")
    op.create_index("ix_inquiries_support_updated", "inquiries", ["support_id_id", "updated_at", "id"])
    op.create_index(
        "ix_inquiries_support_open_updated",
        "inquiries",
        ["support_id_id", "updated_at", "id"],
        sqlite_where=NOT_CLOSED,
        postgresql_where=NOT_CLOSED,
    )


def downgrade() -> None:
    op.drop_index("ix_inquiries_support_open_updated", table_name="inquiries")
    op.drop_index("ix_inquiries_support_updated", table_name="inquiries")
    op.create_index(
        "ix_inquiries_support_status_updated", "inquiries", ["support_id_id", "status", "updated_at"]
    )
