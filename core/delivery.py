"""Claiming and settling outbox rows (SPEC §6, §9), and where staff posts go: the rules
of the outbox worker (``core.outbox_worker`` runs them through the ports of ``core.ports``).

A row goes ``pending → sending → sent | failed``. Rows are claimed a batch at a time and
settled a batch at a time: one short transaction each, whatever the batch's size, so
the database costs per batch and not per mail. Claiming takes ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so instances never take the same row; on SQLite every write transaction
is ``BEGIN IMMEDIATE`` (``core.storage``), which makes the claim single-writer by
construction. A worker that dies while "sending" leaves the row claimed; after
``STALE_AFTER`` any worker puts it back to "pending". Delivery is therefore at least
once; the Message-ID fixed at enqueue time lets receivers de-duplicate. Settling touches
only rows still claimed by the worker that settles them.

The rules of settling (``settle``): delivered → sent (recipients refused for good among
the others are marked bouncing and staff alerted); some recipients refused for now →
only those are tried again, with backoff; refused for good (5xx) → failed at once,
addresses marked, staff alerted; an error (network, 4xx for the whole mail, Slack down,
a template error) → the whole row again with backoff; after ``MAX_ATTEMPTS`` → failed
and staff alerted.

Every mail leaves with its own signed return path as the envelope sender (VERP,
``contact_window.return_path``): a delivery report comes back to an address that names
the mail it is about, and one we never sent cannot name any.

Staff posts (channel "slack", SPEC §4.6): a new request is a post of its own, and where
it landed is remembered on the request; a follow-up is a reply in that post's thread, so
it waits (retried with backoff) until its parent is posted (``post_for_staff``). An
inquiry's post is shown again (``inquiry_status``) whenever its status changes.
"""

from __future__ import annotations

import json
import random
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from sqlalchemy import Row, Table, Text, bindparam, cast, select, update

from core import attachments, audit, contact_window
from core.actors import Actor
from core.clock import aware
from core.config import Settings
from core.inquiries import desk as inquiry_desk
from core.inquiries import notifications as inquiry_posts
from core.models import OutboxMessage
from core.ports import MailOutcome, PostRef, StaffChannel
from core.sealing import Sealer
from core.unit_of_work import Core, UnitOfWork

STALE_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 10
BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 3600.0
SYSTEM_OUTBOX = Actor(kind="system", ref="outbox", door="mail")
# The staff posts of a contact-window request (``core.contact_window`` queues them).
REQUEST_NEW = "request_new"
REQUEST_FOLLOWUP = "request_followup"
# The staff posts of an inquiry (``core.inquiries`` queues them); the new one names its
# product's channel in its context.
INQUIRY_NEW = inquiry_posts.STAFF_NEW
INQUIRY_FOLLOWUP = inquiry_posts.STAFF_FOLLOWUP
# An inquiry's post shown again with its current status (``core.inquiries.desk``).
INQUIRY_STATUS = inquiry_desk.STAFF_STATUS

_OUTBOX = typing.cast(Table, OutboxMessage.__table__)
# The JSON columns come as their text and are read after the claim's commit: on SQLite
# the claim holds the one writer, and SMTP clients wait for it.
_COLUMNS = (
    _OUTBOX.c.id,
    _OUTBOX.c.channel,
    _OUTBOX.c.template,
    _OUTBOX.c.locale,
    cast(_OUTBOX.c.recipients, Text).label("recipients"),
    cast(_OUTBOX.c.context, Text).label("context"),
    _OUTBOX.c.sealed,
    cast(_OUTBOX.c.headers, Text).label("headers"),
    _OUTBOX.c.message_id,
    _OUTBOX.c.attempts,
    _OUTBOX.c.created_at,
)
# Settling many rows at once: one statement, executed for each row's parameters.
_RETRY = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(
        status="pending",
        claimed_by=None,
        last_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        recipients=bindparam("b_recipients"),
    )
)
_FAILED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(status="failed", sealed="", claimed_by=None, last_error=bindparam("b_error"))
)


class ParentNotPosted(RuntimeError):
    """Raised when a follow-up's request has no post in the staff channel yet (retried)."""


class Claimed:
    """A claimed outbox row. Its JSON columns, sealed secrets and return path are read the
    first time they are used, after the claim: on SQLite the claim's transaction holds
    the turn every SMTP client's ``250`` waits for, so it only fetches."""

    def __init__(
        self, row: Row[Any], sealer: Sealer, settings: Settings, *, now: datetime | None = None
    ) -> None:
        self.id: int = row.id
        self.channel: str = row.channel
        self.template: str = row.template
        self.locale: str = row.locale
        self.message_id: str = row.message_id
        self.attempts: int = row.attempts + 1  # this attempt
        self._row = row
        self._sealer = sealer
        self._settings = settings
        self._now = now
        # A mail's files as MIME parts (an inquiry answer's): read from the attachment
        # store by ``load_files`` just before sending; the row holds only their ids.
        self.files: list[tuple[attachments.AttachmentInfo, bytes]] = []

    @cached_property
    def recipients(self) -> list[str]:
        return list(_json(self._row.recipients) or [])

    @cached_property
    def context(self) -> dict[str, Any]:
        """The row's context; its ``attachments`` (``core.attachments``), if any, get fresh
        signed links here, when the mail or post is rendered: no link waits in the outbox."""
        context = dict(_json(self._row.context) or {})
        if self._now is not None and isinstance(context.get("attachments"), list):
            context = attachments.with_links(self._settings, context, self._now, self.locale)
        return context

    @cached_property
    def headers(self) -> dict[str, Any]:
        return dict(_json(self._row.headers) or {})

    @cached_property
    def secrets(self) -> dict[str, Any]:
        return self._sealer.open(self._row.sealed)

    @cached_property
    def created_at(self) -> datetime:
        return aware(self._row.created_at)

    @cached_property
    def return_path(self) -> str:
        """The envelope sender (MAIL FROM) of a mail: its own signed return path."""
        return contact_window.return_path(self._settings, self.id) if self.channel == "mail" else ""


async def load_files(core: Core, row: Claimed) -> None:
    """Read the files a mail carries as MIME parts (``inquiry_posts.MIME_FILES`` in its
    context: ids, never bytes) into ``row.files``. A file gone since is left out."""
    wanted = row.context.get(inquiry_posts.MIME_FILES) if row.channel == "mail" else None
    if not isinstance(wanted, list) or not wanted or row.files:
        return
    ids = [int(entry["id"]) for entry in wanted if isinstance(entry, dict) and "id" in entry]
    async with core.uow(background=True) as uow:
        row.files = await attachments.contents(uow, ids)


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


Result = Literal["sent", "retry", "failed", "taken"]


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of one row, for the worker's log line and counters. ``taken``: the
    row was re-queued meanwhile (its worker looked dead) and is another worker's now."""

    row: Claimed
    result: Result
    detail: str


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
    """Up to ``limit`` due rows, oldest first, marked "sending" by ``worker``: two
    statements however many rows."""
    now = uow.clock.now()
    query = (
        select(*_COLUMNS)
        .where(
            _OUTBOX.c.status == "pending",
            _OUTBOX.c.next_attempt_at <= now,
            _OUTBOX.c.channel.in_(channels),
        )
        .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await uow.session.execute(query)).all()
    if not rows:
        await uow.commit()
        return []
    await uow.session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_([row.id for row in rows]))
        .values(status="sending", claimed_at=now, claimed_by=worker, attempts=_OUTBOX.c.attempts + 1)
    )
    await uow.commit()
    return [Claimed(row, uow.sealer, uow.settings, now=now) for row in rows]


# -- settling -----------------------------------------------------------------------------


async def settle(uow: UnitOfWork, worker: str, done: Sequence[tuple[Claimed, MailOutcome]]) -> list[Settled]:
    """Settle a delivered batch in this one transaction (committed here).

    ``done`` pairs each claimed row with what its delivery came to; an error is a
    ``deferred`` outcome without ``retry`` (every recipient again).
    """
    sent: list[Claimed] = []
    retries: list[tuple[Claimed, str, list[str] | None]] = []
    failures: list[tuple[Claimed, str, list[str]]] = []
    partly_refused: list[tuple[Claimed, MailOutcome]] = []
    for row, outcome in done:
        if outcome.status == "refused":
            failures.append((row, outcome.detail, row.recipients))
            continue
        if outcome.refused:
            partly_refused.append((row, outcome))
        if outcome.status == "deferred":
            retries.append((row, outcome.detail, None if outcome.retry is None else list(outcome.retry)))
        else:
            sent.append(row)
    settled = [Settled(row, "sent", "") for row in sent]
    await mark_sent(uow, worker, [row.id for row in sent])
    for row, outcome in partly_refused:
        await _alert_refused(uow, row.template, list(outcome.refused), outcome.detail)
    settled += await mark_retry(uow, worker, retries)
    settled += await mark_failed(uow, worker, failures)
    await uow.commit()
    return settled


async def mark_sent(uow: UnitOfWork, worker: str, ids: Sequence[int]) -> None:
    """Sent: one statement for the batch. The link with its token leaves the database
    with the mail (``sealed`` erased)."""
    if not ids:
        return
    await uow.session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.status == "sending", _OUTBOX.c.claimed_by == worker)
        .values(status="sent", sent_at=uow.clock.now(), sealed="", last_error="")
    )


async def mark_retry(
    uow: UnitOfWork, worker: str, retries: Sequence[tuple[Claimed, str, list[str] | None]]
) -> list[Settled]:
    """Back off and try again later (only ``recipients`` when given); a row that has had
    ``MAX_ATTEMPTS`` is given up instead."""
    if not retries:
        return []
    owned = await _still_ours(uow, worker, [row.id for row, _e, _r in retries])
    now = uow.clock.now()
    again: list[dict[str, Any]] = []
    give_up: list[tuple[Claimed, str, list[str]]] = []
    settled: list[Settled] = []
    for row, error, recipients in retries:
        if row.id not in owned:
            settled.append(Settled(row, "taken", error))
        elif row.attempts >= MAX_ATTEMPTS:
            give_up.append((row, error, row.recipients))
        else:
            again.append(
                {
                    "b_id": row.id,
                    "b_error": error[:2000],
                    "b_next": now + retry_delay(row.attempts),
                    "b_recipients": row.recipients if recipients is None else recipients,
                }
            )
            settled.append(Settled(row, "retry", error))
    if again:
        await uow.session.execute(_RETRY, again)
    return settled + await _give_up(uow, give_up)


async def mark_failed(
    uow: UnitOfWork, worker: str, failures: Sequence[tuple[Claimed, str, list[str]]]
) -> list[Settled]:
    """Permanent refusals (5xx): stop, remember the addresses as bouncing, tell staff."""
    if not failures:
        return []
    owned = await _still_ours(uow, worker, [row.id for row, _e, _r in failures])
    taken = [Settled(row, "taken", error) for row, error, _r in failures if row.id not in owned]
    return taken + await _give_up(uow, [f for f in failures if f[0].id in owned])


async def _still_ours(uow: UnitOfWork, worker: str, ids: list[int]) -> set[int]:
    """Which of ``ids`` this worker still holds (not re-queued and taken meanwhile)."""
    rows = await uow.session.execute(
        select(_OUTBOX.c.id)
        .where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.status == "sending", _OUTBOX.c.claimed_by == worker)
        .with_for_update()
    )
    return {row_id for (row_id,) in rows}


async def _give_up(uow: UnitOfWork, failures: Sequence[tuple[Claimed, str, list[str]]]) -> list[Settled]:
    if not failures:
        return []
    await uow.session.execute(
        _FAILED, [{"b_id": row.id, "b_error": error[:2000]} for row, error, _r in failures]
    )
    for row, error, recipients in failures:
        if row.channel == "mail":
            await _alert_refused(uow, row.template, recipients, error)
        audit.record(
            uow, SYSTEM_OUTBOX, "outbox.failed", outbox=row.id, template=row.template, error=error[:200]
        )
    return [Settled(row, "failed", error) for row, error, _r in failures]


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
    if row.template == INQUIRY_STATUS:
        # Rendered from the inquiry as it is now, so updates delivered out of order
        # still leave the post showing the latest status.
        async with core.uow(background=True) as uow:
            channel, ts, current = await inquiry_desk.post_context(uow, int(context["number"]))
        post = _post_ref(channel, ts)
        if post is None:
            raise ParentNotPosted("inquiry post not delivered yet")
        # Its files get fresh links, as the row's context does when it is rendered.
        current = attachments.with_links(core.settings, current, core.clock.now(), row.locale)
        await staff.update(post, INQUIRY_NEW, row.locale, current)
        return
    if row.template in (REQUEST_FOLLOWUP, INQUIRY_FOLLOWUP):
        parent = _post_ref(context.get("channel"), context.get("thread_ts"))
        if parent is None:
            async with core.uow(background=True) as uow:
                number = int(context["number"])
                if row.template == INQUIRY_FOLLOWUP:
                    parent = _post_ref(*await inquiry_posts.slack_thread(uow, number))
                else:
                    parent = _post_ref(*await contact_window.slack_thread(uow, number))
        if parent is None:
            raise ParentNotPosted("parent post not delivered yet")
        await staff.reply(parent, row.template, row.locale, context)
        return
    posted = await staff.post(row.template, row.locale, context)
    if row.template in (REQUEST_NEW, INQUIRY_NEW):
        async with core.uow(background=True) as uow:
            record = (
                inquiry_posts.record_slack_post
                if row.template == INQUIRY_NEW
                else contact_window.record_slack_post
            )
            await record(uow, int(context["number"]), posted.channel, posted.ts)


def _post_ref(channel: Any, ts: Any) -> PostRef | None:
    return PostRef(str(channel), str(ts)) if channel and ts else None
