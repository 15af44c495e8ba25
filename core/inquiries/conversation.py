"""The thread of an inquiry (SPEC §4.8): the customer writes (``reply``), staff answer
(``answer``) or note something for each other (``note``).

``answer`` is the only function in the product that sends a customer what staff wrote
(the 回答する modal and ``/support-admin answer`` call it); a note and anything typed in
the staff post's thread stay internal. A customer message reopens an answered inquiry,
and a closed one within 30 days; after that it opens a new inquiry that links the old
one, so nobody writes into a case long forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from core import audit, staff
from core.actors import Actor
from core.attachments import Incoming
from core.config import Settings
from core.errors import Conflict, ValidationFailed
from core.inquiries import desk, lifecycle, notifications
from core.inquiries.access import customer_account_id, visible
from core.inquiries.attachments import MAX_ATTACHMENTS, Refused, keep_attachments, listed, refused_fields
from core.inquiries.numbers import format_number
from core.inquiries.opening import MAX_BODY, MAX_SUBJECT
from core.inquiries.storing import Opening, Question, add_customer_message, store
from core.inquiries.tables import Inquiry, InquiryMessage
from core.inquiries.views import Opened
from core.models import Account, SupportId
from core.support_ids.views import display_name
from core.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Replied:
    """Where a customer message went: into ``number`` (``reopened`` when that changed
    its status), or into a new inquiry (``opened``) linking a closed one."""

    number: int
    reopened: bool
    opened: Opened | None = None

    @property
    def label(self) -> str:
        return format_number(self.opened.number if self.opened else self.number)


def check_body(settings: Settings, body: str, attachments: Sequence[Incoming] = ()) -> str:
    errors: dict[str, str] = {}
    body = body.strip()
    if not body:
        errors["body"] = "inquiry.body_required"
    elif len(body) > MAX_BODY:
        errors["body"] = "inquiry.body_too_long"
    params = refused_fields(settings, attachments, errors)
    if errors:
        raise ValidationFailed(
            errors, max_body=MAX_BODY, max_subject=MAX_SUBJECT, max_attachments=MAX_ATTACHMENTS, **params
        )
    return body


async def _support_id_name(uow: UnitOfWork, inquiry: Inquiry) -> str | None:
    if inquiry.support_id_id is None:
        return None
    return await uow.session.scalar(select(SupportId.name).where(SupportId.id == inquiry.support_id_id))


async def reply(
    uow: UnitOfWork,
    actor: Actor,
    number: str | int,
    body: str,
    attachments: Sequence[Incoming] = (),
    *,
    attachments_refused: Refused | None = None,
    message_id: str | None = None,
    commit: bool = True,
) -> Replied:
    """A customer's message (the asker or a contact of its support ID) with its files
    (all kept, or a ``ValidationFailed`` on ``attachments`` and nothing stored; a mail's
    refused ones as ``attachments_refused``, told to staff). Committed unless
    ``commit=False`` (the mail intake commits a batch at once)."""
    account_id = await customer_account_id(uow, actor)
    inquiry = await visible(uow, actor, number, lock=True)
    body = check_body(uow.settings, body, attachments)
    account = await uow.session.get(Account, account_id)
    assert account is not None
    now = uow.clock.now()
    if inquiry.status == "closed" and not lifecycle.may_reopen(inquiry, now):
        question = Question(inquiry.subject, body, attachments, attachments_refused, message_id)
        name = await _support_id_name(uow, inquiry)
        opening = Opening(
            actor, account, question, inquiry.support_id_id, name, inquiry.product_family, inquiry.id
        )
        [opened] = await store(uow, [opening])
        if commit:
            await uow.commit()
        return Replied(number=inquiry.id, reopened=False, opened=opened)
    stored = await add_customer_message(uow, actor, account, inquiry.id, body, message_id, attachments)
    reopened = lifecycle.reopen(uow, inquiry)
    inquiry.updated_at = now
    audit.record(
        uow,
        actor,
        "inquiry.reopened" if reopened else "inquiry.customer_message",
        support_id_id=inquiry.support_id_id,
        inquiry=inquiry.id,
    )
    notifications.queue_staff_followup(
        uow,
        inquiry,
        author=display_name(account),
        body=body,
        kind="customer",
        attachments=listed(stored),
        attachments_refused=attachments_refused,
    )
    if reopened:
        desk.queue_post_update(uow, inquiry.id)
    if commit:
        await uow.commit()
    return Replied(number=inquiry.id, reopened=reopened)


async def answer(
    uow: UnitOfWork, actor: Actor, number: str | int, body: str, attachments: Sequence[Incoming] = ()
) -> Inquiry:
    """Staff answer the customer: stored, mailed to the asker with the CC addresses in
    Cc (threaded, ``[INQ-…]`` in the subject, the auto-close rule stated, the files as
    MIME parts of the mail), 回答済み. The only way staff text reaches a customer.
    Committed."""
    staff.require_staff(actor)
    inquiry = await visible(uow, actor, number, lock=True)
    body = check_body(uow.settings, body, attachments)
    if inquiry.status == "closed":
        raise Conflict("inquiry.answer_closed", number=format_number(inquiry.id))
    now = uow.clock.now()
    message = InquiryMessage(
        inquiry_id=inquiry.id,
        kind="answer",
        author=actor.ref[:128],
        via=actor.door,
        body=body,
        created_at=now,
    )
    uow.session.add(message)
    await uow.session.flush()
    stored = await keep_attachments(uow, actor, message, attachments)
    inquiry.status = "answered"
    inquiry.answered_at = now
    inquiry.autoclose_on = lifecycle.autoclose_day(uow, now)
    inquiry.updated_at = now
    if inquiry.assignee is None:
        inquiry.assignee = actor.ref[:64]
    asker = await uow.session.get(Account, inquiry.asker_account_id)
    message.message_id = await notifications.queue_answer(
        uow,
        inquiry,
        message,
        support_id=await _support_id_name(uow, inquiry),
        name=display_name(asker) if asker else "",
        files=stored,
    )
    audit.record(
        uow,
        actor,
        "inquiry.answered",
        account_id=inquiry.asker_account_id,
        support_id_id=inquiry.support_id_id,
        inquiry=inquiry.id,
    )
    desk.status_changed(uow, inquiry, kind="answer", author=actor.ref, body=body)
    await uow.commit()
    return inquiry


async def note(uow: UnitOfWork, actor: Actor, number: str | int, body: str) -> Inquiry:
    """Staff write something for each other; never sent, never shown to customers."""
    staff.require_staff(actor)
    inquiry = await visible(uow, actor, number, lock=True)
    body = check_body(uow.settings, body)
    now = uow.clock.now()
    uow.session.add(
        InquiryMessage(
            inquiry_id=inquiry.id,
            kind="note",
            author=actor.ref[:128],
            via=actor.door,
            body=body,
            created_at=now,
        )
    )
    audit.record(uow, actor, "inquiry.noted", support_id_id=inquiry.support_id_id, inquiry=inquiry.id)
    await uow.commit()
    return inquiry
