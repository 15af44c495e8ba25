"""Who may see or change a support ID, and the steps every change shares.

Only contacts and staff see or change a support ID; anybody else gets exactly the
answer a non-existent name gets (``support_id.not_found``), so names cannot be probed.
Separate because every service — the reads, the key changes, the contact changes, the
terms agreement (``core.terms``) — starts here: the acting account, the support ID if
visible (its row locked for a change), its contacts; and ends with ``commit_or``, which
turns a unique constraint lost to a concurrent session into the domain's answer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import activation
from core.activation import AccountPending
from core.actors import Actor
from core.errors import Conflict, Forbidden, InvalidSupportKey, NotFound
from core.models import Account, SupportId, SupportIdContact
from core.snapshots import Reader
from core.support_ids.names import name_key
from core.unit_of_work import UnitOfWork


async def acting_account_id(source: Reader, actor: Actor) -> int | None:
    """The actor's account id, or None for staff. Anyone else (no account, a disabled
    one) may not touch support IDs, and a pending one is told to use its mailed link
    first (``core.activation``). A read path that needs no ``Account`` object uses
    this: one column, no ORM instance."""
    if actor.is_staff:
        return None
    try:
        await activation.require_active(source, actor)
    except AccountPending:
        raise
    except Forbidden:
        raise Forbidden("support_id.account_required") from None
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


async def require_account(uow: UnitOfWork, actor: Actor) -> Account:
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
    if found is not None and (actor.is_staff or await is_contact(uow, found.id, actor.account_id)):
        return found
    raise NotFound("support_id.not_found", support_id=name.strip())


async def is_contact(uow: UnitOfWork, support_id_id: int, account_id: int | None) -> bool:
    if account_id is None:
        return False
    row = await uow.session.scalar(
        select(SupportIdContact.account_id).where(
            SupportIdContact.support_id_id == support_id_id, SupportIdContact.account_id == account_id
        )
    )
    return row is not None


async def contacts_of(uow: UnitOfWork, support_id_id: int) -> list[Account]:
    """The contacts' accounts, the earliest added first."""
    rows = await uow.session.scalars(
        select(Account)
        .join(SupportIdContact, SupportIdContact.account_id == Account.id)
        .where(SupportIdContact.support_id_id == support_id_id)
        .order_by(SupportIdContact.added_at, Account.id)
    )
    return list(rows.all())


async def commit_or(uow: UnitOfWork, on_conflict: Conflict | InvalidSupportKey) -> None:
    """Commit; a unique constraint another session won meanwhile raises ``on_conflict``."""
    try:
        await uow.commit()
    except IntegrityError:
        await uow.rollback()
        raise on_conflict from None
