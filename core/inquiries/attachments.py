"""Where an inquiry message's attachments join it (SPEC §4.8): the one hook.

The attachment store (``core.attachments``: rows by ``owner_kind``/``owner_id``, the
bytes stored durably, signed links) is built on its own branch. Until it is here, the
services accept attachments as a list, check their number (≤ 10 per message, a refusal
on the ``attachments`` field) and call ``keep_attachments``, which records how many
came; the store's ``store(uow, OWNER_KIND, message.id, files)`` goes into it and
nothing else in this package has to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from core import audit
from core.actors import Actor
from core.inquiries.tables import InquiryMessage
from core.unit_of_work import UnitOfWork

MAX_ATTACHMENTS = 10
# The owner of an attachment row in the attachment store.
OWNER_KIND = "inquiry_message"


async def keep_attachments(
    uow: UnitOfWork, actor: Actor, message: InquiryMessage, attachments: Sequence[object]
) -> None:
    """Attach ``attachments`` to ``message`` in the caller's transaction."""
    if not attachments:
        return
    audit.record(
        uow, actor, "inquiry.attachments_received", inquiry=message.inquiry_id, count=len(attachments)
    )
