"""The staff desk (SPEC §4.7, ``/support-admin``): find, keys, accounts, the audit trail.

Every function first admits the actor (``core.staff.admit``): a refusal by non-staff is
itself audited (and committed) so attempts can be seen later. Results are plain frozen
dataclasses, never ORM rows, so the Slack door renders them without touching a session.
Contact-window requests are in ``core.contact_window``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from core import accounts, audit, companies, contact_window, staff, support_keys, throttle
from core.actors import Actor
from core.clock import aware
from core.errors import Conflict, NotFound
from core.models import Account, Company, Contract, PendingContact, SupportId, SupportIdContact, SupportKey
from core.normalize import fold, person_key
from core.unit_of_work import UnitOfWork

FIND_LIMIT = 20


@dataclass(frozen=True)
class CompanyHit:
    id: int
    code: str
    name: str
    postal_code: str
    address: str
    phone: str


@dataclass(frozen=True)
class ContractHit:
    number: str
    company: str
    product_family: str
    end_user: str
    starts_on: date
    ends_on: date
    requires_terms: bool


@dataclass(frozen=True)
class KeyHit:
    masked: str
    contract_number: str
    support_id: str | None
    issued_via: str
    usable_from: date | None
    revoked: bool
    usable_today: bool


@dataclass(frozen=True)
class AccountHit:
    """A person: an account, or (status ``unregistered``) a contact of a migrated support
    ID known only by address."""

    username: str
    name: str
    company: str
    status: str
    created_at: datetime | None
    activated_at: datetime | None
    kana: str = ""
    support_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class FindResult:
    companies: tuple[CompanyHit, ...] = ()
    contracts: tuple[ContractHit, ...] = ()
    keys: tuple[KeyHit, ...] = ()
    accounts: tuple[AccountHit, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.companies or self.contracts or self.keys or self.accounts)


@dataclass(frozen=True)
class IssuedKey:
    raw: str
    masked: str
    contract_number: str
    usable_from: date


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor_kind: str
    actor: str
    door: str
    action: str
    details: dict[str, Any]


@dataclass(frozen=True)
class FailureEntry:
    at: datetime
    scope: str
    actor: str
    detail: str


async def find(uow: UnitOfWork, actor: Actor, text: str) -> FindResult:
    """Everything the text could name: a company (partial name), a contract number, a
    support key (→ its contract), a person (address, name or reading). Each lookup is
    indexed."""
    await staff.admit(uow, actor, "find")
    text = text.strip()
    if not text:
        return FindResult()
    keys = await _keys(uow, text)
    numbers = {text, text.upper(), *(k.contract_number for k in keys)}
    return FindResult(
        companies=await _companies(uow, text),
        contracts=await _contracts(uow, [Contract.number.in_(sorted(numbers))]),
        keys=keys,
        accounts=await _accounts(uow, text),
    )


async def _companies(uow: UnitOfWork, text: str) -> tuple[CompanyHit, ...]:
    """The same search as registration step 2, so it shares its index. Its trigram index
    cannot look up fewer than three characters, and a person's family name is often two
    (山田): such a text finds people and exact numbers here, not every company whose name
    contains it, which would read the whole table (SPEC §9)."""
    if len(fold(text)) < companies.TRIGRAM:
        return ()
    rows = await companies.search(uow, text, limit=FIND_LIMIT)
    return tuple(
        CompanyHit(
            id=c.id, code=c.code, name=c.name, postal_code=c.postal_code, address=c.address, phone=c.phone
        )
        for c in rows
    )


async def _contracts(uow: UnitOfWork, conditions: list[Any]) -> tuple[ContractHit, ...]:
    hits: dict[str, ContractHit] = {}
    for condition in conditions:
        rows = await uow.session.execute(
            select(Contract, Company.name).join(Company, Company.id == Contract.company_id).where(condition)
        )
        for contract, company in rows:
            hits[contract.number] = ContractHit(
                number=contract.number,
                company=company,
                product_family=contract.product_family,
                end_user=contract.end_user,
                starts_on=contract.starts_on,
                ends_on=contract.ends_on,
                requires_terms=contract.requires_terms,
            )
    return tuple(hits.values())


async def _key_hit(uow: UnitOfWork, key: SupportKey, contract: Contract) -> KeyHit:
    support_id = await uow.session.get(SupportId, key.support_id_id) if key.support_id_id else None
    return KeyHit(
        masked=support_keys.mask(key.last4),
        contract_number=contract.number,
        support_id=support_id.name if support_id else None,
        issued_via=key.issued_via,
        usable_from=key.usable_from,
        revoked=key.revoked_at is not None,
        usable_today=support_keys.usable_on(key, contract, support_keys.today(uow)),
    )


async def _keys(uow: UnitOfWork, text: str) -> tuple[KeyHit, ...]:
    found = await support_keys.find(uow, text)
    return (await _key_hit(uow, found.key, found.contract),) if found else ()


async def _accounts(uow: UnitOfWork, text: str) -> tuple[AccountHit, ...]:
    """People: by address (an account, or a contact of a migrated support ID who has not
    registered yet), otherwise by name or its reading: the family name, the whole name or
    its start, in kanji, katakana, hiragana or half-width kana (``person_key``). Each a
    range on a B-tree index (migration 0015_find_people), never a scan."""
    if "@" in text:
        email = accounts.username_of(text)
        found = await _account_rows(uow, Account.email == email)
        if found:
            return found
        pending = await _pending_ids(uow, email)
        if not pending:
            return ()
        return (
            AccountHit(
                username=email,
                name="",
                company="",
                status="unregistered",
                created_at=None,
                activated_at=None,
                support_ids=pending,
            ),
        )
    key = person_key(text)
    if not key:
        return ()
    upper = key + "\U0010ffff"
    hits: dict[str, AccountHit] = {}
    for column in (Account.name_norm, Account.kana_norm):
        for hit in await _account_rows(uow, column >= key, column < upper, order=column):
            hits.setdefault(hit.username, hit)
    return tuple(list(hits.values())[:FIND_LIMIT])


async def _account_rows(uow: UnitOfWork, *conditions: Any, order: Any = Account.id) -> tuple[AccountHit, ...]:
    """Up to FIND_LIMIT accounts, in the order of the index the conditions use (so the
    planner walks that index, not the whole table), with their support IDs."""
    rows = (
        await uow.session.execute(
            select(Account, Company.name)
            .join(Company, Company.id == Account.company_id)
            .where(*conditions)
            .order_by(order, Account.id)
            .limit(FIND_LIMIT)
        )
    ).all()
    # One lookup per person by the contacts' account index (at most FIND_LIMIT); a
    # single IN over every person's support IDs is a scan to a planner on a small table.
    support_ids: dict[int, tuple[str, ...]] = {}
    for account, _company in rows:
        names = await uow.session.scalars(
            select(SupportId.name)
            .join(SupportIdContact, SupportIdContact.support_id_id == SupportId.id)
            .where(SupportIdContact.account_id == account.id)
        )
        support_ids[account.id] = tuple(sorted(names))
    return tuple(
        AccountHit(
            username=account.email,
            name=f"{account.last_name} {account.first_name}",
            company=company,
            status=account.status,
            created_at=aware(account.created_at),
            activated_at=aware(account.activated_at) if account.activated_at else None,
            kana=f"{account.last_name_kana} {account.first_name_kana}",
            support_ids=support_ids[account.id],
        )
        for account, company in rows
    )


async def _pending_ids(uow: UnitOfWork, email: str) -> tuple[str, ...]:
    names = await uow.session.scalars(
        select(SupportId.name)
        .join(PendingContact, PendingContact.support_id_id == SupportId.id)
        .where(PendingContact.email == email)
        .order_by(SupportId.name)
    )
    return tuple(names)


async def issue_key(
    uow: UnitOfWork, actor: Actor, contract_number: str, *, by_mail: bool = False
) -> IssuedKey:
    """A new key for the contract. The raw key is in the result and nowhere else: show it
    once. ``by_mail``: the key will travel by mail, so it works from the next business day."""
    await staff.admit(uow, actor, "key.issue")
    contract = await uow.session.scalar(select(Contract).where(Contract.number == contract_number.strip()))
    if contract is None:
        raise NotFound("staff.contract_not_found", number=contract_number)
    raw, key = await support_keys.issue(uow, contract, via="mail" if by_mail else "staff")
    audit.record(
        uow,
        actor,
        "key.issued",
        contract=contract.number,
        key=support_keys.mask(key.last4),
        via=key.issued_via,
    )
    await uow.commit()
    return IssuedKey(
        raw=raw,
        masked=support_keys.mask(key.last4),
        contract_number=contract.number,
        usable_from=max(contract.starts_on, key.usable_from or support_keys.today(uow)),
    )


async def revoke_key(uow: UnitOfWork, actor: Actor, raw_key: str) -> KeyHit:
    """The key stops working at once, everywhere (it stays in its support ID, marked)."""
    await staff.admit(uow, actor, "key.revoke")
    found = await support_keys.find(uow, raw_key)
    if found is None:
        raise NotFound("staff.key_not_found")
    if found.key.revoked_at is None:
        found.key.revoked_at = uow.clock.now()
        audit.record(
            uow,
            actor,
            "key.revoked",
            support_id_id=found.key.support_id_id,
            contract=found.contract.number,
            key=support_keys.mask(found.key.last4),
        )
        await uow.commit()
    return await _key_hit(uow, found.key, found.contract)


async def resend_activation(uow: UnitOfWork, actor: Actor, email: str) -> accounts.AccountView:
    await staff.admit(uow, actor, "account.resend")
    outcome = await accounts.resend_activation(uow, actor, email)
    if outcome == "unknown":
        raise NotFound("accounts.not_found")
    if outcome == "active":
        raise Conflict("staff.account_already_active", email=accounts.username_of(email))
    if outcome == "disabled":
        raise Conflict("staff.account_is_disabled", email=accounts.username_of(email))
    await uow.commit()
    found = await accounts.account_by_email(uow, email)
    assert found is not None
    return found


async def resend_activation_for_request(uow: UnitOfWork, actor: Actor, request: str) -> accounts.AccountView:
    """The "resend activation" button of a request's staff post: the person who wrote the
    request (an activation request, classified by the contact window) gets a new link."""
    await staff.admit(uow, actor, "account.resend")
    detail = await contact_window.show(uow, actor, request)
    return await resend_activation(uow, actor, detail.summary.sender)


async def disable_account(uow: UnitOfWork, actor: Actor, email: str) -> accounts.AccountView:
    await staff.admit(uow, actor, "account.disable")
    return await accounts.disable(uow, actor, email)


async def enable_account(uow: UnitOfWork, actor: Actor, email: str) -> accounts.AccountView:
    await staff.admit(uow, actor, "account.enable")
    return await accounts.enable(uow, actor, email)


async def audit_trail(
    uow: UnitOfWork, actor: Actor, *, email: str | None = None, support_id: str | None = None, limit: int = 50
) -> list[AuditEntry]:
    """What happened to one account or one support ID, newest first (SPEC §8)."""
    await staff.admit(uow, actor, "audit")
    account_id = support_id_id = None
    if email is not None:
        account = await accounts.account_by_email(uow, email)
        if account is None:
            raise NotFound("accounts.not_found")
        account_id = account.id
    if support_id is not None:
        sid = await uow.session.scalar(
            select(SupportId).where(SupportId.name_key == support_id.strip().lower())
        )
        if sid is None:
            raise NotFound("staff.support_id_not_found", name=support_id)
        support_id_id = sid.id
    if account_id is None and support_id_id is None:
        return []
    rows = await audit.history(uow, account_id=account_id, support_id_id=support_id_id, limit=limit)
    addresses = await _addresses(uow, [r.actor_id for r in rows])
    return [
        AuditEntry(
            at=aware(r.at),
            actor_kind=r.actor_kind,
            actor=addresses.get(r.actor_id, r.actor_id),
            door=r.door,
            action=r.action,
            details=r.details,
        )
        for r in rows
    ]


async def _addresses(uow: UnitOfWork, actor_ids: list[str]) -> dict[str, str]:
    """``account:12`` (how the trail names a customer) → the address staff know them by,
    in one query; a row id means nothing to a person reading the trail."""
    ids = {int(a.split(":", 1)[1]) for a in actor_ids if a.startswith("account:") and a[8:].isdigit()}
    if not ids:
        return {}
    rows = await uow.session.execute(select(Account.id, Account.email).where(Account.id.in_(sorted(ids))))
    return {f"account:{account_id}": email for account_id, email in rows}


async def recent_failures(uow: UnitOfWork, actor: Actor, *, limit: int = 50) -> list[FailureEntry]:
    """Failed key attempts and the like, newest first: who is guessing, and how often."""
    await staff.admit(uow, actor, "failures")
    rows = await throttle.recent_failures(uow, limit=limit)
    return [FailureEntry(at=aware(r.at), scope=r.scope, actor=r.actor, detail=r.detail) for r in rows]
