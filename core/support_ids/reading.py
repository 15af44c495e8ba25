"""The read side of support IDs: a user's list and one support ID in detail.

Separate because nothing here writes. The list is on the Slack door's hot path
(``/support id list``, App Home): it takes a ``Reader`` — a snapshot or a unit of work —
answers from one ``Query`` built once, and is marked ``@reads`` so a door may answer it
from a snapshot (``core.snapshots.open_for``). ``show`` reads through the ORM inside a
unit of work; ``issue`` answers with it after its commit.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, func, select

from core.actors import Actor
from core.clock import aware
from core.errors import Forbidden
from core.models import (
    Contract,
    PendingContact,
    SupportId,
    SupportIdCc,
    SupportIdContact,
    SupportKey,
    TermsAgreement,
)
from core.snapshots import Query, Reader, reads
from core.support_ids.access import acting_account, acting_account_id, contacts_of, visible
from core.support_ids.views import ContactView, SupportIdDetail, SupportIdSummary, display_name, key_view
from core.unit_of_work import UnitOfWork

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


@reads
async def list_for_account(
    source: Reader, actor: Actor, account_id: int | None = None
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
    for sid, name, description, family, end_user, ends_on in await source.rows(_LIST, account_id=account_id):
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
    keys = tuple([await key_view(uow, k, c) for k, c in key_rows])
    contacts = tuple(
        ContactView(account_id=a.id, email=a.email, display_name=display_name(a))
        for a in await contacts_of(uow, sid.id)
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
