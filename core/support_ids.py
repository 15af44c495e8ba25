"""Support IDs (SPEC §4.4): a named group of keys shared by its contacts (担当者).

Rules, and where each is enforced:

- The name (≤ 80 of ``A-Z a-z 0-9 - _``) is unique case-insensitively: ``name_key`` holds
  the lower-cased name under a UNIQUE constraint, so two sessions issuing the same name
  at once cannot both win; the loser's ``IntegrityError`` becomes
  ``support_id.name_taken``. The read before the insert only gives a quicker answer.
- A key joins at most one support ID: it is claimed with a conditional
  ``UPDATE … WHERE support_id_id IS NULL``; a claim that changes no row lost a race.
- All keys of one contract number belong to one support ID: every claim first locks the
  contract row (``SELECT … FOR UPDATE``; SQLite serialises every writer with
  ``BEGIN IMMEDIATE`` anyway), then looks for a key of that contract elsewhere. Two
  claims on one contract therefore run one after the other and the second sees the first.
- Changes to one support ID lock its row first, so two contacts removing each other at
  once cannot leave it without a contact. Lock order is always support ID, then contract.
- Only contacts and staff see or change a support ID. Anybody else gets exactly the answer
  a non-existent name gets (``support_id.not_found``), so names cannot be probed.
- A support ID is never renamed or deleted; there is no function for either.

Mutating services commit; every change is audited and its notifications are queued in
the same transaction (one outbox row per recipient, in the recipient's language).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CursorResult, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, outbox, support_keys, throttle
from core.actors import Actor
from core.clock import aware
from core.errors import Conflict, Forbidden, InvalidSupportKey, NotFound, ValidationFailed
from core.messages import render
from core.models import (
    Account,
    Contract,
    PendingContact,
    SupportId,
    SupportIdCc,
    SupportIdContact,
    SupportKey,
    TermsAgreement,
)
from core.normalize import support_key as canonical_key
from core.snapshots import Query, Snapshot, rows
from core.unit_of_work import UnitOfWork

NAME_MAX = 80
DESCRIPTION_MAX = 255
CC_MAX = 20
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def is_well_formed_name(name: str) -> bool:
    """The SPEC's name rule (1–80 of ``A-Z a-z 0-9 - _``); the import checks it too."""
    return 0 < len(name) <= NAME_MAX and bool(_NAME.match(name))


@dataclass(frozen=True)
class SupportIdSummary:
    """One line of a user's list; a support ID may span several contracts."""

    name: str
    description: str
    product_families: tuple[str, ...]
    end_users: tuple[str, ...]
    maintenance_ends_on: date | None


@dataclass(frozen=True)
class KeyView:
    masked: str
    last4: str
    contract_number: str
    product_family: str
    end_user: str
    ends_on: date
    usable: bool


@dataclass(frozen=True)
class ContactView:
    account_id: int
    email: str
    display_name: str


@dataclass(frozen=True)
class SupportIdDetail:
    name: str
    description: str
    migrated: bool
    created_at: datetime
    keys: tuple[KeyView, ...]
    contacts: tuple[ContactView, ...]
    pending_contacts: tuple[str, ...]
    cc: tuple[str, ...]
    maintenance_ends_on: date | None
    terms_required: bool
    terms_agreed_at: datetime | None


# --------------------------------------------------------------------------- helpers


def name_key(name: str) -> str:
    """How a name is compared: width-folded (a name typed in full width is the same
    name), trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", name).strip().lower()


def _display_name(account: Account) -> str:
    return f"{account.last_name} {account.first_name}".strip()


def _validate_name(name: str) -> str:
    cleaned = unicodedata.normalize("NFKC", name).strip()
    if not cleaned:
        raise ValidationFailed({"name": "support_id.name_required"})
    if len(cleaned) > NAME_MAX:
        raise ValidationFailed({"name": "support_id.name_too_long"}, max=NAME_MAX)
    if not _NAME.match(cleaned):
        raise ValidationFailed({"name": "support_id.name_invalid"})
    return cleaned


def _validate_description(description: str) -> str:
    cleaned = description.strip()
    if len(cleaned) > DESCRIPTION_MAX:
        raise ValidationFailed({"description": "support_id.description_too_long"}, max=DESCRIPTION_MAX)
    return cleaned


def _normalise_email(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


_ACCOUNT_STATUS = Query(select(Account.status).where(Account.id == bindparam("account_id")))


async def acting_account_id(source: UnitOfWork | Snapshot, actor: Actor) -> int | None:
    """The actor's account id, or None for staff. Anyone else (no account, a disabled
    one) may not touch support IDs. A read path that needs no ``Account`` object uses
    this: one column, no ORM instance."""
    if actor.is_staff:
        return None
    if actor.kind != "account" or actor.account_id is None:
        raise Forbidden("support_id.account_required")
    found = await rows(source, _ACCOUNT_STATUS, account_id=actor.account_id)
    if not found or found[0][0] == "disabled":
        raise Forbidden("support_id.account_required")
    return actor.account_id


async def acting_account(uow: UnitOfWork, actor: Actor) -> Account | None:
    """The actor's account, or None for staff; the rule is ``acting_account_id``'s."""
    account_id = await acting_account_id(uow, actor)
    if account_id is None:
        return None
    account = await uow.session.get(Account, account_id)
    if account is None:  # deleted between the two reads
        raise Forbidden("support_id.account_required")
    return account


async def _require_account(uow: UnitOfWork, actor: Actor) -> Account:
    account = await acting_account(uow, actor)
    if account is None:
        # Staff have no account to become a contact with.
        raise Forbidden("support_id.account_required")
    return account


async def visible(uow: UnitOfWork, actor: Actor, name: str, *, lock: bool = False) -> SupportId:
    """The support ID if the actor may see it; the same ``NotFound`` otherwise, whether
    the name exists or not. ``lock`` holds its row until commit (PostgreSQL)."""
    query = select(SupportId).where(SupportId.name_key == name_key(name))
    if lock:
        query = query.with_for_update()
    found = (await uow.session.scalars(query.execution_options(populate_existing=True))).first()
    if found is not None and (actor.is_staff or await _is_contact(uow, found.id, actor.account_id)):
        return found
    raise NotFound("support_id.not_found", support_id=name.strip())


async def _is_contact(uow: UnitOfWork, support_id_id: int, account_id: int | None) -> bool:
    if account_id is None:
        return False
    row = await uow.session.scalar(
        select(SupportIdContact.account_id).where(
            SupportIdContact.support_id_id == support_id_id, SupportIdContact.account_id == account_id
        )
    )
    return row is not None


async def _lock_contract(uow: UnitOfWork, contract_id: int) -> None:
    await uow.session.execute(select(Contract.id).where(Contract.id == contract_id).with_for_update())


async def _contacts(uow: UnitOfWork, support_id_id: int) -> list[Account]:
    rows = await uow.session.scalars(
        select(Account)
        .join(SupportIdContact, SupportIdContact.account_id == Account.id)
        .where(SupportIdContact.support_id_id == support_id_id)
        .order_by(SupportIdContact.added_at, Account.id)
    )
    return list(rows.all())


async def notify(
    uow: UnitOfWork, support_id: SupportId, template: str, context: dict[str, Any], by: Account | None
) -> None:
    """Queue one mail per contact (in their language, greeted by name) and per CC address
    (default language): copies of the support ID's news (SPEC §4.4 CC addresses).

    Context keys follow the mail templates' contract (API.md, mail): ``support_id``,
    ``name`` (recipient), ``by`` (who did it; staff are named by their role).
    """
    recipients: dict[str, tuple[str, str]] = {}
    for account in await _contacts(uow, support_id.id):
        if account.status != "disabled":
            recipients.setdefault(account.email, (account.locale, _display_name(account)))
    ccs = await uow.session.scalars(
        select(SupportIdCc.email).where(SupportIdCc.support_id_id == support_id.id).order_by(SupportIdCc.id)
    )
    for email in ccs:
        recipients.setdefault(email, (uow.settings.locale, ""))
    for email, (locale, name) in recipients.items():
        full = {
            "support_id": support_id.name,
            "description": support_id.description,
            "name": name,
            "by": _by(by, locale),
            **context,
        }
        outbox.enqueue_mail(uow, template, [email], full, locale=locale)


def _by(account: Account | None, locale: str) -> str:
    return _display_name(account) if account else render("support_id.staff_actor", locale)


async def _commit(uow: UnitOfWork, on_conflict: Conflict | InvalidSupportKey) -> None:
    try:
        await uow.commit()
    except IntegrityError:
        await uow.rollback()
        raise on_conflict from None


async def _key_view(uow: UnitOfWork, key: SupportKey, contract: Contract) -> KeyView:
    return KeyView(
        masked=support_keys.mask(key.last4),
        last4=key.last4,
        contract_number=contract.number,
        product_family=contract.product_family,
        end_user=contract.end_user,
        ends_on=contract.ends_on,
        usable=support_keys.usable_on(key, contract, support_keys.today(uow)),
    )


async def _holder_refusal(uow: UnitOfWork, actor: Actor, account: Account | None, holder_id: int) -> None:
    """Raise the answer for a key already in support ID ``holder_id``.

    The key's owner learns where it is when they may see that support ID (a contact, or
    staff) or when a colleague of the same company holds it, so they can ask to be added
    (SPEC §4.4); anybody else gets the one invalid-key answer, counted as a failure.
    """
    holder = await uow.session.get(SupportId, holder_id)
    assert holder is not None
    if account is None or await _is_contact(uow, holder_id, account.id):
        raise Conflict("support_id.key_in_other", support_id=holder.name)
    colleagues = [c for c in await _contacts(uow, holder_id) if c.company_id == account.company_id]
    if colleagues:
        raise Conflict(
            "support_id.key_taken_by_colleague",
            support_id=holder.name,
            contacts="、".join(_display_name(c) for c in colleagues),
        )
    await throttle.record_failure(uow, support_keys.THROTTLE_SCOPE, actor.ref, detail="key in a support ID")
    raise InvalidSupportKey()


async def _same_contract_elsewhere(uow: UnitOfWork, contract_id: int, support_id_id: int | None) -> bool:
    query = select(SupportKey.id).where(
        SupportKey.contract_id == contract_id, SupportKey.support_id_id.is_not(None)
    )
    if support_id_id is not None:
        query = query.where(SupportKey.support_id_id != support_id_id)
    return (await uow.session.scalar(query.limit(1))) is not None


async def _claim_key(uow: UnitOfWork, key_id: int, support_id_id: int) -> bool:
    result = await uow.session.execute(
        update(SupportKey)
        .where(SupportKey.id == key_id, SupportKey.support_id_id.is_(None))
        .values(support_id_id=support_id_id)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def _current_holder(uow: UnitOfWork, key_id: int) -> int | None:
    """Read past the session's identity map: another session may have claimed it."""
    return await uow.session.scalar(select(SupportKey.support_id_id).where(SupportKey.id == key_id))


# --------------------------------------------------------------------------- services


async def issue(uow: UnitOfWork, actor: Actor, key: str, name: str, description: str = "") -> SupportIdDetail:
    """Create a support ID around a free key; the issuer becomes its first contact."""
    account = await _require_account(uow, actor)
    clean_name = _validate_name(name)
    clean_description = _validate_description(description)
    usable = await support_keys.check_usable(uow, key, actor.ref)
    key_id, contract_id = usable.key.id, usable.contract.id
    taken = Conflict("support_id.name_taken", support_id=clean_name)
    if await uow.session.scalar(select(SupportId.id).where(SupportId.name_key == clean_name.lower())):
        raise taken

    await _lock_contract(uow, contract_id)
    if await _current_holder(uow, key_id) is not None:
        # SPEC §4.4: a key already in a support ID issues nothing, with the one answer.
        await throttle.record_failure(
            uow, support_keys.THROTTLE_SCOPE, actor.ref, detail="key in a support ID"
        )
        raise InvalidSupportKey()
    if await _same_contract_elsewhere(uow, contract_id, None):
        raise Conflict("support_id.same_contract")

    now = uow.clock.now()
    row = SupportId(
        name=clean_name,
        name_key=clean_name.lower(),
        description=clean_description,
        migrated=False,
        created_at=now,
    )
    uow.session.add(row)
    try:
        await uow.session.flush()
    except IntegrityError:
        # Another session committed the same name (case-insensitively) since our read.
        await uow.rollback()
        raise taken from None
    if not await _claim_key(uow, key_id, row.id):
        await uow.rollback()
        raise InvalidSupportKey()
    uow.session.add(SupportIdContact(support_id_id=row.id, account_id=account.id, added_at=now))
    audit.record(
        uow,
        actor,
        "support_id.issued",
        support_id_id=row.id,
        support_id=clean_name,
        key=support_keys.mask(usable.key.last4),
        contract=usable.contract.number,
    )
    outbox.enqueue_mail(
        uow,
        "support_id_issued",
        [account.email],
        {"support_id": clean_name, "description": clean_description, "name": _display_name(account)},
        locale=account.locale,
    )
    await _commit(uow, taken)
    return await show(uow, actor, clean_name)


# One row per (support ID, product family, end user) with the latest maintenance end;
# a support ID without keys has one row of NULLs. Built once: constructing it cost more
# CPU than SQLite answering it (bench/slack.py).
_LIST = Query(
    select(
        SupportId.id,
        SupportId.name,
        SupportId.description,
        Contract.product_family,
        Contract.end_user,
        func.max(Contract.ends_on),
    )
    .join(SupportIdContact, SupportIdContact.support_id_id == SupportId.id)
    .outerjoin(SupportKey, SupportKey.support_id_id == SupportId.id)
    .outerjoin(Contract, Contract.id == SupportKey.contract_id)
    .where(SupportIdContact.account_id == bindparam("account_id"))
    .group_by(
        SupportId.id,
        SupportId.name,
        SupportId.description,
        SupportId.name_key,
        Contract.product_family,
        Contract.end_user,
    )
    .order_by(SupportId.name_key, SupportId.id)
)


async def list_for_account(
    source: UnitOfWork | Snapshot, actor: Actor, account_id: int | None = None
) -> list[SupportIdSummary]:
    """The support IDs an account is a contact of, in one query whatever their number;
    from a unit of work or a snapshot (the list changes nothing).

    Staff may name any account; an account may only list its own.
    """
    own = await acting_account_id(source, actor)
    if own is not None:
        if account_id not in (None, own):
            raise Forbidden("access.forbidden")
        account_id = own
    if account_id is None:
        raise Forbidden("support_id.account_required")

    found: dict[int, tuple[str, str]] = {}
    families: dict[int, set[str]] = {}
    end_users: dict[int, set[str]] = {}
    ends: dict[int, date] = {}
    for sid, name, description, family, end_user, ends_on in await rows(source, _LIST, account_id=account_id):
        found.setdefault(sid, (name, description))
        if family:
            families.setdefault(sid, set()).add(family)
        if end_user:
            end_users.setdefault(sid, set()).add(end_user)
        if ends_on is not None and (sid not in ends or ends_on > ends[sid]):
            ends[sid] = ends_on
    return [
        SupportIdSummary(
            name=name,
            description=description,
            product_families=tuple(sorted(families.get(sid, ()))),
            end_users=tuple(sorted(end_users.get(sid, ()))),
            maintenance_ends_on=ends.get(sid),
        )
        for sid, (name, description) in found.items()
    ]


async def show(uow: UnitOfWork, actor: Actor, name: str) -> SupportIdDetail:
    await acting_account(uow, actor)
    sid = await visible(uow, actor, name)
    key_rows = (
        await uow.session.execute(
            select(SupportKey, Contract)
            .join(Contract, Contract.id == SupportKey.contract_id)
            .where(SupportKey.support_id_id == sid.id)
            .order_by(Contract.number, SupportKey.last4, SupportKey.id)
        )
    ).all()
    keys = tuple([await _key_view(uow, k, c) for k, c in key_rows])
    contacts = tuple(
        ContactView(account_id=a.id, email=a.email, display_name=_display_name(a))
        for a in await _contacts(uow, sid.id)
    )
    pending = tuple(
        (
            await uow.session.scalars(
                select(PendingContact.email)
                .where(PendingContact.support_id_id == sid.id)
                .order_by(PendingContact.email)
            )
        ).all()
    )
    ccs = tuple(
        (
            await uow.session.scalars(
                select(SupportIdCc.email)
                .where(SupportIdCc.support_id_id == sid.id)
                .order_by(SupportIdCc.email)
            )
        ).all()
    )
    agreed_at = await uow.session.scalar(
        select(TermsAgreement.agreed_at).where(
            TermsAgreement.support_id_id == sid.id, TermsAgreement.terms_version == uow.settings.terms_version
        )
    )
    return SupportIdDetail(
        name=sid.name,
        description=sid.description,
        migrated=sid.migrated,
        created_at=aware(sid.created_at),
        keys=keys,
        contacts=contacts,
        pending_contacts=pending,
        cc=ccs,
        maintenance_ends_on=max((c.ends_on for _, c in key_rows), default=None),
        terms_required=any(c.requires_terms for _, c in key_rows),
        terms_agreed_at=aware(agreed_at) if agreed_at else None,
    )


async def add_key(uow: UnitOfWork, actor: Actor, name: str, key: str) -> KeyView:
    """Add a valid, free key; its contract must not already be in another support ID."""
    account = await acting_account(uow, actor)
    await visible(uow, actor, name)
    usable = await support_keys.check_usable(uow, key, actor.ref)
    key_id, contract_id = usable.key.id, usable.contract.id
    sid = await visible(uow, actor, name, lock=True)
    await _lock_contract(uow, contract_id)

    holder = await _current_holder(uow, key_id)
    if holder == sid.id:
        raise Conflict("support_id.key_already_here", support_id=sid.name)
    if holder is not None:
        await _holder_refusal(uow, actor, account, holder)
    if await _same_contract_elsewhere(uow, contract_id, sid.id):
        raise Conflict("support_id.same_contract")
    if not await _claim_key(uow, key_id, sid.id):
        await uow.rollback()
        raise InvalidSupportKey()

    view = await _key_view(uow, usable.key, usable.contract)
    audit.record(
        uow,
        actor,
        "support_id.key_added",
        support_id_id=sid.id,
        key=view.masked,
        contract=view.contract_number,
    )
    await notify(
        uow,
        sid,
        "key_added",
        {"key": view.masked, "contract_number": view.contract_number, "product_family": view.product_family},
        account,
    )
    await _commit(uow, InvalidSupportKey())
    return view


async def remove_key(uow: UnitOfWork, actor: Actor, name: str, key: str) -> KeyView:
    """Take a key out; it is free again. ``key`` is the whole key, or its last four
    characters when no other key of this support ID ends the same (what ``show`` shows)."""
    account = await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    not_here = NotFound("support_id.key_not_here", support_id=sid.name)
    typed = canonical_key(key)
    query = select(SupportKey, Contract).join(Contract, Contract.id == SupportKey.contract_id)
    if len(typed) == 4:
        query = query.where(SupportKey.support_id_id == sid.id, SupportKey.last4 == typed)
    elif support_keys.is_well_formed(key):
        query = query.where(SupportKey.key_hash == support_keys.digest(uow.hasher, key))
    else:
        raise not_here
    rows = (await uow.session.execute(query.limit(2))).all()
    if len(rows) > 1:
        raise Conflict("support_id.key_ambiguous", last4=typed)
    if not rows or rows[0][0].support_id_id != sid.id:
        raise not_here
    found, contract = rows[0]
    result = await uow.session.execute(
        update(SupportKey)
        .where(SupportKey.id == found.id, SupportKey.support_id_id == sid.id)
        .values(support_id_id=None)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise not_here
    view = await _key_view(uow, found, contract)
    audit.record(
        uow,
        actor,
        "support_id.key_removed",
        support_id_id=sid.id,
        key=view.masked,
        contract=view.contract_number,
    )
    await notify(
        uow,
        sid,
        "key_removed",
        {"key": view.masked, "contract_number": view.contract_number, "product_family": view.product_family},
        account,
    )
    await uow.commit()
    return view


async def add_contact(uow: UnitOfWork, actor: Actor, name: str, email: str) -> ContactView:
    """Add a registered account as a contact; the added person is told by mail."""
    account = await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _normalise_email(email)
    added = await uow.session.scalar(select(Account).where(Account.email == address))
    if added is None or added.status == "disabled":
        raise NotFound("support_id.contact_unknown", email=address)
    exists_already = Conflict("support_id.contact_exists", support_id=sid.name, email=address)
    if await _is_contact(uow, sid.id, added.id):
        raise exists_already
    uow.session.add(SupportIdContact(support_id_id=sid.id, account_id=added.id, added_at=uow.clock.now()))
    await uow.session.execute(
        delete(PendingContact).where(PendingContact.support_id_id == sid.id, PendingContact.email == address)
    )
    audit.record(uow, actor, "support_id.contact_added", support_id_id=sid.id, contact_account_id=added.id)
    outbox.enqueue_mail(
        uow,
        "contact_added",
        [added.email],
        {
            "support_id": sid.name,
            "description": sid.description,
            "name": _display_name(added),
            "added_by": _by(account, added.locale),
        },
        locale=added.locale,
    )
    await _commit(uow, exists_already)
    return ContactView(account_id=added.id, email=added.email, display_name=_display_name(added))


async def remove_contact(uow: UnitOfWork, actor: Actor, name: str, email: str) -> ContactView:
    """Remove a contact (oneself included); the last contact stays."""
    await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _normalise_email(email)
    contacts = await _contacts(uow, sid.id)
    target = next((c for c in contacts if c.email == address), None)
    if target is None:
        raise NotFound("support_id.contact_not_found", support_id=sid.name, email=address)
    if len(contacts) == 1:
        raise Conflict("support_id.last_contact", support_id=sid.name)
    await uow.session.execute(
        delete(SupportIdContact).where(
            SupportIdContact.support_id_id == sid.id, SupportIdContact.account_id == target.id
        )
    )
    audit.record(uow, actor, "support_id.contact_removed", support_id_id=sid.id, contact_account_id=target.id)
    await uow.commit()
    return ContactView(account_id=target.id, email=target.email, display_name=_display_name(target))


def _validate_cc(uow: UnitOfWork, raw: str) -> str:
    text = raw.strip()
    invalid = ValidationFailed({"email": "support_id.cc_invalid"})
    if not text or any(ch in text for ch in "\r\n\0,;<>"):
        raise invalid
    try:
        parsed = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise invalid from None
    address = parsed.normalized.lower()
    ours = {uow.settings.contact_address.lower(), uow.settings.mail_from.lower()}
    if address in ours or len(address) > 254:
        raise invalid
    return address


async def add_cc(uow: UnitOfWork, actor: Actor, name: str, email: str) -> str:
    """Add an address that receives copies of the support ID's notifications."""
    await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _validate_cc(uow, email)
    current = list(
        (
            await uow.session.scalars(select(SupportIdCc.email).where(SupportIdCc.support_id_id == sid.id))
        ).all()
    )
    exists_already = Conflict("support_id.cc_exists", support_id=sid.name, email=address)
    if address in current:
        raise exists_already
    if len(current) >= CC_MAX:
        raise Conflict("support_id.cc_too_many", support_id=sid.name, max=CC_MAX)
    uow.session.add(SupportIdCc(support_id_id=sid.id, email=address))
    audit.record(uow, actor, "support_id.cc_added", support_id_id=sid.id, email=address)
    await _commit(uow, exists_already)
    return address


async def remove_cc(uow: UnitOfWork, actor: Actor, name: str, email: str) -> str:
    await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _normalise_email(email)
    result = await uow.session.execute(
        delete(SupportIdCc).where(SupportIdCc.support_id_id == sid.id, SupportIdCc.email == address)
    )
    if cast(CursorResult[Any], result).rowcount == 0:
        raise NotFound("support_id.cc_not_found", support_id=sid.name, email=address)
    audit.record(uow, actor, "support_id.cc_removed", support_id_id=sid.id, email=address)
    await uow.commit()
    return address
