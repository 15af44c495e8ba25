"""The attachments' two tables: what is known of a file, and its bytes.

Why the bytes are in the database (``attachment_blobs``) rather than in files under
MADOGUCHI_VAR_DIR: several ``madoguchi serve`` instances share one PostgreSQL (SPEC §9)
and each must serve every link, and a file must be stored in the same transaction as
the message it belongs to (all of a message's files or none). A directory would need a
shared file system and could not be rolled back with the message. The bytes are a table
of their own so that listing a message's files never reads them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, BigId


class Attachment(Base):
    """One stored file of something (``owner_kind`` + ``owner_id``: a request, an inquiry
    message, …); its name is sanitised and its type sniffed from its bytes."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int] = mapped_column(BigId)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_attachments_owner", "owner_kind", "owner_id"),)


class AttachmentBlob(Base):
    """The bytes of one attachment (deleted with it)."""

    __tablename__ = "attachment_blobs"

    attachment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
