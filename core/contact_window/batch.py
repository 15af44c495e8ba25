"""What the database says about a batch of stored mails, read in one query per question
and written back in one statement per table.

Intake decides mail by mail, in arrival order; this is the state it decides against: the
requests the batch's Message-IDs, reply addresses and subject tags point at, the senders'
accounts, acknowledgement counts and bounces, the breaker's count, kept current as the
batch goes, plus every row the batch decided to write. Separate because it is the
batch's storage (statements built once, Core inserts, no ORM objects per row), while
intake and acknowledgement hold the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update

from core import attachments
from core.contact_window.addresses import SUBJECT_TAG, tagged_number
from core.contact_window.assessment import Assessed, IncomingMail
from core.models import (
    Account,
    AuditRecord,
    InboundMail,
    MailAck,
    MailAddressState,
    OutboxMessage,
    Request,
    RequestMessage,
)
from core.storage.compiled import Query
from core.unit_of_work import UnitOfWork

DIRECTION_IN = "in"

# Tables written with Core statements on the hot path (no ORM objects per row).
_REQUESTS = cast(Table, Request.__table__)
_MESSAGES = cast(Table, RequestMessage.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_ACKS = cast(Table, MailAck.__table__)
_AUDIT = cast(Table, AuditRecord.__table__)
_INBOUND = cast(Table, InboundMail.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_ADDRESSES = cast(Table, MailAddressState.__table__)
# Built once, like the inbox's statements (core/contact_window/inbox.py).
_KNOWN = Query(
    select(_MESSAGES.c.message_id, _MESSAGES.c.request_id, _MESSAGES.c.direction).where(
        _MESSAGES.c.message_id.in_(bindparam("ids", expanding=True))
    )
)
_THREADS = Query(
    select(
        _REQUESTS.c.id,
        _REQUESTS.c.number,
        _REQUESTS.c.status,
        _REQUESTS.c.category,
        _REQUESTS.c.sender,
        _REQUESTS.c.account_id,
        _REQUESTS.c.locale,
        _REQUESTS.c.slack_channel,
        _REQUESTS.c.slack_ts,
    ).where(
        or_(
            _REQUESTS.c.id.in_(bindparam("ids", expanding=True)),
            _REQUESTS.c.number.in_(bindparam("numbers", expanding=True)),
        )
    )
)
_SENDER_ACCOUNTS = Query(
    select(_ACCOUNTS.c.email, _ACCOUNTS.c.id, _ACCOUNTS.c.locale).where(
        _ACCOUNTS.c.email.in_(bindparam("emails", expanding=True))
    )
)
_SENDER_ACKS = Query(
    select(
        _ACKS.c.email,
        func.count(_ACKS.c.id).filter(_ACKS.c.at > bindparam("hour_ago")),
        func.count(_ACKS.c.id),
    )
    .where(_ACKS.c.email.in_(bindparam("emails", expanding=True)), _ACKS.c.at > bindparam("day_ago"))
    .group_by(_ACKS.c.email)
)
_SENDER_BOUNCES = Query(
    select(_ADDRESSES.c.email, _ADDRESSES.c.bounced_at).where(
        _ADDRESSES.c.email.in_(bindparam("emails", expanding=True))
    )
)
# New requests per sender in the last hour (the per-sender cap; ix_requests_sender_created_at).
_SENDER_REQUESTS = Query(
    select(_REQUESTS.c.sender, func.count(_REQUESTS.c.id))
    .where(
        _REQUESTS.c.sender.in_(bindparam("emails", expanding=True)),
        _REQUESTS.c.created_at > bindparam("since"),
    )
    .group_by(_REQUESTS.c.sender)
)
# The recipients of the mails that delivery reports came back about (signed return paths).
_REPORTED = Query(
    select(_OUTBOX.c.id, _OUTBOX.c.recipients).where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _OUTBOX.c.channel == "mail"
    )
)
# Counting stops at the breaker's limit: the answer is only ever compared with it.
_RECENT_ACKS = Query(
    select(func.count()).select_from(
        select(_ACKS.c.id).where(_ACKS.c.at > bindparam("since")).limit(bindparam("cap")).subquery()
    )
)
_NEW_REQUESTS = Query(insert(_REQUESTS).returning(_REQUESTS.c.number, _REQUESTS.c.id))
_NEW_MESSAGES = Query(insert(_MESSAGES))
_NEW_OUTBOX = Query(insert(_OUTBOX))
_NEW_ACKS = Query(insert(_ACKS))
_NEW_AUDIT = Query(insert(_AUDIT))
_REOPEN = (
    update(_REQUESTS)
    .where(_REQUESTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="open", closed_at=None)
)
_PROCESSED = Query(
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("b_id"))
    .values(
        state="processed",
        request_id=bindparam("b_request_id"),
        malformed=bindparam("b_malformed"),
        error=bindparam("b_error"),
    )
)


@dataclass
class BatchRequest:
    """What processing needs of a request; ``id`` is None until the batch inserts it."""

    id: int | None
    number: int
    status: str
    category: str
    sender: str
    account_id: int | None
    locale: str
    slack_channel: str | None = None
    slack_ts: str | None = None
    subject: str = ""
    reopened: bool = False


class Batch:
    """What the database said about a batch's mails, read in one query per question, and
    kept current as the batch goes, so mail N sees what mails 1..N-1 did exactly as if
    each had been committed on its own."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.now = uow.clock.now()
        self.known: dict[str, tuple[BatchRequest, str]] = {}  # Message-ID → (request, direction)
        self.by_number: dict[int, BatchRequest] = {}
        self.accounts: dict[str, tuple[int, str]] = {}  # email → (id, locale)
        self.acks: dict[str, list[int]] = {}  # sender → [last hour, last day]
        self.bounced: dict[str, datetime | None] = {}
        self.recent_requests: dict[str, int] = {}  # sender → new requests in the last hour
        self.outbox_recipients: dict[int, set[str]] = {}  # reported outbox row → its recipients
        self.recent_acks = 0
        self.new_requests: list[BatchRequest] = []
        self.messages: list[tuple[BatchRequest, dict[str, Any]]] = []
        self.ack_rows: list[tuple[BatchRequest, str]] = []
        self.outbox: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.inbound: list[tuple[int, BatchRequest | None, bool, str]] = []
        # A mail's files, and the staff post's list their summaries go into once stored.
        self.files: list[tuple[BatchRequest, list[attachments.Prepared], list[dict[str, Any]]]] = []

    async def load(self, work: list[tuple[int, Assessed]]) -> None:
        """Every read through the compiled statements with list parameters
        (``core.storage.compiled``): through ``session.execute`` these reads were ~100 µs
        of SQLAlchemy's CPU each, most of what a batch costs before its first mail."""
        uow = self.uow
        settings = uow.settings
        wanted: set[str] = set()
        numbers: set[int] = set()
        senders = {item.sender for _id, item in work if item.sender}
        reported = {item.bounce_of for _id, item in work if item.bounce_of is not None}
        if reported:
            sent = await uow.rows(_REPORTED, ids=list(reported))
            self.outbox_recipients = {
                outbox_id: {str(r).lower() for r in recipients or []} for outbox_id, recipients in sent
            }
        if settings.requests_per_sender_hour:
            asking = list({item.sender for _id, item in work if not item.bounce})
            if asking:
                counted = await uow.rows(_SENDER_REQUESTS, emails=asking, since=self.now - timedelta(hours=1))
                self.recent_requests = {sender: int(count) for sender, count in counted}
        for _id, item in work:
            mail = item.mail
            wanted.update(answered_message_ids(mail))
            if mail.message_id:
                wanted.add(mail.message_id)
            for rcpt in mail.rcpt_tos:
                number = tagged_number(settings, rcpt)
                if number is not None:
                    numbers.add(number)
            numbers.update(int(m.group(1)) for m in SUBJECT_TAG.finditer(mail.subject))
        found: list[tuple[str, int, str]] = []
        if wanted:
            found = [(r[0], r[1], r[2]) for r in await uow.rows(_KNOWN, ids=list(wanted))]
        ids = {request_id for _m, request_id, _d in found}
        by_id: dict[int, BatchRequest] = {}
        if ids or numbers:
            for row in await uow.rows(_THREADS, ids=list(ids), numbers=list(numbers)):
                request = BatchRequest(*row)  # the columns in the fields' order
                by_id[request.id or 0] = request
                self.by_number[request.number] = request
        for message_id, request_id, direction in found:
            if direction == DIRECTION_IN or message_id not in self.known:
                self.known[message_id] = (by_id[request_id], direction)
        if not senders:
            return
        emails = list(senders)
        rows = await uow.rows(_SENDER_ACCOUNTS, emails=emails)
        self.accounts = {email: (account_id, locale) for email, account_id, locale in rows}
        now = self.now
        rows = await uow.rows(
            _SENDER_ACKS, emails=emails, hour_ago=now - timedelta(hours=1), day_ago=now - timedelta(days=1)
        )
        self.acks = {email: [int(hour), int(day)] for email, hour, day in rows}
        bounced = await uow.rows(_SENDER_BOUNCES, emails=emails)
        self.bounced = {email: bounced_at for email, bounced_at in bounced}
        window = timedelta(minutes=settings.ack_breaker_window_minutes)
        recent = await uow.first(_RECENT_ACKS, since=now - window, cap=settings.ack_breaker_limit)
        self.recent_acks = int(recent[0] or 0) if recent is not None else 0

    def add_message(self, request: BatchRequest, values: dict[str, Any]) -> None:
        self.messages.append((request, values))
        message_id = values["message_id"]
        if values["direction"] == DIRECTION_IN or message_id not in self.known:
            self.known[message_id] = (request, values["direction"])

    async def write(self) -> None:
        """Everything the batch decided, in one statement per table."""
        uow = self.uow
        if self.new_requests:
            rows = await uow.write_many(
                _NEW_REQUESTS,
                [
                    {
                        "number": r.number,
                        "status": r.status,
                        "category": r.category,
                        "sender": r.sender,
                        "subject": r.subject,
                        "account_id": r.account_id,
                        "locale": r.locale,
                        "created_at": self.now,
                    }
                    for r in self.new_requests
                ],
            )
            ids: dict[int, int] = {number: request_id for number, request_id in rows}
            for request in self.new_requests:
                request.id = ids[request.number]
        reopened = {r.id for r, _v in self.messages if r.reopened}
        if reopened:
            await uow.session.execute(_REOPEN, {"ids": list(reopened)})
        if self.messages:
            await uow.write_many(_NEW_MESSAGES, [{**v, "request_id": r.id} for r, v in self.messages])
        for request, files, shown in self.files:  # before the outbox: its posts list them
            stored = await attachments.store(self.uow, "request", request.id or 0, files)
            shown.extend(info.summary() for info in stored)
        self.files.clear()  # the bytes go as soon as they are written
        if self.outbox:
            await uow.write_many(_NEW_OUTBOX, self.outbox)
        if self.ack_rows:
            await uow.write_many(
                _NEW_ACKS,
                [{"email": email, "request_id": r.id, "at": self.now} for r, email in self.ack_rows],
            )
        if self.audit:
            await uow.write_many(_NEW_AUDIT, self.audit)
        if self.inbound:
            await uow.write_many(
                _PROCESSED,
                [
                    {
                        "b_id": inbound_id,
                        "b_request_id": request.id if request is not None else None,
                        "b_malformed": malformed,
                        "b_error": error,
                    }
                    for inbound_id, request, malformed, error in self.inbound
                ],
            )


def answered_message_ids(mail: IncomingMail) -> list[str]:
    """The Message-IDs a mail answers, nearest first (at most 60)."""
    return [i for i in [*mail.in_reply_to, *reversed(mail.references)] if i][:60]
