"""The public API of ``core.inquiries`` in one place (see the package's docstring);
the package loads it on first use."""
# ruff: noqa: F401

from __future__ import annotations

# The one list of names, the package's (it must know them without importing this module).
from core.inquiries import __all__ as __all__
from core.inquiries.access import customer_account_id
from core.inquiries.by_mail import threaded
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
from core.inquiries.reading import PAGE_SIZE, list_for_staff, list_for_user, overdue, show
from core.inquiries.views import FileView, InquiryDetail, InquiryPage, InquirySummary, MessageView, Opened
