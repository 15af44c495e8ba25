"""The ``articles`` table (SPEC §3 ``articles``, §4.9).

Separate from ``core.models`` so the knowledge area owns its schema; it is registered by
one import line at the end of ``core/models.py`` (tests empty ``Base.metadata``'s tables).

``title_grams`` / ``body_grams`` are what the search index reads: the folded text cut
into character bigrams (``core.knowledge.grams``). They are written by whoever writes
the title and body (the import's staging, ``core.knowledge.editing``), never computed by
the database, so SQLite and PostgreSQL index exactly the same tokens. Migration
``0011_knowledge`` builds the index on them: FTS5 (SQLite) and a GIN ``tsvector``
expression index (PostgreSQL).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, BigId

VISIBILITIES = ("public", "customers", "contract")


class Article(Base):
    """One knowledge article; never deleted, ``withdrawn`` hides it from customers."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    # None: not tied to a product.
    product_family: Mapped[str | None] = mapped_column(String(255))
    visibility: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_on: Mapped[date] = mapped_column(Date)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    title_grams: Mapped[str] = mapped_column(Text, default="")
    body_grams: Mapped[str] = mapped_column(Text, default="")
    # The body as plain text (``core.knowledge.text.plain_text``), written with the body
    # (migration 0017): a search shows a snippet of it for every hit, and rendering the
    # Markdown per hit cost as much as the search's SQL.
    body_text: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime]

    # "Newest first" (``/support kb`` alone) walks this index backwards.
    __table_args__ = (Index("ix_articles_updated_on", "updated_on", "id"),)
