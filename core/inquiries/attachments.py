"""Where an inquiry message's files join it (SPEC §4.8): the one hook, and the one check.

Files are kept in the attachment store (``core.attachments``: bytes in the database,
sniffed types, sanitised names, signed links) under ``OWNER_KIND`` and the message's id,
in the transaction that stores the message: the message and its files are committed
together, or neither. ``refused_fields`` is checked with the other fields before
anything is written, so a refusal (too large, too many: ``attachments.too_large`` /
``attachments.too_many``) is a ``ValidationFailed`` on the ``attachments`` field — the
Slack modals' block — and stores nothing.

What a door does with files it could not keep differs: the Slack modals refuse the
submission; mail is never lost, so the mail door hands the inquiry its refusal
(``Refused``) instead of the files, and the staff post (and, for a new inquiry, the
acknowledgement) says why none was kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core import attachments, audit
from core.actors import Actor
from core.attachments import AttachmentInfo, Incoming
from core.config import Settings
from core.inquiries.tables import InquiryMessage
from core.unit_of_work import UnitOfWork

MAX_ATTACHMENTS = attachments.MAX_FILES
# The owner of an inquiry message's rows in the attachment store.
OWNER_KIND = "inquiry_message"

# Files a mail carried that could not be kept: the staff post's ``attachments_refused``
# ({"message_id", "params", "files": [[name, size], …]}, as the contact window's).
Refused = dict[str, Any]


def refused_fields(settings: Settings, files: Sequence[Incoming], errors: dict[str, str]) -> dict[str, Any]:
    """Why ``files`` cannot be kept, added to ``errors`` under ``attachments``; returns the
    message's parameters (file name and limit, or count and limit)."""
    refused = attachments.refusal(settings, files)
    if refused is None:
        return {}
    errors["attachments"] = refused.message_id
    return dict(refused.params)


async def keep_attachments(
    uow: UnitOfWork, actor: Actor, message: InquiryMessage, files: Sequence[Incoming]
) -> list[AttachmentInfo]:
    """Store ``files`` with ``message`` in the caller's transaction (all or none; the
    caller checked them with ``refused_fields``)."""
    if not files:
        return []
    stored = await attachments.store(uow, OWNER_KIND, message.id, files)
    audit.record(
        uow,
        actor,
        "inquiry.attachments_received",
        inquiry=message.inquiry_id,
        count=len(stored),
        size=sum(f.size for f in stored),
    )
    return stored


def listed(stored: Sequence[AttachmentInfo]) -> list[dict[str, Any]]:
    """A staff post's or a mail's ``attachments`` list (``core.attachments.with_links``
    gives each a fresh signed link when it is rendered)."""
    return [info.summary() for info in stored]
