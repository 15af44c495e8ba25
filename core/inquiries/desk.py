"""The staff side of an inquiry's post in Slack (SPEC §4.8): what the post shows, when
it is shown again, and what staff write in its thread.

* Whenever an inquiry's status (or its assignee) changes, ``status_changed`` queues two
  staff posts in the change's own transaction: a line in the post's thread saying what
  happened (``inquiry_followup``) and ``inquiry_status``, which makes the outbox worker
  show the parent post again (``chat.update``). The update carries only the number: the
  worker reads the inquiry as it is *then* (``post_context``), so two updates delivered
  out of order still leave the post showing the latest status. It shows what the new
  post showed (the first message's files too, with fresh links) besides the status.
* What staff type in the post's thread is theirs: ``note_from_thread`` keeps it as an
  internal note (``conversation.note``), which is never mailed — only
  ``conversation.answer`` sends staff text to a customer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import attachments
from core.inquiries import notifications
from core.inquiries.attachments import OWNER_KIND, listed
from core.inquiries.numbers import format_number
from core.inquiries.tables import Inquiry, InquiryMessage
from core.models import Account, Company, SupportId
from core.outbox import enqueue_slack
from core.unit_of_work import UnitOfWork

# The outbox kind that shows an inquiry's post again with its current status.
STAFF_STATUS = "inquiry_status"


def status_changed(uow: UnitOfWork, inquiry: Inquiry, *, kind: str, author: str, body: str = "") -> None:
    """Queue the thread line for a change (``kind``: answer, assigned, closed,
    auto_closed, reopened) and the parent post's update."""
    notifications.queue_staff_followup(uow, inquiry, author=author, body=body, kind=kind)
    queue_post_update(uow, inquiry.id)


def queue_post_update(uow: UnitOfWork, number: int) -> None:
    enqueue_slack(
        uow,
        STAFF_STATUS,
        {"number": number, "inquiry": format_number(number)},
        locale=uow.settings.locale,
    )


async def post_context(uow: UnitOfWork, number: int) -> tuple[str | None, str | None, dict[str, Any]]:
    """Where the inquiry's post is and what it shows now: the context of
    ``inquiry_new`` (the door renders both the same way) from the stored inquiry."""
    inquiry = await uow.session.get(Inquiry, number)
    if inquiry is None:
        return None, None, {}
    asker = await uow.session.get(Account, inquiry.asker_account_id)
    company = (
        await uow.session.scalar(select(Company.name).where(Company.id == asker.company_id))
        if asker
        else None
    )
    support_id = (
        await uow.session.scalar(select(SupportId.name).where(SupportId.id == inquiry.support_id_id))
        if inquiry.support_id_id is not None
        else None
    )
    first = (
        await uow.session.execute(
            select(InquiryMessage.id, InquiryMessage.body)
            .where(InquiryMessage.inquiry_id == number, InquiryMessage.kind == "customer")
            .order_by(InquiryMessage.id)
            .limit(1)
        )
    ).first()
    # The first message's files, as the post listed them when it was new (their links
    # are signed when it is rendered, ``core.attachments.with_links``).
    files = await attachments.for_owner(uow, OWNER_KIND, int(first[0])) if first is not None else []
    context: dict[str, Any] = {
        "number": inquiry.id,
        "inquiry": format_number(inquiry.id),
        "company": company or "",
        "support_id": support_id or "",
        "product": inquiry.product_family,
        "asker": f"{asker.last_name} {asker.first_name}".strip() if asker else "",
        "due_on": inquiry.due_on.isoformat(),
        "subject": inquiry.subject,
        "excerpt": (first[1] if first is not None else "")[: notifications.EXCERPT],
        "attachments": listed(files),
        "status": inquiry.status,
        "assignee": inquiry.assignee or "",
    }
    return inquiry.slack_channel, inquiry.slack_ts, context


async def by_staff_post(uow: UnitOfWork, channel: str, ts: str) -> int | None:
    """The inquiry whose staff post is ``ts`` in ``channel`` (ix_inquiries_slack_post)."""
    if not channel or not ts:
        return None
    found = await uow.session.scalar(
        select(Inquiry.id).where(Inquiry.slack_channel == channel, Inquiry.slack_ts == ts).limit(1)
    )
    return int(found) if found is not None else None
