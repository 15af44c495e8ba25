"""The read side of inquiries: a customer's list, staff lists, one inquiry's thread.

Every answer here only reads (``@reads``: a door may answer from a snapshot) and comes
from ``Query`` objects built once, each served by an index of ``tables``
(tests/integration/inquiries/test_inquiry_indexes.py EXPLAINs them on both databases).
Where a list would need ``OR`` or ``IN (…)`` over statuses — which a planner may answer
with a scan — it asks one indexed question per branch and merges the few rows of the
page in Python: every branch is ordered and limited the same way, so the merge is exact.

Visibility is §4.8's, decided before anything is read: a customer sees the inquiries of
the support IDs they are a contact of, and those they asked; staff see all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any, Literal, cast

from sqlalchemy import Integer, Select, and_, bindparam, literal_column, select
from sqlalchemy.orm import aliased

from core import attachments, staff
from core.actors import Actor
from core.attachments.tables import Attachment
from core.clock import JST, aware
from core.errors import ValidationFailed
from core.hashing import Hasher
from core.inquiries.access import (
    customer_account_id,
    is_contact,
    may_see,
    not_found,
    reader_account_id,
    support_id_of,
)
from core.inquiries.attachments import OWNER_KIND
from core.inquiries.numbers import OPEN_STATUSES, WAITING_FOR_STAFF, Status, parse_number
from core.inquiries.tables import Inquiry, InquiryMessage
from core.inquiries.views import FileView, InquiryDetail, InquiryPage, InquirySummary, MessageView
from core.models import Account, SupportId, SupportIdContact
from core.snapshots import Query, Reader, Row, reads

PAGE_SIZE = 10
StaffList = Literal["open", "overdue", "mine"]

_ASKER = aliased(Account)
_COLUMNS = (
    Inquiry.id,
    SupportId.name,
    Inquiry.product_family,
    Inquiry.subject,
    Inquiry.status,
    _ASKER.last_name,
    _ASKER.first_name,
    Inquiry.due_on,
    Inquiry.updated_at,
    Inquiry.assignee,
)


def _listing() -> Any:
    return (
        select(*_COLUMNS)
        .join(_ASKER, _ASKER.id == Inquiry.asker_account_id)
        .outerjoin(SupportId, SupportId.id == Inquiry.support_id_id)
    )


_NEWEST = (Inquiry.updated_at.desc(), Inquiry.id.desc())

# A customer's: the inquiries of their support IDs, and those they asked.
_OF_CONTACT = Query(
    _listing()
    .join(SupportIdContact, SupportIdContact.support_id_id == Inquiry.support_id_id)
    .where(
        SupportIdContact.account_id == bindparam("account_id"), Inquiry.status != bindparam("except_status")
    )
    .order_by(*_NEWEST)
)
_OF_ASKER = Query(
    _listing()
    .where(Inquiry.asker_account_id == bindparam("account_id"), Inquiry.status != bindparam("except_status"))
    .order_by(*_NEWEST)
)
# One support ID's (a customer naming it, or staff): all of them, or the open ones from
# their partial index (its condition as a literal, as ``tables.NOT_CLOSED`` says it).
_OF_SUPPORT_ID = Query(
    _listing().where(Inquiry.support_id_id == bindparam("support_id_id")).order_by(*_NEWEST)
)
_OPEN_OF_SUPPORT_ID = Query(
    _listing()
    .where(Inquiry.support_id_id == bindparam("support_id_id"), Inquiry.status != literal_column("'closed'"))
    .order_by(*_NEWEST)
)
# Staff: one status by due date (open: three of these; overdue: two, before today).
_BY_STATUS_DUE = Query(
    _listing()
    .where(Inquiry.status == bindparam("status"), Inquiry.due_on < bindparam("before"))
    .order_by(Inquiry.due_on, Inquiry.id)
)
_MINE = Query(
    _listing()
    .where(Inquiry.assignee == bindparam("assignee"), Inquiry.status == bindparam("status"))
    .order_by(Inquiry.due_on, Inquiry.id)
)
_ONE = Query(
    _listing()
    .add_columns(
        Inquiry.asker_account_id,
        Inquiry.support_id_id,
        _ASKER.email,
        Inquiry.asker_email,
        Inquiry.received_at,
        Inquiry.answered_at,
        Inquiry.autoclose_on,
        Inquiry.closed_at,
        Inquiry.previous_id,
    )
    .where(Inquiry.id == bindparam("number"))
)
_MESSAGES = Query(
    select(
        InquiryMessage.id,
        InquiryMessage.kind,
        InquiryMessage.author,
        Account.last_name,
        Account.first_name,
        InquiryMessage.via,
        InquiryMessage.body,
        InquiryMessage.created_at,
    )
    .outerjoin(Account, Account.id == InquiryMessage.author_account_id)
    .where(InquiryMessage.inquiry_id == bindparam("number"))
    .order_by(InquiryMessage.id)
)


# The files of one inquiry's messages, in one question (ix_attachments_owner per message).
_FILES = Query(
    select(*attachments.COLUMNS)
    .join(
        InquiryMessage,
        and_(Attachment.owner_kind == bindparam("owner_kind"), Attachment.owner_id == InquiryMessage.id),
    )
    .where(InquiryMessage.inquiry_id == bindparam("number"))
    .order_by(Attachment.id)
)


@lru_cache(maxsize=256)
def _limited(query: Query, limit: int) -> Query:
    """``query`` with ``LIMIT limit``, built and compiled once per page depth (a LIMIT
    cannot be a named parameter of a ``Query``)."""
    statement = query.statement
    assert isinstance(statement, Select)
    return Query(
        statement.limit(literal_column(str(int(limit)), Integer())).offset(literal_column("0", Integer()))
    )


async def _rows(source: Reader, query: Query, limit: int, **params: Any) -> list[Row]:
    return await source.rows(_limited(query, limit), **params)


# Far enough in the future to mean "any due date".
_NO_LIMIT = date(9999, 12, 31)
_NOTHING = "-"  # a status no row has: "except nothing"


def today(source: Reader) -> date:
    return source.clock.now().astimezone(JST).date()


def _summary(row: Row, on: date) -> InquirySummary:
    number, sid, product, subject, status, last, first, due_on, updated_at, assignee = row[:10]
    return InquirySummary(
        number=int(number),
        support_id=sid,
        product_family=product,
        subject=subject,
        status=cast(Status, status),
        asker=f"{last} {first}".strip(),
        due_on=due_on,
        updated_at=aware(updated_at),
        overdue=status in WAITING_FOR_STAFF and due_on < on,
        assignee=assignee,
    )


def _page(rows: Iterable[Row], page: int, on: date, key: Any) -> InquiryPage:
    unique = {int(r[0]): r for r in rows}
    ordered = sorted(unique.values(), key=key)
    start = (page - 1) * PAGE_SIZE
    chosen = ordered[start : start + PAGE_SIZE]
    return InquiryPage(
        items=tuple(_summary(r, on) for r in chosen), page=page, has_more=len(ordered) > start + PAGE_SIZE
    )


def _newest_first(row: Row) -> tuple[Any, ...]:
    return (-aware(row[8]).timestamp(), -int(row[0]))


def _soonest_due(row: Row) -> tuple[Any, ...]:
    return (row[7], int(row[0]))


def _check_page(page: int) -> int:
    if page < 1 or page > 10_000:
        raise ValidationFailed({"page": "inquiry.page_invalid"})
    return page


@reads
async def list_for_user(
    source: Reader,
    actor: Actor,
    support_id: str | None = None,
    *,
    include_closed: bool = False,
    page: int = 1,
) -> InquiryPage:
    """The inquiries a customer may see, open ones unless ``include_closed``, newest
    first (last change), a page of ``PAGE_SIZE``; only one support ID's when named."""
    account_id = await customer_account_id(source, actor)
    _check_page(page)
    limit = page * PAGE_SIZE + 1
    except_status = _NOTHING if include_closed else "closed"
    if support_id:
        sid, _name = await support_id_of(source, actor, account_id, support_id)
        of_support_id = _OF_SUPPORT_ID if include_closed else _OPEN_OF_SUPPORT_ID
        rows = await _rows(source, of_support_id, limit, support_id_id=sid)
    else:
        rows = await _rows(source, _OF_CONTACT, limit, account_id=account_id, except_status=except_status)
        rows += await _rows(source, _OF_ASKER, limit, account_id=account_id, except_status=except_status)
    return _page(rows, page, today(source), _newest_first)


@reads
async def list_for_staff(source: Reader, actor: Actor, which: str = "open", *, page: int = 1) -> InquiryPage:
    """Staff lists: ``open`` and ``overdue`` (soonest due first), ``mine`` (assigned to
    the acting staff member), or a support ID's open inquiries (newest first)."""
    staff.require_staff(actor)
    _check_page(page)
    on = today(source)
    limit = page * PAGE_SIZE + 1
    if which in ("open", "overdue"):
        statuses = WAITING_FOR_STAFF if which == "overdue" else OPEN_STATUSES
        before = on if which == "overdue" else _NO_LIMIT
        rows: list[Row] = []
        for status in statuses:
            rows += await _rows(source, _BY_STATUS_DUE, limit, status=status, before=before)
        return _page(rows, page, on, _soonest_due)
    if which == "mine":
        rows = []
        for status in OPEN_STATUSES:
            rows += await _rows(source, _MINE, limit, assignee=actor.ref, status=status)
        return _page(rows, page, on, _soonest_due)
    sid, _name = await support_id_of(source, actor, None, which)
    rows = await _rows(source, _OPEN_OF_SUPPORT_ID, limit, support_id_id=sid)
    return _page(rows, page, on, _newest_first)


@reads
async def overdue(source: Reader, actor: Actor) -> tuple[InquirySummary, ...]:
    """Every overdue inquiry (waiting for staff past its due date), soonest due first."""
    items: list[InquirySummary] = []
    page = 1
    while True:
        found = await list_for_staff(source, actor, "overdue", page=page)
        items.extend(found.items)
        if not found.has_more:
            return tuple(items)
        page += 1


@reads
async def show(source: Reader, actor: Actor, number: str | int) -> InquiryDetail:
    """One inquiry with its thread: customers see the customer messages and answers,
    staff also the notes. Anyone who may not see it gets ``inquiry.not_found``."""
    account_id = await reader_account_id(source, actor)
    parsed = parse_number(number)
    row = await source.first(_ONE, number=parsed) if parsed is not None else None
    if row is None:
        raise not_found(number)
    asker_id, sid_id, _asker_email_now, asker_email, received, answered, autoclose_on, closed, previous = row[
        10:
    ]
    if not may_see(actor, account_id, asker_id, await is_contact(source, sid_id, account_id)):
        raise not_found(number)
    on = today(source)
    summary = _summary(row, on)
    # Links are made here, after the visibility check, for this reader only: a contact
    # of the support ID, the asker or staff (SPEC §4.8); nobody else gets this far.
    now = source.clock.now()
    ttl = attachments.staff_ttl(source.settings)
    hasher = Hasher(source.settings.resolved_secret_key())
    files: dict[int, list[FileView]] = {}
    for found in await source.rows(_FILES, number=parsed, owner_kind=OWNER_KIND):
        info = attachments.info(found)
        url = attachments.link(source.settings, info, ttl, now=now, hasher=hasher)
        shown = FileView(id=info.id, name=info.name, size=info.size, content_type=info.content_type, url=url)
        files.setdefault(info.owner_id, []).append(shown)
    messages = tuple(
        MessageView(
            kind=kind,
            author=(f"{last} {first}".strip() if last else (author if actor.is_staff else "")),
            via=via,
            body=body,
            created_at=aware(created_at),
            files=tuple(files.get(int(message_id), ())),
        )
        for message_id, kind, author, last, first, via, body, created_at in await source.rows(
            _MESSAGES, number=parsed
        )
        if kind != "note" or actor.is_staff
    )
    closed_at = aware(closed) if closed else None
    return InquiryDetail(
        summary=summary,
        asker_email=asker_email,
        received_at=aware(received),
        answered_at=aware(answered) if answered else None,
        autoclose_on=autoclose_on,
        closed_at=closed_at,
        previous=previous,
        messages=messages,
        can_reply=not actor.is_staff,
        can_close=summary.status != "closed",
        links_until=now + ttl if files else None,
    )
