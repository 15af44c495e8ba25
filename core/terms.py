"""Agreement to the service specification and terms (SPEC §4.5).

A support ID holding a key whose contract ``requires_terms`` needs the terms agreed once,
per terms version (``settings.terms_version``), by any one of its contacts who declares
they may bind the customer. Until then every answer to each of its contacts carries the
notice ``サービス仕様書・約款への同意のお願い``: the doors call ``notice_for_account`` and
attach ``render_notice`` (or their own layout of the same catalog texts) to what they say.

The notice lists each support ID with its description (a customer with several tells
them apart by it). Before the declaration is shown, ``declaration_for`` makes the checks
``agree`` makes — the ID exists and is the user's (else the one ``support_id.not_found``
answer, so names cannot be probed), it needs the terms, it is not agreed yet — so nobody
is asked to declare anything for an ID they cannot agree for.

A new terms version makes every such support ID pending again; earlier agreements stay
on record. The UNIQUE (support ID, version) constraint makes two contacts agreeing at the
same moment one agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import IntegrityError

from core import audit, support_ids
from core.actors import Actor
from core.clock import aware
from core.errors import Conflict, DomainError, Forbidden, ValidationFailed
from core.messages import render
from core.models import Account, Contract, SupportId, SupportIdContact, SupportKey, TermsAgreement
from core.snapshots import Query, Reader, reads
from core.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TermsNotice:
    # (name, description) of each support ID awaiting agreement, by name.
    entries: tuple[tuple[str, str], ...]
    terms_url: str
    terms_version: str

    @property
    def support_ids(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.entries)


@dataclass(frozen=True)
class Declaration:
    """What the person agreeing declares, and about what (SPEC §4.5, §4.11)."""

    support_id: str
    description: str
    terms_url: str
    terms_version: str
    contact_address: str


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
    select(SupportId.name, SupportId.description)
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


async def _pending(source: Reader, account_id: int) -> list[tuple[str, str]]:
    found = await source.rows(_PENDING, account_id=account_id, version=source.settings.terms_version)
    return [(name, description or "") for (name, description) in found]


@reads
async def pending_for_account(source: Reader, account_id: int) -> list[str]:
    """Names of the account's support IDs still waiting for agreement, in one query;
    from a unit of work or a snapshot (the notice on a read-only answer)."""
    return [name for name, _ in await _pending(source, account_id)]


@reads
async def notice_for_account(source: Reader, account_id: int) -> TermsNotice | None:
    pending = await _pending(source, account_id)
    if not pending:
        return None
    return TermsNotice(tuple(pending), source.settings.terms_link, source.settings.terms_version)


def notice_entry(name: str, description: str, locale: str, say: Callable[..., str] = render) -> str:
    """One line of the notice's list: the support ID and, when it has one, its description.
    ``say`` is the door's own rendering (the Slack door's escapes what it is given)."""
    if description.strip():
        return say("terms.notice.entry", locale, support_id=name, description=description.strip())
    return say("terms.notice.entry_bare", locale, support_id=name)


def render_notice(notice: TermsNotice, locale: str) -> str:
    """The notice as plain text: title, the support IDs concerned, the link, how to agree."""
    ids = "\n".join(notice_entry(name, description, locale) for name, description in notice.entries)
    return "\n".join(
        [
            render("terms.notice.title", locale),
            render("terms.notice.body", locale, support_ids=ids, url=notice.terms_url),
            render("terms.notice.agree_hint", locale, support_id=notice.support_ids[0]),
        ]
    )


async def _agreeable(
    uow: UnitOfWork, actor: Actor, support_id_name: str, *, lock: bool
) -> tuple[Account, SupportId]:
    """The checks before a declaration and before an agreement: the actor's account (not
    staff), the support ID if it is theirs (else ``support_id.not_found``), needing terms."""
    account = await support_ids.acting_account(uow, actor)
    if account is None:
        # Staff cannot bind a customer.
        raise Forbidden("terms.contacts_only")
    sid = await support_ids.visible(uow, actor, support_id_name, lock=lock)
    needed = await uow.session.scalar(
        select(SupportKey.id)
        .join(Contract, Contract.id == SupportKey.contract_id)
        .where(SupportKey.support_id_id == sid.id, Contract.requires_terms.is_(True))
        .limit(1)
    )
    if needed is None:
        raise DomainError("terms.not_required", support_id=sid.name)
    return account, sid


async def declaration_for(uow: UnitOfWork, actor: Actor, support_id_name: str) -> Declaration:
    """The declaration to show for ``support_id_name``, after the checks ``agree`` makes;
    an ID already agreed for this terms version is ``terms.already_agreed`` (it is the
    user's own: saying so discloses nothing)."""
    _, sid = await _agreeable(uow, actor, support_id_name, lock=False)
    settings = uow.settings
    if await _existing(uow, sid.id, sid.name, settings.terms_version) is not None:
        raise Conflict("terms.already_agreed", support_id=sid.name)
    return Declaration(
        support_id=sid.name,
        description=sid.description or "",
        terms_url=settings.terms_link,
        terms_version=settings.terms_version,
        contact_address=settings.contact_address,
    )


async def agree(uow: UnitOfWork, actor: Actor, support_id_name: str, *, entitled: bool) -> Agreement:
    """Record the agreement of a contact who declared they may bind the customer.

    Agreeing again (or at the same moment as a colleague) is not an error: the answer
    says it was already agreed, by whom and when.
    """
    account, sid = await _agreeable(uow, actor, support_id_name, lock=True)
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
