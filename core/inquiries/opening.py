"""Opening an inquiry (SPEC §4.8): who may, about which product, and what it starts.

An inquiry belongs to one support ID and one product family of that support ID's keys
whose contract is in force today, or to ``その他`` (with or without a support ID). Only an
active account that is a contact of the support ID may open one. Every refusal is a
``ValidationFailed`` naming the offending field (``support_id``, ``product``,
``subject``, ``body``, ``attachments`` — the block ids of the Slack modal) with a catalog
message that says what to do; nothing is stored. A support ID that does not exist and
one the asker is no contact of are refused alike.

Opening stores the inquiry and its first message, audits it, and queues the
acknowledgement (asker, Cc the CC addresses) and the staff post, in one transaction
(``core.inquiries.storing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, select, true

from core.actors import Actor
from core.attachments import Incoming
from core.clock import JST
from core.config import Settings
from core.errors import NotFound, ValidationFailed
from core.inquiries.access import (
    asker_columns,
    customer_account,
    customer_account_id,
    customer_account_with,
    support_id_of,
)
from core.inquiries.attachments import MAX_ATTACHMENTS, Refused, refused_fields
from core.inquiries.numbers import OTHER_PRODUCT
from core.inquiries.storing import Opening, Question, store
from core.inquiries.views import Opened
from core.models import (
    Account,
    Contract,
    SupportId,
    SupportIdCc,
    SupportIdContact,
    SupportKey,
)
from core.snapshots import Query, Reader, reads
from core.support_ids.names import name_key
from core.unit_of_work import UnitOfWork

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


# The asker (``customer_account``) and the same of the support ID named, in one
# statement: a round trip fewer for the ask submission on PostgreSQL. No support ID
# of that name: one row of NULLs after the asker's columns.
_ASKED = _support_id_rows(
    SupportIdContact.account_id == bindparam("account_id"), SupportId.name_key == bindparam("name_key")
).subquery("asked")
_ASKER_ASKING = Query(
    asker_columns()
    .add_columns(*_ASKED.c)
    .outerjoin(_ASKED, true())
    .where(Account.id == bindparam("account_id"))
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
    """The support ID an inquiry is opened about, as the asker's read (``customer_account_with``)
    or a batch's (``support_ids_for_askers``) found it."""

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


async def support_ids_for_askers(
    uow: UnitOfWork, asked: Iterable[tuple[int, str]], on: date
) -> dict[tuple[int, str], AskedAbout]:
    """The support IDs of a batch of mail's ``(account id, support ID name)`` pairs (each
    with its families and CC addresses, as the modal's ask reads one) in one statement, keyed by ``(account id, name_key(name))``; a pair that is
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
    name = (support_id or "").strip()
    about = None
    if name:
        # check_opening refuses a support ID unknown or not theirs (None), with the
        # other fields.
        account, company, rows = await customer_account_with(
            uow, actor, _ASKER_ASKING, name_key=name_key(name)
        )
        about = _asked_about([row for row in rows if row[0] is not None], today(uow))
    else:
        account, company = await customer_account(uow, actor)
    question = Question(subject, body, attachments, attachments_refused, message_id)
    opening = check_opening(uow.settings, actor, account, company, question, name, about, product)
    [opened] = await store(uow, [opening])
    if commit:
        await uow.commit()
    return opened


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
    none), ``about`` what was found of it (None: unknown or not
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
