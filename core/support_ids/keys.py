"""Issuing a support ID around a key, and adding and removing its keys (SPEC §4.4).

The key rules live here, with how each holds when two sessions race:

- A key joins at most one support ID: it is claimed with a conditional
  ``UPDATE … WHERE support_id_id IS NULL``; a claim that changes no row lost a race.
- All keys of one contract number belong to one support ID: every claim first locks the
  contract row (``SELECT … FOR UPDATE``; SQLite serialises every writer with
  ``BEGIN IMMEDIATE`` anyway), then looks for a key of that contract elsewhere. Two
  claims on one contract therefore run one after the other and the second sees the first.
- Lock order is always support ID, then contract.
- Who learns where a key already is (``_holder_refusal``): a contact of its support ID,
  staff, or a colleague of its contacts; anybody else gets the one invalid-key answer,
  counted towards the key throttle.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, outbox, support_keys, throttle
from core.actors import Actor
from core.errors import Conflict, InvalidSupportKey, NotFound
from core.models import Account, Contract, SupportId, SupportIdContact, SupportKey
from core.normalize import support_key as canonical_key
from core.support_ids.access import (
    acting_account,
    commit_or,
    contacts_of,
    is_contact,
    require_account,
    visible,
)
from core.support_ids.contacts import notify
from core.support_ids.names import validate_description, validate_name
from core.support_ids.reading import show
from core.support_ids.views import KeyView, SupportIdDetail, display_name, key_view
from core.unit_of_work import UnitOfWork


async def _lock_contract(uow: UnitOfWork, contract_id: int) -> None:
    await uow.session.execute(select(Contract.id).where(Contract.id == contract_id).with_for_update())


async def _holder_refusal(uow: UnitOfWork, actor: Actor, account: Account | None, holder_id: int) -> None:
    """Raise the answer for a key already in support ID ``holder_id``.

    The key's owner learns where it is when they may see that support ID (a contact, or
    staff) or when a colleague of the same company holds it, so they can ask to be added
    (SPEC §4.4); anybody else gets the one invalid-key answer, counted as a failure.
    """
    holder = await uow.session.get(SupportId, holder_id)
    assert holder is not None
    if account is None or await is_contact(uow, holder_id, account.id):
        raise Conflict("support_id.key_in_other", support_id=holder.name)
    colleagues = [c for c in await contacts_of(uow, holder_id) if c.company_id == account.company_id]
    if colleagues:
        raise Conflict(
            "support_id.key_taken_by_colleague",
            support_id=holder.name,
            contacts="、".join(display_name(c) for c in colleagues),
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


async def issue(uow: UnitOfWork, actor: Actor, key: str, name: str, description: str = "") -> SupportIdDetail:
    """Create a support ID around a free key; the issuer becomes its first contact."""
    account = await require_account(uow, actor)
    clean_name = validate_name(name)
    clean_description = validate_description(description)
    usable = await support_keys.check_usable(uow, key, actor.ref)
    key_id, contract_id = usable.key.id, usable.contract.id
    await _lock_contract(uow, contract_id)
    if await _current_holder(uow, key_id) is not None:
        # SPEC §4.4: a key already in a support ID issues nothing, with the one answer,
        # counted; before the name, whose answer would tell a held key from an unknown one.
        await throttle.record_failure(
            uow, support_keys.THROTTLE_SCOPE, actor.ref, detail="key in a support ID"
        )
        raise InvalidSupportKey()
    taken = Conflict("support_id.name_taken", support_id=clean_name)
    if await uow.session.scalar(select(SupportId.id).where(SupportId.name_key == clean_name.lower())):
        raise taken
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
        {"support_id": clean_name, "description": clean_description, "name": display_name(account)},
        locale=account.locale,
    )
    await commit_or(uow, taken)
    return await show(uow, actor, clean_name)


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

    view = await key_view(uow, usable.key, usable.contract)
    await _announce(uow, actor, account, sid, view, "key_added")
    await commit_or(uow, InvalidSupportKey())
    return view


async def _announce(
    uow: UnitOfWork, actor: Actor, account: Account | None, sid: SupportId, view: KeyView, change: str
) -> None:
    """A key came or went: the audit trail, and a mail to the support ID's people."""
    audit.record(
        uow,
        actor,
        f"support_id.{change}",
        support_id_id=sid.id,
        key=view.masked,
        contract=view.contract_number,
    )
    details = {
        "key": view.masked,
        "contract_number": view.contract_number,
        "product_family": view.product_family,
    }
    await notify(uow, sid, change, details, account)


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
    view = await key_view(uow, found, contract)
    await _announce(uow, actor, account, sid, view, "key_removed")
    await uow.commit()
    return view
