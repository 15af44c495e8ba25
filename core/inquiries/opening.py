"""Opening an inquiry (SPEC §4.8): who may, about which product, and what it starts.

An inquiry belongs to one support ID and one product family of that support ID's keys
whose contract is in force today, or to ``その他`` (with or without a support ID). Only an
active account that is a contact of the support ID may open one. Every refusal is a
``ValidationFailed`` naming the offending field (``support_id``, ``product``,
``subject``, ``body``, ``attachments`` — the block ids of the Slack modal) with a catalog
message that says what to do; nothing is stored. A support ID that does not exist and
one the asker is no contact of are refused alike.

Opening stores the inquiry and its first message, audits it, and queues the
acknowledgement (asker, Cc the CC addresses) and the staff post, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, insert, select

from core import audit
from core.actors import Actor
from core.attachments import AttachmentInfo, Incoming
from core.business_days import calendar_for
from core.clock import JST
from core.config import Settings
from core.errors import NotFound, ValidationFailed
from core.inquiries import notifications
from core.inquiries.access import customer_account, customer_account_id, support_id_not_found, support_id_of
from core.inquiries.attachments import MAX_ATTACHMENTS, Refused, keep_attachments, listed, refused_fields
from core.inquiries.numbers import OTHER_PRODUCT
from core.inquiries.tables import Inquiry, InquiryMessage
from core.inquiries.views import Opened
from core.models import (
    Account,
    AuditRecord,
    Company,
    Contract,
    OutboxMessage,
    SupportId,
    SupportIdCc,
    SupportIdContact,
    SupportKey,
)
from core.outbox import new_message_id
from core.snapshots import Query, Reader, reads
from core.storage.compiled import Row, run_sqlite
from core.support_ids.names import name_key
from core.support_ids.views import display_name
from core.unit_of_work import UnitOfWork

_INQUIRIES = cast(Table, Inquiry.__table__)
_MESSAGES = cast(Table, InquiryMessage.__table__)
_AUDIT = cast(Table, AuditRecord.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_COMPANY_NAME = Query(select(Company.name).where(Company.id == bindparam("company_id")))
MAX_SUBJECT = 200
MAX_BODY = 20_000

_KEY_CONTRACTS = Query(
    select(Contract.product_family, Contract.starts_on, Contract.ends_on, SupportKey.usable_from)
    .join(Contract, Contract.id == SupportKey.contract_id)
    .where(SupportKey.support_id_id == bindparam("support_id_id"), SupportKey.revoked_at.is_(None))
)


def _support_id_rows(contact: ColumnElement[bool], named: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    """What opening needs of the support ID typed in the modal, in one statement: the
    support ID, whether the asker is its contact, its keys' contracts and its CC
    addresses (a row per key and address: a support ID has a few of each; NULLs where it
    has none), and its name key. As ``support_id_of``, ``families`` and the
    acknowledgement's Cc, in one round trip instead of four. ``contact``, ``named``: the
    asker (or a batch of mail's askers) and the name (or names)."""
    return (
        select(
            SupportId.id,
            SupportId.name,
            SupportIdContact.account_id,
            SupportIdCc.id,
            SupportIdCc.email,
            Contract.product_family,
            Contract.starts_on,
            Contract.ends_on,
            SupportKey.usable_from,
            SupportId.name_key,
        )
        .select_from(SupportId)
        .outerjoin(SupportIdContact, and_(SupportIdContact.support_id_id == SupportId.id, contact))
        .outerjoin(
            SupportKey, and_(SupportKey.support_id_id == SupportId.id, SupportKey.revoked_at.is_(None))
        )
        .outerjoin(Contract, Contract.id == SupportKey.contract_id)
        .outerjoin(SupportIdCc, SupportIdCc.support_id_id == SupportId.id)
        .where(named)
    )


_SUPPORT_ID_FOR_ASKER = Query(
    _support_id_rows(
        SupportIdContact.account_id == bindparam("account_id"), SupportId.name_key == bindparam("name_key")
    )
)
# The same for a batch of mail (``support_ids_for_askers``): every asker and name at once.
_SUPPORT_IDS_FOR_ASKERS = _support_id_rows(
    SupportIdContact.account_id.in_(bindparam("account_ids", expanding=True)),
    SupportId.name_key.in_(bindparam("name_keys", expanding=True)),
)

Families = tuple[set[str], set[str]]


def today(source: Reader) -> date:
    return source.clock.now().astimezone(JST).date()


def _families(rows: Sequence[Sequence[Any]], on: date) -> Families:
    """``(in force on that day, all)`` of rows ``(family, starts_on, ends_on, usable_from)``."""
    in_force: set[str] = set()
    every: set[str] = set()
    for family, starts_on, ends_on, usable_from in rows:
        if not family:
            continue
        every.add(family)
        if starts_on <= on <= ends_on and (usable_from is None or usable_from <= on):
            in_force.add(family)
    return in_force, every


async def families(source: Reader, support_id_id: int, on: date) -> Families:
    """The product families of a support ID's keys: ``(in force on that day, all)``."""
    return _families(await source.rows(_KEY_CONTRACTS, support_id_id=support_id_id), on)


@dataclass(frozen=True)
class AskedAbout:
    """The support ID an inquiry is opened about, as ``support_id_for_asker`` read it."""

    id: int
    name: str
    in_force: set[str]
    every: set[str]
    # Its CC addresses as stored, oldest first (``notifications.ack_cc_addresses`` picks
    # the acknowledgement's Cc from them).
    ccs: list[str]


def _asked_about(rows: Sequence[Sequence[Any]], on: date) -> AskedAbout | None:
    """The support ID of ``_support_id_rows`` rows whose contact is the asker; None when
    there are none (unknown and not theirs alike)."""
    if not rows or rows[0][2] is None:
        return None
    in_force, every = _families([row[5:9] for row in rows], on)
    ccs = dict(sorted({int(row[3]): str(row[4]) for row in rows if row[3] is not None}.items()))
    return AskedAbout(int(rows[0][0]), str(rows[0][1]), in_force, every, list(ccs.values()))


async def support_id_for_asker(source: Reader, account_id: int, name: str, on: date) -> AskedAbout:
    """``support_id_of`` for a customer, the support ID's ``families`` and its CC
    addresses, in one statement; unknown and not theirs refused alike."""
    rows = await source.rows(_SUPPORT_ID_FOR_ASKER, account_id=account_id, name_key=name_key(name))
    about = _asked_about(rows, on)
    if about is None:
        raise support_id_not_found(name)
    return about


async def support_ids_for_askers(
    uow: UnitOfWork, asked: Iterable[tuple[int, str]], on: date
) -> dict[tuple[int, str], AskedAbout]:
    """``support_id_for_asker`` for a batch of mail's ``(account id, support ID name)``
    pairs in one statement, keyed by ``(account id, name_key(name))``; a pair that is
    unknown or not theirs is missing."""
    pairs = {(account_id, name_key(name)) for account_id, name in asked}
    if not pairs:
        return {}
    params = {"account_ids": sorted({a for a, _k in pairs}), "name_keys": sorted({k for _a, k in pairs})}
    rows: dict[tuple[int, str], list[Sequence[Any]]] = {}
    for row in (await uow.session.execute(_SUPPORT_IDS_FOR_ASKERS, params)).all():
        if row[2] is not None:
            rows.setdefault((int(row[2]), str(row[9])), []).append(row)
    found = {pair: _asked_about(rows.get(pair, []), on) for pair in pairs}
    return {pair: about for pair, about in found.items() if about is not None}


@reads
async def products_for(source: Reader, actor: Actor, support_id: str | None) -> tuple[str, ...]:
    """What the product select offers for a support ID: its families in force today,
    then ``その他``; without a support ID only ``その他``."""
    account_id = await customer_account_id(source, actor)
    if not support_id:
        return (OTHER_PRODUCT,)
    try:
        sid, _name = await support_id_of(source, actor, account_id, support_id)
    except NotFound:
        return (OTHER_PRODUCT,)
    in_force, _every = await families(source, sid, today(source))
    return (*sorted(in_force), OTHER_PRODUCT)


def check_text(subject: str, body: str, errors: dict[str, str]) -> tuple[str, str]:
    """Subject and body trimmed; what is wrong with them added to ``errors``."""
    subject = " ".join(subject.split())
    body = body.strip()
    if not subject:
        errors["subject"] = "inquiry.subject_required"
    elif len(subject) > MAX_SUBJECT:
        errors["subject"] = "inquiry.subject_too_long"
    if not body:
        errors["body"] = "inquiry.body_required"
    elif len(body) > MAX_BODY:
        errors["body"] = "inquiry.body_too_long"
    return subject, body


def _limits(**params: object) -> dict[str, object]:
    return {"max_subject": MAX_SUBJECT, "max_body": MAX_BODY, "max_attachments": MAX_ATTACHMENTS, **params}


async def open_inquiry(
    uow: UnitOfWork,
    actor: Actor,
    *,
    support_id: str | None,
    product: str | None,
    subject: str,
    body: str,
    attachments: Sequence[Incoming] = (),
    attachments_refused: Refused | None = None,
    message_id: str | None = None,
    commit: bool = True,
) -> Opened:
    """Open an inquiry and commit (see the module docstring). ``message_id``: the
    customer's mail, when it came by mail (the acknowledgement answers it); ``product``
    None: decided as for a new inquiry by mail (see ``check_opening``).
    ``attachments``: the message's files, kept with it or refused with the other fields
    (``core.inquiries.attachments``); ``attachments_refused``: a mail's files that could
    not be kept (the acknowledgement and the staff post say why). The mail door's intake
    opens a whole batch of mail's inquiries at once instead (``check_opening`` and
    ``store`` on what it read for the batch)."""
    account, company = await customer_account(uow, actor)
    name = (support_id or "").strip()
    about = None
    if name:
        with suppress(NotFound):  # check_opening refuses it, with the other fields
            about = await support_id_for_asker(uow, account.id, name, today(uow))
    question = Question(subject, body, attachments, attachments_refused, message_id)
    opening = check_opening(uow.settings, actor, account, company, question, name, about, product)
    [opened] = await store(uow, [opening])
    if commit:
        await uow.commit()
    return opened


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
    too long ago that a follow-up opens this one for. ``opened``: set once stored."""

    actor: Actor
    account: Account
    question: Question
    support_id_id: int | None
    support_id: str | None
    product: str
    previous: int | None = None
    company: str | None = None
    cc_addresses: list[str] | None = None
    opened: Opened | None = None


def check_opening(
    settings: Settings,
    actor: Actor,
    account: Account,
    company: str,
    question: Question,
    support_id: str,
    about: AskedAbout | None,
    product: str | None,
) -> Opening:
    """Who may open what (see the module docstring), for an asker that passed
    ``customer_account``: ``support_id`` the name typed or mailed (trimmed; "" for
    none), ``about`` what ``support_id_for_asker`` found of it (None: unknown or not
    theirs); ``product`` None: by mail, nobody chose. Every refusal is one
    ``ValidationFailed``; nothing is read or written."""
    errors: dict[str, str] = {}
    subject, body = check_text(question.subject, question.body, errors)
    file_params = refused_fields(settings, question.attachments, errors)
    name = support_id
    sid: int | None = None
    in_force: set[str] = set()
    every: set[str] = set()
    ccs: list[str] = []
    if name:
        if about is None:
            errors["support_id"] = "inquiry.support_id_not_found"
        else:
            sid, name, in_force, every, ccs = about.id, about.name, about.in_force, about.every, about.ccs
    if product is None:
        # By mail nobody chose: the support ID's only family in force, else その他 for
        # staff to set (SPEC §4.8 "New inquiry by mail").
        product = next(iter(in_force)) if len(in_force) == 1 else OTHER_PRODUCT
    product = product.strip()
    if not product:
        errors["product"] = "inquiry.product_required"
    elif product != OTHER_PRODUCT:
        if not name:
            errors.setdefault("support_id", "inquiry.support_id_required")
        elif sid is not None:
            if product not in every:
                errors["product"] = "inquiry.product_not_in_support_id"
            elif product not in in_force:
                errors["product"] = "inquiry.contract_ended"
    if errors:
        raise ValidationFailed(errors, **_limits(support_id=name, product=product, **file_params))
    checked = replace(question, subject=subject, body=body)
    return Opening(actor, account, checked, sid, name or None, product, company=company, cc_addresses=ccs)


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


_ROWS_AT_ONCE = {1: _rows_at_once(1), 2: _rows_at_once(2)}
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
    """New rows of one table, however many (parameters ``v_<column>`` for one row).

    On SQLite, each row through a statement compiled once and run on the unit's own
    connection (``core.storage.compiled``): SQLite has no round trips, and that costs a
    quarter of the CPU of ``session.execute`` with a dict (the ask submission paid it
    four times) — less, too, than SQLAlchemy building one multi-row INSERT for a
    batch's rows, measured. On PostgreSQL the round trips cost: one row as that
    compiled statement, a batch's rows in one multi-row INSERT (the mail intake: one
    statement per table, not several per mail)."""

    def __init__(self, table: Table, columns: Sequence[str], *returning: Any) -> None:
        self.columns = tuple(columns)
        one = insert(table).values(_bound(table, "v_", columns))
        self.one = Query(one.returning(*returning) if returning else one)
        self.many = insert(table).returning(*returning) if returning else insert(table)
        self.returning = bool(returning)

    async def insert(self, uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> list[Row]:
        """``rows``' RETURNING rows, in order."""
        params = [_params("v_", row, self.columns) for row in rows]
        raw = await uow.sqlite_connection()
        if raw is not None:
            compiled = self.one.compiled(uow.dialect)
            return [found for p in params for found in run_sqlite(raw, compiled, p)]
        if len(rows) == 1:
            return await uow.rows(self.one, **params[0])
        result = await uow.session.execute(self.many, list(rows))
        return [tuple(row) for row in result] if self.returning else []


_NEW_INQUIRY = _Rows(_INQUIRIES, _INQUIRY_COLUMNS, _INQUIRIES.c.id, _INQUIRIES.c.thread_id)
_NEW_MESSAGE = _Rows(_MESSAGES, _MESSAGE_COLUMNS, _MESSAGES.c.id, _MESSAGES.c.inquiry_id)
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
    rows = await _NEW_MESSAGE.insert(uow, values)
    ids = {int(inquiry_id): int(message_row_id) for message_row_id, inquiry_id in rows}
    kept: list[list[AttachmentInfo]] = []
    for (actor, _account, number, _body, _m, files), row in zip(messages, values, strict=True):
        message = InquiryMessage(id=ids[number], **row)
        kept.append(await keep_attachments(uow, actor, message, files) if files else [])
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
        ccs.append(
            await notifications.ack_cc_addresses(uow, o.support_id_id, o.account.email, o.cc_addresses)
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
    # What the acknowledgements and the staff posts are made of (not added to the session).
    inquiries = [Inquiry(id=numbers[v["thread_id"]], **v) for v in values]
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
        await uow.session.execute(_ROWS_AT_ONCE[len(outbox)], params)
    else:
        await _NEW_AUDIT.insert(uow, audit_rows)
        await _NEW_OUTBOX.insert(uow, [{**row, "last_error": ""} for row in outbox])
    return [o.opened for o in openings if o.opened is not None]
