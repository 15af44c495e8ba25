"""Acknowledging a new request (SPEC §4.6): whether this sender may get one now, and the
``request_ack`` mail itself with its expected answer date.

An acknowledgement is an automatic mail, so it is where mail loops and floods start: at
most one per sender per hour and five per day, none to an address that bounced lately,
and a global breaker that alerts staff once per window. Separate because these limits
and the answer date (business days, in JST) are a policy of their own; intake only asks
"may I?" and "do it".
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from core import audit
from core.business_days import calendar_for
from core.clock import aware
from core.config import Settings
from core.contact_window.addresses import SYSTEM_MAIL, format_number, reply_address, thread_headers
from core.contact_window.assessment import IncomingMail
from core.contact_window.batch import Batch, BatchRequest
from core.messages import render
from core.models import AuditRecord
from core.outbox import enqueue_slack, mail_values
from core.unit_of_work import UnitOfWork

LOOP_HEADER = "X-Madoguchi-Loop"
ACK_PER_HOUR = 1
ACK_PER_DAY = 5
BOUNCE_MEMORY = timedelta(days=60)


async def ack_refusal(uow: UnitOfWork, state: Batch, sender: str, sender_valid: bool) -> str | None:
    """The limit that forbids acknowledging this sender now, if any (SPEC §4.6)."""
    settings = uow.settings
    if not sender_valid:
        return "invalid-address"
    bounced = state.bounced.get(sender)
    if bounced is not None and aware(bounced) > state.now - BOUNCE_MEMORY:
        return "bounced"
    hour, day = state.acks.get(sender) or (0, 0)
    if hour >= ACK_PER_HOUR:
        return "per-hour"
    if day >= ACK_PER_DAY:
        return "per-day"
    if state.recent_acks >= settings.ack_breaker_limit:
        await _alert_breaker_once(uow, timedelta(minutes=settings.ack_breaker_window_minutes))
        return "breaker"
    return None


async def _alert_breaker_once(uow: UnitOfWork, window: timedelta) -> None:
    since = uow.clock.now() - window
    already = await uow.session.scalar(
        select(func.count())
        .select_from(AuditRecord)
        .where(AuditRecord.action == "contact.ack_breaker", AuditRecord.at > since)
    )
    if already:
        return
    enqueue_slack(
        uow,
        "staff_alert",
        {
            "message_id": "contact.alert.ack_breaker",
            "params": {
                "limit": uow.settings.ack_breaker_limit,
                "minutes": uow.settings.ack_breaker_window_minutes,
            },
        },
        locale=uow.settings.locale,
    )
    audit.record(uow, SYSTEM_MAIL, "contact.ack_breaker")


def warm_up(settings: Settings) -> None:
    """Build at start-up what the first acknowledgement would otherwise build, on the
    event loop while SMTP clients wait for their 250 (docs/performance.md)."""
    calendar_for(settings).is_business_day(date.today())


def answer_date(uow: UnitOfWork) -> str:
    """The answer date promised for a request received now (cut-off and closed days
    counted, SPEC §4.10), as an ISO date."""
    calendar = calendar_for(uow.settings)
    return calendar.answer_due(uow.clock.now(), uow.settings.answer_business_days).isoformat()


def acknowledge(
    uow: UnitOfWork,
    state: Batch,
    request: BatchRequest,
    mail: IncomingMail,
    sender: str,
    files_refused: tuple[str, dict[str, Any]] | None = None,
    *,
    inquiry_hint: bool = False,
) -> None:
    """Queue ``request_ack`` (threaded under the mail, marked automatic, answered at the
    request's signed address) and count it against the sender's limits and the breaker.

    When the mail's attachments could not be kept, the acknowledgement says why and what
    to do (``files_refused``: the catalog message of ``core.attachments``)."""
    headers = thread_headers(mail.references, mail.message_id or None)
    headers.update(
        {
            "Auto-Submitted": "auto-replied",
            "X-Auto-Response-Suppress": "All",
            LOOP_HEADER: uow.settings.contact_address,
            "Reply-To": reply_address(uow.settings, request.number),
        }
    )
    row = mail_values(
        uow,
        "request_ack",
        [sender],
        {
            "request": format_number(request.number),
            "subject": mail.subject,
            "answer_by": answer_date(uow),
            "name": mail.sender_name,
            "category": request.category,
            # The mail was for the inquiry address but could not become an inquiry: the
            # acknowledgement says how to address one (core.inquiries.by_mail).
            "inquiry_hint": inquiry_hint,
            "inquiry_address": uow.settings.inquiry_address,
            # Only when the files were refused: otherwise the context is the same as ever.
            **(
                {"attachments_note": render(files_refused[0], request.locale, **files_refused[1])}
                if files_refused
                else {}
            ),
        },
        locale=request.locale,
        headers=headers,
    )
    state.outbox.append(row)
    state.ack_rows.append((request, sender))
    counts = state.acks.setdefault(sender, [0, 0])
    counts[0] += 1
    counts[1] += 1
    state.recent_acks += 1
    state.add_message(
        request,
        {
            "direction": "auto",
            "message_id": row["message_id"],
            "sender": uow.settings.mail_from,
            "subject": "",
            "body": "",
            "author": "system",
            "created_at": state.now,
        },
    )
