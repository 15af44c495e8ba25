"""The tables of inquiries (SPEC §4.8): the inquiry and its thread of messages.

An inquiry's number (``INQ-000123``) is its primary key. Both databases hand those out
from a counter that never goes back: PostgreSQL's identity sequence, SQLite's
``AUTOINCREMENT`` (a rowid alias alone may reuse the number of a deleted last row), so
two sessions opening inquiries at once can never get the same number and no number is
ever given twice, without a lock or a ``max() + 1`` of our own.

Every lookup a person waits for has its index here (SPEC §9), proven by
``tests/integration/inquiries/test_inquiry_indexes.py``:

* a support ID's inquiries newest first: ``ix_inquiries_support_updated``, its open ones
  (a partial index without the closed): ``ix_inquiries_support_open_updated``
* an asker's inquiries, newest first: ``ix_inquiries_asker_updated``
* open or overdue ones by due date (staff): ``ix_inquiries_status_due``
* answered ones whose auto-close day came: ``ix_inquiries_status_autoclose``
* a staff member's own by due date: ``ix_inquiries_assignee_status_due``
* a thread by number: the primary key; its messages: ``ix_inquiry_messages_thread``
* a mail reply by Message-ID: ``ix_inquiry_messages_message_id``, ``ix_inquiries_thread_id``
* staff chatter in a post's thread by the post: ``ix_inquiries_slack_post``
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, BigId

# The condition of the open-inquiries index; a query must say it in these words (a
# literal, not a parameter) for either database to use that index.
NOT_CLOSED = "status != 'closed'"


class Inquiry(Base):
    """A customer's question about one product of one support ID (or ``その他``)."""

    __tablename__ = "inquiries"

    # The number shown as INQ-000123 (see the module docstring).
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # None only for ``その他`` asked without a support ID.
    support_id_id: Mapped[int | None] = mapped_column(ForeignKey("support_ids.id"))
    # A product family in force when it was opened, or OTHER_PRODUCT.
    product_family: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(200))
    # "new" (受付) → "in_progress" (対応中) → "answered" (回答済み) → "closed" (完了).
    status: Mapped[str] = mapped_column(String(16), default="new")
    asker_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # Where mail about it goes; the account's address when it was opened.
    asker_email: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    # The staff member handling it, as the Slack door names staff (``slack:T:U``).
    assignee: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime]
    # The promised answer date (business days from receipt, cut-off counted).
    due_on: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    # While answered: the day it closes itself unless the customer writes.
    autoclose_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None]
    # A follow-up to an inquiry closed too long ago opens a new one linking the old.
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id"))
    # The Message-ID of our acknowledgement: the root of the mail thread.
    thread_id: Mapped[str] = mapped_column(String(255))
    # Where its staff post is (posted by the outbox worker).
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_inquiries_support_updated", "support_id_id", "updated_at", "id"),
        Index(
            "ix_inquiries_support_open_updated",
            "support_id_id",
            "updated_at",
            "id",
            sqlite_where=text(NOT_CLOSED),
            postgresql_where=text(NOT_CLOSED),
        ),
        Index("ix_inquiries_asker_updated", "asker_account_id", "updated_at"),
        Index("ix_inquiries_status_due", "status", "due_on"),
        Index("ix_inquiries_status_autoclose", "status", "autoclose_on"),
        Index("ix_inquiries_assignee_status_due", "assignee", "status", "due_on"),
        Index("ix_inquiries_thread_id", "thread_id"),
        Index("ix_inquiries_slack_post", "slack_channel", "slack_ts"),
        {"sqlite_autoincrement": True},
    )


class InquiryMessage(Base):
    """One message of an inquiry's thread: the customer's (``customer``), a staff answer
    sent to the customer (``answer``) or a staff note nobody outside sees (``note``)."""

    __tablename__ = "inquiry_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"))
    kind: Mapped[str] = mapped_column(String(16))
    # "account:<id>" for a customer, the staff member's ref (``slack:T:U``) for staff.
    author: Mapped[str] = mapped_column(String(128))
    author_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    # "slack", "mail" or "web".
    via: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    # A customer's mail: its Message-ID; an answer: the Message-ID of the mail we sent.
    message_id: Mapped[str | None] = mapped_column(String(998))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_inquiry_messages_thread", "inquiry_id", "id"),
        Index("ix_inquiry_messages_message_id", "message_id"),
    )
