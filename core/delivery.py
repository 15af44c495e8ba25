"""Claiming and settling outbox rows (SPEC §6, §9), and where staff posts go: the rules
of the outbox worker (``core.outbox_worker`` runs them through the ports of ``core.ports``).

A row goes ``pending → sending → sent | failed``. Claiming is one short transaction:
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so instances never take the same row; on
SQLite every write transaction is ``BEGIN IMMEDIATE`` (``core.storage``), which makes the
claim single-writer by construction. A worker that dies while "sending" leaves the row
claimed; after ``STALE_AFTER`` any worker puts it back to "pending". Delivery is
therefore at least once; the Message-ID fixed at enqueue time lets receivers de-duplicate.

Staff posts (channel "slack", SPEC §4.6): a new request is a post of its own, and where
it landed is remembered on the request; a follow-up is a reply in that post's thread, so
it waits (retried with backoff) until its parent is posted (``post_for_staff``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from core import audit, contact_window
from core.actors import Actor
from core.clock import aware
from core.models import OutboxMessage
from core.ports import PostRef, StaffChannel
from core.unit_of_work import Core, UnitOfWork

STALE_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 10
BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 3600.0
SYSTEM_OUTBOX = Actor(kind="system", ref="outbox", door="mail")
# The staff posts of a contact-window request (``core.contact_window`` queues them).
REQUEST_NEW = "request_new"
REQUEST_FOLLOWUP = "request_followup"


class ParentNotPosted(RuntimeError):
    """Raised when a follow-up's request has no post in the staff channel yet (retried)."""


@dataclass
class Claimed:
    id: int
    channel: str
    template: str
    locale: str
    recipients: list[str]
    context: dict[str, Any]
    secrets: dict[str, Any]
    headers: dict[str, Any]
    message_id: str
    attempts: int
    created_at: Any


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter between half and one and a half times."""
    base = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** max(0, attempts - 1))
    factor = 0.5 + (rng or random).random()
    return timedelta(seconds=base * factor)


async def requeue_stale(uow: UnitOfWork) -> int:
    """Rows a dead worker left in "sending" go back to the queue."""
    now = uow.clock.now()
    result = await uow.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - STALE_AFTER)
        .values(status="pending", next_attempt_at=now, claimed_by=None)
    )
    await uow.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def claim(uow: UnitOfWork, worker: str, channels: tuple[str, ...], limit: int = 20) -> list[Claimed]:
    now = uow.clock.now()
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.channel.in_(channels),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list((await uow.session.scalars(query)).all())
    claimed = []
    for row in rows:
        row.status = "sending"
        row.claimed_at = now
        row.claimed_by = worker
        row.attempts += 1
        claimed.append(
            Claimed(
                id=row.id,
                channel=row.channel,
                template=row.template,
                locale=row.locale,
                recipients=list(row.recipients or []),
                context=dict(row.context or {}),
                secrets=uow.sealer.open(row.sealed),
                headers=dict(row.headers or {}),
                message_id=row.message_id,
                attempts=row.attempts,
                created_at=aware(row.created_at),
            )
        )
    await uow.commit()
    return claimed


async def _row(uow: UnitOfWork, row_id: int, worker: str) -> OutboxMessage | None:
    row = await uow.session.get(OutboxMessage, row_id, with_for_update=True)
    if row is None or row.status != "sending" or row.claimed_by != worker:
        return None  # re-queued meanwhile and taken by someone else: theirs now
    return row


async def mark_sent(uow: UnitOfWork, row_id: int, worker: str) -> None:
    row = await _row(uow, row_id, worker)
    if row is None:
        return
    row.status = "sent"
    row.sent_at = uow.clock.now()
    row.sealed = ""  # the link with its token leaves the database with the mail
    row.last_error = ""
    await uow.commit()


async def mark_retry(
    uow: UnitOfWork, row_id: int, worker: str, error: str, *, recipients: list[str] | None = None
) -> bool:
    """Back off and try again later; after ``MAX_ATTEMPTS`` give up (``False``)."""
    row = await _row(uow, row_id, worker)
    if row is None:
        return True
    if row.attempts >= MAX_ATTEMPTS:
        await _give_up(uow, row, error, row.recipients or [])
        return False
    row.status = "pending"
    row.claimed_by = None
    row.last_error = error[:2000]
    row.next_attempt_at = uow.clock.now() + retry_delay(row.attempts)
    if recipients is not None:
        row.recipients = recipients
    await uow.commit()
    return True


async def mark_failed(uow: UnitOfWork, row_id: int, worker: str, error: str, recipients: list[str]) -> None:
    """A permanent refusal (5xx): stop, remember the address as bouncing, tell staff."""
    row = await _row(uow, row_id, worker)
    if row is None:
        return
    await _give_up(uow, row, error, recipients)


async def record_refused(uow: UnitOfWork, template: str, recipients: list[str], error: str) -> None:
    """Some recipients of a mail that was otherwise delivered were refused for good."""
    await _alert_refused(uow, template, recipients, error)
    await uow.commit()


async def _give_up(uow: UnitOfWork, row: OutboxMessage, error: str, recipients: list[str]) -> None:
    row.status = "failed"
    row.sealed = ""
    row.last_error = error[:2000]
    row.claimed_by = None
    if row.channel == "mail":
        await _alert_refused(uow, row.template, recipients, error)
    audit.record(uow, SYSTEM_OUTBOX, "outbox.failed", outbox=row.id, template=row.template, error=error[:200])
    await uow.commit()


async def _alert_refused(uow: UnitOfWork, template: str, recipients: list[str], error: str) -> None:
    """Recipients refused for good are marked bouncing, and staff are told: one alert
    naming a few of them, at most one per window (``core.contact_window.bounces``), so a
    relay refusing a burst of mail does not become a burst of posts."""
    marked = await contact_window.mark_bouncing(uow, SYSTEM_OUTBOX, [(a, error) for a in recipients[:100]])
    await contact_window.alert_bounces(
        uow, SYSTEM_OUTBOX, "contact.alert.delivery_failed", marked, template=template, reason=error[:300]
    )


# -- staff posts --------------------------------------------------------------------------


async def post_for_staff(core: Core, staff: StaffChannel, row: Claimed) -> None:
    """One claimed row of channel "slack" into the staff channel.

    Rows are claimed oldest first, but a request's post may fail and come back after its
    follow-up: the follow-up then raises ``ParentNotPosted`` and is retried later. The
    parent's place comes from the row (known when it was queued) or else from the request.
    Its transactions are the worker's: background work.
    """
    context = row.context
    if row.template == REQUEST_FOLLOWUP:
        parent = _post_ref(context.get("channel"), context.get("thread_ts"))
        if parent is None:
            async with core.uow(background=True) as uow:
                parent = _post_ref(*await contact_window.slack_thread(uow, int(context["number"])))
        if parent is None:
            raise ParentNotPosted("parent post not delivered yet")
        await staff.reply(parent, row.template, row.locale, context)
        return
    posted = await staff.post(row.template, row.locale, context)
    if row.template == REQUEST_NEW:
        async with core.uow(background=True) as uow:
            await contact_window.record_slack_post(uow, int(context["number"]), posted.channel, posted.ts)


def _post_ref(channel: Any, ts: Any) -> PostRef | None:
    return PostRef(str(channel), str(ts)) if channel and ts else None
