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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, select

from core import audit
from core.actors import Actor
from core.attachments import AttachmentInfo, Incoming
from core.business_days import calendar_for
from core.clock import JST
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
# What opening needs of the support ID typed in the modal, in one statement: the support
# ID, whether the asker is its contact, its keys' contracts and its CC addresses (a row
# per key and address: a support ID has a few of each; NULLs where it has none). As
# ``support_id_of``, ``families`` and the acknowledgement's Cc, in one round trip
# instead of four.
_SUPPORT_ID_FOR_ASKER = Query(
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
    )
    .select_from(SupportId)
    .outerjoin(
        SupportIdContact,
        and_(
            SupportIdContact.support_id_id == SupportId.id,
            SupportIdContact.account_id == bindparam("account_id"),
        ),
    )
    .outerjoin(SupportKey, and_(SupportKey.support_id_id == SupportId.id, SupportKey.revoked_at.is_(None)))
    .outerjoin(Contract, Contract.id == SupportKey.contract_id)
    .outerjoin(SupportIdCc, SupportIdCc.support_id_id == SupportId.id)
    .where(SupportId.name_key == bindparam("name_key"))
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


async def support_id_for_asker(source: Reader, account_id: int, name: str, on: date) -> AskedAbout:
    """``support_id_of`` for a customer, the support ID's ``families`` and its CC
    addresses, in one statement; unknown and not theirs refused alike."""
    rows = await source.rows(_SUPPORT_ID_FOR_ASKER, account_id=account_id, name_key=name_key(name))
    if not rows or rows[0][2] is None:
        raise support_id_not_found(name)
    in_force, every = _families([row[5:] for row in rows], on)
    ccs = dict(sorted({int(row[3]): str(row[4]) for row in rows if row[3] is not None}.items()))
    return AskedAbout(int(rows[0][0]), str(rows[0][1]), in_force, every, list(ccs.values()))


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
    None: decided as for a new inquiry by mail (see below). The mail
    door's intake passes ``commit=False``: it commits a whole batch of mail at once.
    ``attachments``: the message's files, kept with it or refused with the other fields
    (``core.inquiries.attachments``); ``attachments_refused``: a mail's files that could
    not be kept (the acknowledgement and the staff post say why)."""
    account, company = await customer_account(uow, actor)
    errors: dict[str, str] = {}
    subject, body = check_text(subject, body, errors)
    file_params = refused_fields(uow.settings, attachments, errors)
    name = (support_id or "").strip()
    sid: int | None = None
    in_force: set[str] = set()
    every: set[str] = set()
    ccs: list[str] = []
    if name:
        try:
            about = await support_id_for_asker(uow, account.id, name, today(uow))
        except NotFound:
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
    opened = await start(
        uow,
        actor,
        account,
        support_id_id=sid,
        support_id=name or None,
        product=product,
        subject=subject,
        body=body,
        attachments=attachments,
        attachments_refused=attachments_refused,
        message_id=message_id,
        company=company,
        cc_addresses=ccs,
    )
    if commit:
        await uow.commit()
    return opened


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


def _insert(table: Table, columns: Sequence[str], *returning: Any) -> Query:
    """One row into ``table``, parameters ``v_<column>``: compiled once, and on SQLite
    run on the unit's own connection (``UnitOfWork.rows``) — a quarter of the CPU of
    ``session.execute`` with a dict, which the ask submission paid four times."""
    statement = insert(table).values(_bound(table, "v_", columns))
    return Query(statement.returning(*returning) if returning else statement)


_NEW_INQUIRY = _insert(_INQUIRIES, _INQUIRY_COLUMNS, _INQUIRIES.c.id)
_NEW_MESSAGE = _insert(_MESSAGES, _MESSAGE_COLUMNS, _MESSAGES.c.id)
_NEW_AUDIT = _insert(_AUDIT, _AUDIT_COLUMNS)
_NEW_OUTBOX = _insert(_OUTBOX, _OUTBOX_COLUMNS)


def _params(prefix: str, values: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    assert set(values) == set(columns), f"{prefix}: {sorted(set(values) ^ set(columns))}"
    return {f"{prefix}{k}": v for k, v in values.items()}


async def _inserted(uow: UnitOfWork, query: Query, values: dict[str, Any], columns: Sequence[str]) -> int:
    """The new row's id."""
    found = await uow.first(query, **_params("v_", values, columns))
    assert found is not None
    return int(found[0])


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
    values = _message_values(uow, actor, account, inquiry_id, body, message_id)
    # A plain INSERT, not an ORM object: in the database at once (the mail intake's next
    # mail in the batch may answer it) for less CPU than a flush.
    message_row_id = await _inserted(uow, _NEW_MESSAGE, values, _MESSAGE_COLUMNS)
    if not attachments:
        return []
    message = InquiryMessage(id=message_row_id, **values)
    return await keep_attachments(uow, actor, message, attachments)


async def start(
    uow: UnitOfWork,
    actor: Actor,
    account: Account,
    *,
    support_id_id: int | None,
    support_id: str | None,
    product: str,
    subject: str,
    body: str,
    attachments: Sequence[Incoming] = (),
    attachments_refused: Refused | None = None,
    message_id: str | None = None,
    previous: int | None = None,
    company: str | None = None,
    cc_addresses: list[str] | None = None,
) -> Opened:
    """Store a checked inquiry with its first message, audit, queue the acknowledgement
    and the staff post; the caller commits. Also a follow-up to an inquiry closed too
    long ago (``previous``). ``company``, ``cc_addresses``: the asker's company name and
    the support ID's CC addresses, when the caller read them already.

    Why plain INSERTs rather than ORM objects: the ask submission's time on PostgreSQL
    is the process's CPU and the round trips per opening (docs/performance.md). Every
    read comes first; then the inquiry (its number); then its message, the audit row and
    both outbox rows — on PostgreSQL in one statement, elsewhere (or with files, which
    name the message) in three. No flush."""
    now = uow.clock.now()
    if company is None:
        found = await uow.first(_COMPANY_NAME, company_id=account.company_id)
        company = str(found[0]) if found else ""
    ccs = await notifications.ack_cc_addresses(uow, support_id_id, account.email, cc_addresses)
    due = calendar_for(uow.settings).answer_due(now, uow.settings.answer_business_days)
    values: dict[str, Any] = {
        "support_id_id": support_id_id,
        "product_family": product,
        "subject": subject,
        "status": "new",
        "asker_account_id": account.id,
        "asker_email": account.email,
        "locale": account.locale or uow.settings.locale,
        "received_at": now,
        "due_on": due,
        "updated_at": now,
        "previous_id": previous,
        "thread_id": new_message_id(uow),
    }
    number = await _inserted(uow, _NEW_INQUIRY, values, _INQUIRY_COLUMNS)
    # What the acknowledgement and the staff post are made of (not added to the session).
    inquiry = Inquiry(id=number, **values)
    at_once = not attachments and uow.dialect.name == "postgresql"
    stored: list[AttachmentInfo] = []
    if not at_once:
        stored = await add_customer_message(uow, actor, account, number, body, message_id, attachments)
    audit_row = audit.values(
        uow,
        actor,
        "inquiry.opened",
        support_id_id=support_id_id,
        inquiry=number,
        product=product,
        previous=previous,
    )
    asker = display_name(account)
    ack = notifications.ack_row(
        uow,
        inquiry,
        ccs,
        support_id=support_id,
        name=asker,
        body=body,
        parent=message_id,
        files=stored,
        files_refused=attachments_refused,
    )
    post = notifications.staff_post_row(
        uow,
        inquiry,
        support_id=support_id,
        company=company,
        asker=asker,
        body=body,
        attachments=listed(stored),
        attachments_refused=attachments_refused,
    )
    outbox = [row for row in (ack, post) if row is not None]
    if at_once:
        params = {
            **_params("m_", _message_values(uow, actor, account, number, body, message_id), _MESSAGE_COLUMNS),
            **_params("a_", audit_row, _AUDIT_COLUMNS),
        }
        for i, row in enumerate(outbox):
            params.update(_params(f"o{i}_", {**row, "last_error": ""}, _OUTBOX_COLUMNS))
        await uow.session.execute(_ROWS_AT_ONCE[len(outbox)], params)
    else:
        await uow.rows(_NEW_AUDIT, **_params("v_", audit_row, _AUDIT_COLUMNS))
        for row in outbox:
            await uow.rows(_NEW_OUTBOX, **_params("v_", {**row, "last_error": ""}, _OUTBOX_COLUMNS))
    return Opened(number=inquiry.id, due_on=due, previous=previous)
