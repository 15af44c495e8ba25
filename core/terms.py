"""Agreement to the service specification and terms (SPEC §4.5).

A support ID holding a key whose contract ``requires_terms`` needs the terms agreed once,
per terms version (``settings.terms_version``), by any one of its contacts who declares
they may bind the customer. Until then every answer to each of its contacts carries the
notice ``サービス仕様書・約款への同意のお願い``: the doors call ``notice_for_account`` and
attach ``render_notice`` (or their own layout of the same catalog texts) to what they say.

A new terms version makes every such support ID pending again; earlier agreements stay
on record. The UNIQUE (support ID, version) constraint makes two contacts agreeing at the
same moment one agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import IntegrityError

from core import audit, support_ids
from core.actors import Actor
from core.clock import aware
from core.errors import DomainError, Forbidden, ValidationFailed
from core.messages import render
from core.models import Contract, SupportId, SupportIdContact, SupportKey, TermsAgreement
from core.snapshots import Query, Reader, reads
from core.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TermsNotice:
    support_ids: tuple[str, ...]
    terms_url: str
    terms_version: str


@dataclass(frozen=True)
class Agreement:
    support_id: str
    terms_version: str
    agreed_at: datetime
    account_id: int
    already: bool


# Built once: it runs with every answer to a customer, and constructing it cost more CPU
# than SQLite answering it.
_PENDING = Query(
    select(SupportId.name)
    .join(SupportIdContact, SupportIdContact.support_id_id == SupportId.id)
    .where(
        SupportIdContact.account_id == bindparam("account_id"),
        exists(
            select(SupportKey.id)
            .join(Contract, Contract.id == SupportKey.contract_id)
            .where(SupportKey.support_id_id == SupportId.id, Contract.requires_terms.is_(True))
        ),
        ~exists(
            select(TermsAgreement.id).where(
                TermsAgreement.support_id_id == SupportId.id,
                TermsAgreement.terms_version == bindparam("version"),
            )
        ),
    )
    .order_by(SupportId.name_key)
)


@reads
async def pending_for_account(source: Reader, account_id: int) -> list[str]:
    """Names of the account's support IDs still waiting for agreement, in one query;
    from a unit of work or a snapshot (the notice on a read-only answer)."""
    found = await source.rows(_PENDING, account_id=account_id, version=source.settings.terms_version)
    return [name for (name,) in found]


@reads
async def notice_for_account(source: Reader, account_id: int) -> TermsNotice | None:
    pending = await pending_for_account(source, account_id)
    if not pending:
        return None
    return TermsNotice(tuple(pending), source.settings.terms_link, source.settings.terms_version)


def render_notice(notice: TermsNotice, locale: str) -> str:
    """The notice as plain text: title, the support IDs concerned, the link, how to agree."""
    ids = ", ".join(notice.support_ids)
    return "\n".join(
        [
            render("terms.notice.title", locale),
            render("terms.notice.body", locale, support_ids=ids, url=notice.terms_url),
            render("terms.notice.agree_hint", locale, support_id=notice.support_ids[0]),
        ]
    )


async def agree(uow: UnitOfWork, actor: Actor, support_id_name: str, *, entitled: bool) -> Agreement:
    """Record the agreement of a contact who declared they may bind the customer.

    Agreeing again (or at the same moment as a colleague) is not an error: the answer
    says it was already agreed, by whom and when.
    """
    account = await support_ids.acting_account(uow, actor)
    if account is None:
        # Staff cannot bind a customer.
        raise Forbidden("terms.contacts_only")
    sid = await support_ids.visible(uow, actor, support_id_name, lock=True)
    needed = await uow.session.scalar(
        select(SupportKey.id)
        .join(Contract, Contract.id == SupportKey.contract_id)
        .where(SupportKey.support_id_id == sid.id, Contract.requires_terms.is_(True))
        .limit(1)
    )
    if needed is None:
        raise DomainError("terms.not_required", support_id=sid.name)
    if not entitled:
        raise ValidationFailed({"entitled": "terms.declaration_required"})
    version = uow.settings.terms_version
    sid_id, sid_name = sid.id, sid.name
    existing = await _existing(uow, sid_id, sid_name, version)
    if existing is not None:
        return existing

    now = uow.clock.now()
    account_id = account.id
    uow.session.add(
        TermsAgreement(support_id_id=sid.id, account_id=account_id, terms_version=version, agreed_at=now)
    )
    audit.record(uow, actor, "terms.agreed", support_id_id=sid.id, terms_version=version, support_id=sid.name)
    await support_ids.notify(
        uow,
        sid,
        "terms_agreed",
        {"terms_version": version, "terms_url": uow.settings.terms_link},
        account,
    )
    try:
        await uow.commit()
    except IntegrityError:
        # A colleague agreed at the same moment; theirs is the agreement on record.
        await uow.rollback()
        again = await _existing(uow, sid_id, sid_name, version)
        if again is None:
            raise
        return again
    return Agreement(sid_name, version, now, account_id, already=False)


async def _existing(uow: UnitOfWork, sid_id: int, sid_name: str, version: str) -> Agreement | None:
    row = (
        await uow.session.execute(
            select(TermsAgreement.agreed_at, TermsAgreement.account_id).where(
                TermsAgreement.support_id_id == sid_id, TermsAgreement.terms_version == version
            )
        )
    ).first()
    if row is None:
        return None
    return Agreement(sid_name, version, aware(row[0]), row[1], already=True)
