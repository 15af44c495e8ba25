"""Storing checked inquiries (SPEC §4.8): the inquiry, its first message and its files,
the audit row, the acknowledgement and the staff post — for one opened in the Slack
modal, a follow-up to an inquiry closed too long ago, or a batch of mail's new
inquiries (``core.inquiries.by_mail``) at once. ``opening`` decides who may open what;
this is what an opening writes, the same whichever way it came.

Separate because it is the opening's storage (statements built once, plain INSERTs, no
ORM objects), while ``opening`` holds the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select

from core import audit
from core.actors import Actor
from core.attachments import AttachmentInfo, Incoming
from core.business_days import calendar_for
from core.inquiries import notifications
from core.inquiries.attachments import Refused, keep_attachments, listed
from core.inquiries.tables import Inquiry, InquiryMessage
from core.inquiries.views import Opened
from core.models import Account, AuditRecord, Company, OutboxMessage
from core.outbox import new_message_id
from core.snapshots import Query
from core.storage.compiled import Row
from core.support_ids.views import display_name
from core.unit_of_work import UnitOfWork

_INQUIRIES = cast(Table, Inquiry.__table__)
_MESSAGES = cast(Table, InquiryMessage.__table__)
_AUDIT = cast(Table, AuditRecord.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_COMPANY_NAME = Query(select(Company.name).where(Company.id == bindparam("company_id")))


@dataclass(frozen=True)
class Question:
    """What the customer sent to open an inquiry: its subject and first message, the
    message's files (``attachments_refused``: a mail's files that could not be kept)
    and, by mail, its Message-ID."""

    subject: str
    body: str
    attachments: Sequence[Incoming] = ()
    attachments_refused: Refused | None = None
    message_id: str | None = None


@dataclass
class Opening:
    """A checked inquiry about to be stored (``store``): its asker, what it is about, the
    question. ``company``, ``cc_addresses``: the asker's company name and the support
    ID's CC addresses, when the caller read them already; ``previous``: the inquiry closed
    too long ago that a follow-up opens this one for. ``asker_valid``: whether an
    automatic mail may go to the asker's address, when the caller knows it already (by
    mail: the sender's verdict, ``Assessed.sender_valid``, assessed in the parser
    process); None: asked here. ``opened``: set once stored."""

    actor: Actor
    account: Account
    question: Question
    support_id_id: int | None
    support_id: str | None
    product: str
    previous: int | None = None
    company: str | None = None
    cc_addresses: list[str] | None = None
    asker_valid: bool | None = None
    opened: Opened | None = None


@dataclass(frozen=True, slots=True)
class _Stored:
    """A new inquiry's columns as ``store`` inserted them (``notifications.NewInquiry``)."""

    id: int
    support_id_id: int | None
    product_family: str
    subject: str
    status: str
    asker_account_id: int
    asker_email: str
    locale: str
    received_at: datetime
    due_on: date
    updated_at: datetime
    previous_id: int | None
    thread_id: str


def _message_values(
    uow: UnitOfWork, actor: Actor, account: Account, inquiry_id: int, body: str, message_id: str | None
) -> dict[str, Any]:
    return {
        "inquiry_id": inquiry_id,
        "kind": "customer",
        "author": f"account:{account.id}",
        "author_account_id": account.id,
        "via": actor.door,
        "body": body,
        "message_id": message_id,
        "created_at": uow.clock.now(),
    }


def _bound(table: Table, prefix: str, columns: Sequence[str]) -> dict[str, Any]:
    return {c: bindparam(f"{prefix}{c}", type_=table.c[c].type) for c in columns}


_MESSAGE_COLUMNS = (
    "inquiry_id",
    "kind",
    "author",
    "author_account_id",
    "via",
    "body",
    "message_id",
    "created_at",
)
_AUDIT_COLUMNS = ("at", "actor_kind", "actor_id", "door", "action", "account_id", "support_id_id", "details")
_OUTBOX_COLUMNS = (
    "channel",
    "template",
    "locale",
    "recipients",
    "context",
    "sealed",
    "headers",
    "message_id",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    # Given: a column default is not filled in inside a CTE's INSERT.
    "last_error",
)


def _rows_at_once(outbox_rows: int) -> Any:
    """PostgreSQL: the first message, the audit row and ``outbox_rows`` outbox rows in one
    statement (data-modifying CTEs), parameters ``m_*``, ``a_*``, ``o0_*``, ``o1_*``.
    Single-row INSERTs only: SQLAlchemy does not cache a multi-row VALUES, and compiling
    this statement for every opening cost more than the round trips it saves."""
    ctes = [
        insert(_MESSAGES).values(_bound(_MESSAGES, "m_", _MESSAGE_COLUMNS)).cte("new_message"),
        insert(_AUDIT).values(_bound(_AUDIT, "a_", _AUDIT_COLUMNS)).cte("new_audit"),
        *(
            insert(_OUTBOX).values(_bound(_OUTBOX, f"o{i}_", _OUTBOX_COLUMNS)).cte(f"new_outbox_{i}")
            for i in range(outbox_rows - 1)
        ),
    ]
    last = insert(_OUTBOX).values(_bound(_OUTBOX, f"o{outbox_rows - 1}_", _OUTBOX_COLUMNS))
    return last.add_cte(*ctes)


_ROWS_AT_ONCE = {1: Query(_rows_at_once(1)), 2: Query(_rows_at_once(2))}
_INQUIRY_COLUMNS = (
    "support_id_id",
    "product_family",
    "subject",
    "status",
    "asker_account_id",
    "asker_email",
    "locale",
    "received_at",
    "due_on",
    "updated_at",
    "previous_id",
    "thread_id",
)


class _Rows:
    """New rows of one table, however many.

    A batch's rows go through ``UnitOfWork.write_many``: on SQLite a statement compiled
    once and run on the unit's own connection (no round trips; a quarter of the CPU of
    ``session.execute`` with a dict, less than SQLAlchemy building a multi-row INSERT,
    measured), on PostgreSQL one multi-row INSERT for the batch (the mail intake: one
    statement per table, not several per mail). One row on PostgreSQL: the statement
    compiled once (parameters ``v_<column>``), without the multi-row machinery."""

    def __init__(self, table: Table, columns: Sequence[str], *returning: Any) -> None:
        self.columns = tuple(columns)
        one = insert(table).values(_bound(table, "v_", columns))
        self.one = Query(one.returning(*returning) if returning else one)
        self.many = Query(insert(table).returning(*returning) if returning else insert(table))

    async def insert(self, uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> list[Row]:
        """``rows``' RETURNING rows, in order."""
        if len(rows) == 1 and uow.dialect.name != "sqlite":
            return await uow.rows(self.one, **_params("v_", rows[0], self.columns))
        for row in rows:
            assert set(row) == set(self.columns), sorted(set(row) ^ set(self.columns))
        return await uow.write_many(self.many, list(rows))


_NEW_INQUIRY = _Rows(_INQUIRIES, _INQUIRY_COLUMNS, _INQUIRIES.c.id, _INQUIRIES.c.thread_id)
_NEW_MESSAGE = _Rows(_MESSAGES, _MESSAGE_COLUMNS, _MESSAGES.c.id, _MESSAGES.c.inquiry_id)
# Messages without files: their ids are not needed (on SQLite one ``executemany``, not a
# statement per row for what RETURNING answers).
_NEW_MESSAGE_BARE = _Rows(_MESSAGES, _MESSAGE_COLUMNS)
_NEW_AUDIT = _Rows(_AUDIT, _AUDIT_COLUMNS)
_NEW_OUTBOX = _Rows(_OUTBOX, _OUTBOX_COLUMNS)


def _params(prefix: str, values: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    assert set(values) == set(columns), f"{prefix}: {sorted(set(values) ^ set(columns))}"
    return {f"{prefix}{k}": v for k, v in values.items()}


async def add_customer_message(
    uow: UnitOfWork,
    actor: Actor,
    account: Account,
    inquiry_id: int,
    body: str,
    message_id: str | None,
    attachments: Sequence[Incoming],
) -> list[AttachmentInfo]:
    """A customer's message and its files into an inquiry's thread (the first one, or a
    follow-up); the files it kept."""
    [stored] = await _add_customer_messages(
        uow, [(actor, account, inquiry_id, body, message_id, attachments)]
    )
    return stored


# A customer message to store: who wrote it, the inquiry, body, Message-ID, files.
_NewMessage = tuple[Actor, Account, int, str, str | None, Sequence[Incoming]]


async def _add_customer_messages(
    uow: UnitOfWork, messages: Sequence[_NewMessage]
) -> list[list[AttachmentInfo]]:
    """Customer messages (one per inquiry) and their files, in one statement however
    many; the files each kept, in order."""
    values = [
        _message_values(uow, a, account, number, body, m) for a, account, number, body, m, _f in messages
    ]
    # A plain INSERT, not an ORM object: in the database at once (the mail intake's next
    # mail in the batch may answer it) for less CPU than a flush.
    if not any(files for *_rest, files in messages):
        await _NEW_MESSAGE_BARE.insert(uow, values)
        return [[] for _m in messages]
    rows = await _NEW_MESSAGE.insert(uow, values)
    ids = {int(inquiry_id): int(message_row_id) for message_row_id, inquiry_id in rows}
    kept: list[list[AttachmentInfo]] = []
    for (actor, _account, number, _body, _m, files), row in zip(messages, values, strict=True):
        # The message as an object only for its files (they name it): ~15 µs a mail.
        kept.append(
            await keep_attachments(uow, actor, InquiryMessage(id=ids[number], **row), files) if files else []
        )
    return kept


async def store(uow: UnitOfWork, openings: Sequence[Opening]) -> list[Opened]:
    """Store checked inquiries with their first messages, audit, queue the
    acknowledgements and the staff posts; the caller commits. Numbered in the order
    given; each ``Opening.opened`` set.

    Why plain INSERTs rather than ORM objects: the ask submission's time on PostgreSQL
    is the process's CPU and the round trips per opening (docs/performance.md), and the
    mail intake's is statements per mail. Every read comes first; then the inquiries
    (their numbers); then their messages, the audit rows and the outbox rows, one
    statement per table however many inquiries — for a single one on PostgreSQL (without
    files, which name the message) all three in one statement. No flush."""
    if not openings:
        return []
    now = uow.clock.now()
    due = calendar_for(uow.settings).answer_due(now, uow.settings.answer_business_days)
    companies: list[str] = []
    ccs: list[list[str]] = []
    values: list[dict[str, Any]] = []
    for o in openings:
        company = o.company
        if company is None:
            found = await uow.first(_COMPANY_NAME, company_id=o.account.company_id)
            company = str(found[0]) if found else ""
        companies.append(company)
        if o.asker_valid is None:
            o.asker_valid = notifications.may_acknowledge(uow, o.account.email)
        ccs.append(
            await notifications.ack_cc_addresses(
                uow, o.support_id_id, o.account.email, o.cc_addresses, asker_valid=o.asker_valid
            )
        )
        values.append(
            {
                "support_id_id": o.support_id_id,
                "product_family": o.product,
                "subject": o.question.subject,
                "status": "new",
                "asker_account_id": o.account.id,
                "asker_email": o.account.email,
                "locale": o.account.locale or uow.settings.locale,
                "received_at": now,
                "due_on": due,
                "updated_at": now,
                "previous_id": o.previous,
                "thread_id": new_message_id(uow),
            }
        )
    # Numbered in the rows' order; matched back by thread_id,
    # each inquiry's own new Message-ID.
    numbers = {str(t): int(n) for n, t in await _NEW_INQUIRY.insert(uow, values)}
    # What the acknowledgements and the staff posts are made of: plain values, not ORM
    # objects (~17 µs each to build, for nothing: they are never added to the session).
    inquiries = [_Stored(id=numbers[v["thread_id"]], **v) for v in values]
    at_once = len(openings) == 1 and not openings[0].question.attachments and uow.dialect.name == "postgresql"
    kept: list[list[AttachmentInfo]] = [[]]
    if not at_once:
        kept = await _add_customer_messages(
            uow,
            [
                (o.actor, o.account, i.id, o.question.body, o.question.message_id, o.question.attachments)
                for o, i in zip(openings, inquiries, strict=True)
            ],
        )
    audit_rows: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for o, inquiry, company, cc, stored in zip(openings, inquiries, companies, ccs, kept, strict=True):
        q = o.question
        audit_rows.append(
            audit.values(
                uow,
                o.actor,
                "inquiry.opened",
                support_id_id=o.support_id_id,
                inquiry=inquiry.id,
                product=o.product,
                previous=o.previous,
            )
        )
        asker = display_name(o.account)
        ack = notifications.ack_row(
            uow,
            inquiry,
            cc,
            support_id=o.support_id,
            name=asker,
            body=q.body,
            parent=q.message_id,
            files=stored,
            files_refused=q.attachments_refused,
            asker_valid=o.asker_valid,
        )
        post = notifications.staff_post_row(
            uow,
            inquiry,
            support_id=o.support_id,
            company=company,
            asker=asker,
            body=q.body,
            attachments=listed(stored),
            attachments_refused=q.attachments_refused,
        )
        outbox.extend(row for row in (ack, post) if row is not None)
        o.opened = Opened(number=inquiry.id, due_on=due, previous=o.previous)
    if at_once:
        [o] = openings
        params = {
            **_params(
                "m_",
                _message_values(
                    uow, o.actor, o.account, inquiries[0].id, o.question.body, o.question.message_id
                ),
                _MESSAGE_COLUMNS,
            ),
            **_params("a_", audit_rows[0], _AUDIT_COLUMNS),
        }
        for i, row in enumerate(outbox):
            params.update(_params(f"o{i}_", {**row, "last_error": ""}, _OUTBOX_COLUMNS))
        await uow.rows(_ROWS_AT_ONCE[len(outbox)], **params)
    else:
        await _NEW_AUDIT.insert(uow, audit_rows)
        await _NEW_OUTBOX.insert(uow, [{**row, "last_error": ""} for row in outbox])
    return [o.opened for o in openings if o.opened is not None]
