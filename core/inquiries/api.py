"""The public API of ``core.inquiries`` in one place (see the package's docstring);
the package loads it on first use."""

from __future__ import annotations

from core.inquiries.access import customer_account_id
from core.inquiries.conversation import Replied, answer, note, reply
from core.inquiries.lifecycle import assign, auto_close, close
from core.inquiries.numbers import (
    OPEN_STATUSES,
    OTHER_PRODUCT,
    STATUSES,
    SUBJECT_TAG,
    Status,
    format_number,
    parse_number,
)
from core.inquiries.opening import MAX_BODY, MAX_SUBJECT, open_inquiry, products_for
from core.inquiries.reading import PAGE_SIZE, list_for_staff, list_for_user, overdue, show, threaded
from core.inquiries.views import FileView, InquiryDetail, InquiryPage, InquirySummary, MessageView, Opened

__all__ = [
    "MAX_BODY",
    "MAX_SUBJECT",
    "OPEN_STATUSES",
    "OTHER_PRODUCT",
    "PAGE_SIZE",
    "STATUSES",
    "SUBJECT_TAG",
    "FileView",
    "InquiryDetail",
    "InquiryPage",
    "InquirySummary",
    "MessageView",
    "Opened",
    "Replied",
    "Status",
    "answer",
    "assign",
    "auto_close",
    "close",
    "customer_account_id",
    "format_number",
    "list_for_staff",
    "list_for_user",
    "note",
    "open_inquiry",
    "overdue",
    "parse_number",
    "products_for",
    "reply",
    "show",
    "threaded",
]
