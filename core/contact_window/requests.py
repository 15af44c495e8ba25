"""The staff desk for contact-window requests (SPEC §4.7): list the open ones, show one
with its mail, assign, answer by mail, close; and the bookkeeping of each request's
staff-channel post, so follow-ups become replies in its thread.

Staff actors only. A request is named by its number in any spelling staff type
(``REQ-000123``, ``123``). Separate because these are staff use cases on requests that
already exist, called from the Slack door, while intake creates them from mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from core import audit, staff
from core.actors import Actor
from core.clock import aware
from core.contact_window.addresses import (
    SUBJECT_TAG,
    format_number,
    parse_number,
    reply_address,
    thread_headers,
    valid_recipient,
)
from core.errors import NotFound
from core.models import Request, RequestMessage
from core.outbox import enqueue_mail, enqueue_slack, new_message_id
from core.unit_of_work import UnitOfWork


@dataclass
class RequestSummary:
    """One request as the desk lists it."""

    number: int
    request: str
    status: str
    category: str
    sender: str
    subject: str
    assignee: str | None
    created_at: datetime
    closed_at: datetime | None


@dataclass
class MessageView:
    """One mail of a request (customer's or staff's; acknowledgements are left out)."""

    direction: str
    sender: str
    subject: str
    body: str
    author: str
    created_at: datetime


@dataclass
class RequestDetail:
    """A request with its mail, oldest first."""

    summary: RequestSummary
    messages: list[MessageView]


async def record_slack_post(uow: UnitOfWork, number: int, channel: str, ts: str) -> None:
    """The staff-channel post of a request, so follow-ups become thread replies."""
    request = (await uow.session.scalars(select(Request).where(Request.number == number))).first()
    if request is not None:
        request.slack_channel = channel
        request.slack_ts = ts
        await uow.commit()


async def slack_thread(uow: UnitOfWork, number: int) -> tuple[str | None, str | None]:
    """The channel and ts of a request's staff-channel post, if it was posted."""
    row = (
        await uow.session.execute(
            select(Request.slack_channel, Request.slack_ts).where(Request.number == number)
        )
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def alert_staff(uow: UnitOfWork, message_id: str, **params: Any) -> None:
    """Queue a staff-channel alert (a catalog message id and its parameters)."""
    enqueue_slack(
        uow, "staff_alert", {"message_id": message_id, "params": params}, locale=uow.settings.locale
    )


def _summary(request: Request) -> RequestSummary:
    return RequestSummary(
        number=request.number,
        request=format_number(request.number),
        status=request.status,
        category=request.category,
        sender=request.sender,
        subject=request.subject,
        assignee=request.assignee,
        created_at=aware(request.created_at),
        closed_at=aware(request.closed_at) if request.closed_at else None,
    )


async def _get(uow: UnitOfWork, req: str | int) -> Request:
    number = parse_number(req)
    request = None
    if number is not None:
        request = (await uow.session.scalars(select(Request).where(Request.number == number))).first()
    if request is None:
        raise NotFound("contact.request_not_found", request=str(req))
    return request


async def list_open(uow: UnitOfWork, actor: Actor, limit: int = 50) -> list[RequestSummary]:
    staff.require_staff(actor)
    rows = await uow.session.scalars(
        select(Request).where(Request.status == "open").order_by(Request.number).limit(limit)
    )
    return [_summary(r) for r in rows.all()]


async def show(uow: UnitOfWork, actor: Actor, req: str | int) -> RequestDetail:
    staff.require_staff(actor)
    request = await _get(uow, req)
    rows = await uow.session.scalars(
        select(RequestMessage)
        .where(RequestMessage.request_id == request.id, RequestMessage.direction != "auto")
        .order_by(RequestMessage.id)
    )
    messages = [
        MessageView(m.direction, m.sender, m.subject, m.body, m.author, aware(m.created_at))
        for m in rows.all()
    ]
    return RequestDetail(_summary(request), messages)


async def assign(uow: UnitOfWork, actor: Actor, req: str | int, assignee: str) -> RequestSummary:
    staff.require_staff(actor)
    request = await _get(uow, req)
    request.assignee = assignee[:64]
    audit.record(
        uow,
        actor,
        "contact.assigned",
        account_id=request.account_id,
        request=request.number,
        assignee=assignee,
    )
    await uow.commit()
    return _summary(request)


async def close(uow: UnitOfWork, actor: Actor, req: str | int) -> RequestSummary:
    staff.require_staff(actor)
    request = await _get(uow, req)
    if request.status != "closed":
        request.status = "closed"
        request.closed_at = uow.clock.now()
        audit.record(uow, actor, "contact.closed", account_id=request.account_id, request=request.number)
        await uow.commit()
    return _summary(request)


async def reply(uow: UnitOfWork, actor: Actor, req: str | int, body: str) -> RequestSummary:
    """Staff answer by mail, threaded under the customer's last message, ``[REQ-…]`` in
    the subject and our signed reply address, so the customer's answer comes back here."""
    staff.require_staff(actor)
    request = await _get(uow, req)
    if not valid_recipient(uow.settings, request.sender):
        raise NotFound("contact.no_reply_address", request=format_number(request.number))
    messages = list(
        (
            await uow.session.scalars(
                select(RequestMessage)
                .where(RequestMessage.request_id == request.id, or_(RequestMessage.direction != "auto"))
                .order_by(RequestMessage.id)
            )
        ).all()
    )
    inbound = [m for m in messages if m.direction == "in"]
    parent = inbound[-1].message_id if inbound else None
    references = [m.message_id for m in messages if m.direction in ("in", "out")][-20:]
    message_id = new_message_id(uow)
    headers = thread_headers([r for r in references if r != parent], parent)
    headers["Reply-To"] = reply_address(uow.settings, request.number)
    subject = SUBJECT_TAG.sub("", request.subject).strip()
    enqueue_mail(
        uow,
        "staff_reply",
        [request.sender],
        {"request": format_number(request.number), "subject": subject, "body": body},
        locale=request.locale,
        headers=headers,
        message_id=message_id,
    )
    uow.session.add(
        RequestMessage(
            request_id=request.id,
            direction="out",
            message_id=message_id,
            sender=uow.settings.mail_from,
            subject=subject,
            body=body,
            author=actor.ref[:64],
            created_at=uow.clock.now(),
        )
    )
    audit.record(uow, actor, "contact.replied", account_id=request.account_id, request=request.number)
    await uow.commit()
    return _summary(request)
