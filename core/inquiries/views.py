"""What the inquiry services answer: plain frozen values the doors render, never ORM
objects. Dates are dates (the doors write them as 2026年12月8日（火）), times are aware.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.inquiries.numbers import Status, format_number


@dataclass(frozen=True)
class InquirySummary:
    """One line of a list: number, status, subject, asker, due date, updated."""

    number: int
    support_id: str | None
    product_family: str
    subject: str
    status: Status
    asker: str  # the asker's display name
    due_on: date
    updated_at: datetime
    overdue: bool
    assignee: str | None = None

    @property
    def label(self) -> str:
        return format_number(self.number)


@dataclass(frozen=True)
class InquiryPage:
    items: tuple[InquirySummary, ...]
    page: int  # from 1
    has_more: bool


@dataclass(frozen=True)
class FileView:
    """A message's file as a reader of the inquiry is offered it: name, size and a signed
    download link (``core.attachments.link``) made for this reader when the inquiry was
    shown, good until ``InquiryDetail.links_until``."""

    id: int
    name: str
    size: int
    content_type: str
    url: str


@dataclass(frozen=True)
class MessageView:
    kind: str  # "customer", "answer" or "note" (notes only ever reach staff)
    author: str  # a display name for customers, the staff ref for staff
    via: str
    body: str
    created_at: datetime
    # Its files with fresh signed links: only ever made for a reader who may see it.
    files: tuple[FileView, ...] = ()


@dataclass(frozen=True)
class InquiryDetail:
    summary: InquirySummary
    asker_email: str
    received_at: datetime
    answered_at: datetime | None
    autoclose_on: date | None
    closed_at: datetime | None
    previous: int | None
    messages: tuple[MessageView, ...]
    # What the reader may do now (the doors show buttons for these).
    can_reply: bool
    can_close: bool
    # The last moment the files' links work (MADOGUCHI_ATTACHMENT_LINK_DAYS from now).
    links_until: datetime | None = None

    @property
    def number(self) -> int:
        return self.summary.number

    @property
    def label(self) -> str:
        return self.summary.label


@dataclass(frozen=True)
class Opened:
    """What opening (or a follow-up that had to open a new inquiry) gives back."""

    number: int
    due_on: date
    previous: int | None = None

    @property
    def label(self) -> str:
        return format_number(self.number)
