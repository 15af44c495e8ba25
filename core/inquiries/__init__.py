"""Inquiries (SPEC §4.8, §4.10): a customer asks about a contracted product, everyone on
the support ID shares the thread (担当者間で共有), staff answer.

Rules, and where each is enforced:

- Numbered ``INQ-000123`` from a counter that never repeats (``tables``, ``numbers``).
- Opened by an active account that is a contact of the support ID, for a product
  family in force today or ``その他``; any refusal names the field and stores nothing
  (``opening``, ``access.customer_account_id`` — the one check for pending accounts).
- Seen by the support ID's contacts, the asker and staff; anyone else gets the answer a
  number that does not exist gets (``access``, ``reading``).
- 受付 → 対応中 → 回答済み → 完了, reopened by a customer message, closed by itself
  after MADOGUCHI_INQUIRY_AUTOCLOSE_DAYS business days answered; a follow-up to one
  closed over 30 days ago opens a new one that links it (``lifecycle``,
  ``conversation``).
- Due MADOGUCHI_ANSWER_BUSINESS_DAYS business days after receipt, cut-off and closed
  days counted (``core.business_days``); overdue ones listed for staff (``reading``).
- Mail to the asker (CC addresses in Cc, threaded, ``[INQ-…]``) on opening and on each
  staff answer — ``conversation.answer`` is the only way staff text reaches a customer;
  posts for staff in the product's channel (``notifications``).
- Attachments join a message through one hook (``attachments``).

Mutating services commit; every change is audited (``inquiry.*``) with its support ID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """The services on first use. Why not at import: ``core.models`` imports this package
    for its tables while core is still loading, and the services import most of core."""
    if name not in __all__:
        # Submodules (``from core.inquiries import tables``) are found by the import system.
        raise AttributeError(f"module 'core.inquiries' has no attribute {name!r}")
    from core.inquiries import api  # loaded late on purpose (see above)

    return getattr(api, name)


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
