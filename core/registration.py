"""The registration conversation (SPEC §4.2) as a state machine any door can drive.

    support_key ──key ok──▶ company ──confirm──▶ details ──valid──▶ confirm ──submit──▶ done
                              │  ▲                  ▲                 │
                           change│                  └──back(details)──┤
                              ▼  │pick                                │
                      company_search ⇄ company_results   ◀──back(company)──┘ (to company)
                              │
                              └─nothing found─▶ company_not_found (end: write to the contact window)

Each step is one function ``f(uow, actor, conversation_id, ...) -> View``: it loads the
conversation, checks that the same actor started it and that it has not been idle for
30 minutes, moves it on, commits, and returns a plain ``View`` — step name, values,
company, search results, the actions a door may offer, message ids. Doors render a
``View`` in their own medium (a Slack modal, a web form); nothing here knows one.

State lives in the ``conversations`` table under a random id, so the next step may be
handled by any process. It holds no support key, only the key's row id; the customer's
details stay in it only until the account is created (or the row expires).

Refusals are ``DomainError``s with catalog ids: ``ValidationFailed(fields=...)`` for
input (field → message id, rendered with the error's ``params``), ``NotFound
("registration.expired")`` for an expired or unknown conversation,
``Forbidden("registration.not_yours")`` for somebody else's, ``Conflict
("registration.wrong_step")`` when a step is called out of order (a double submit; the
door shows ``current``); ``InvalidSupportKey`` at submit if the key was revoked or ran out
meanwhile (the conversation is closed: no valid key, no account).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, delete, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from core import accounts, audit, companies, contact_details, support_keys
from core.actors import Actor
from core.clock import aware
from core.errors import Conflict, Forbidden, InvalidSupportKey, NotFound, Throttled, ValidationFailed
from core.models import Company, Contract, Conversation, SupportKey
from core.snapshots import Query
from core.unit_of_work import UnitOfWork

KIND = "registration"
IDLE_TIMEOUT = timedelta(minutes=30)
SEARCH_LIMIT = 20

Step = Literal[
    "support_key",
    "company",
    "company_search",
    "company_results",
    "company_not_found",
    "details",
    "confirm",
    "done",
]

# What a door may offer on each step; labels are ``registration.action.<name>``.
ACTIONS: dict[str, tuple[str, ...]] = {
    "support_key": ("submit_key",),
    "company": ("confirm_company", "change_company"),
    "company_search": ("search",),
    "company_results": ("pick", "search"),
    "company_not_found": ("change_company",),
    "details": ("submit_details",),
    "confirm": ("submit", "back_company", "back_details"),
    "done": (),
}

EXPIRED = "registration.expired"
NOT_YOURS = "registration.not_yours"
WRONG_STEP = "registration.wrong_step"
ALREADY_REGISTERED = "registration.already_registered"
PICK_INVALID = "registration.error.pick"


@dataclass(frozen=True)
class CompanyView:
    id: int
    name: str
    postal_code: str
    address: str
    phone: str

    @classmethod
    def of(cls, company: Company) -> CompanyView:
        return cls(company.id, company.name, company.postal_code, company.address, company.phone)

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "postal_code": self.postal_code,
            "address": self.address,
            "phone": self.phone,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CompanyView:
        return cls(
            int(data["id"]),
            str(data["name"]),
            str(data["postal_code"]),
            str(data["address"]),
            str(data["phone"]),
        )


@dataclass(frozen=True)
class View:
    """Everything a door needs to show one step; ids and values, no markup.

    ``values`` are the current field values keyed by SPEC §5 block ids (to prefill a
    form or show on the confirmation); ``message_id``/``params`` a headline (e.g. the
    done sentence), ``hint_id`` an explanatory line rendered with the same params.
    """

    conversation_id: str
    step: Step
    expires_at: datetime
    values: dict[str, str | bool] = field(default_factory=dict)
    company: CompanyView | None = None
    results: tuple[CompanyView, ...] = ()
    actions: tuple[str, ...] = ()
    message_id: str | None = None
    hint_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # The privacy policy (MADOGUCHI_PRIVACY_URL) beside the consent box of the details step.
    privacy_url: str | None = None


# ----------------------------------------------------------------------------- steps


async def start(uow: UnitOfWork, actor: Actor) -> View:
    """A fresh conversation; any earlier one of this actor is dropped (starting again is
    always possible), as are conversations idle past their expiry."""
    if actor.account_id is not None:
        raise Conflict(ALREADY_REGISTERED)
    now = uow.clock.now()
    await uow.session.execute(
        delete(Conversation).where(
            Conversation.kind == KIND,
            or_(Conversation.actor == actor.ref, Conversation.expires_at < now),
        )
    )
    row = Conversation(
        id=secrets.token_urlsafe(24),
        actor=actor.ref,
        kind=KIND,
        step="support_key",
        data={},
        created_at=now,
        updated_at=now,
        expires_at=now + IDLE_TIMEOUT,
    )
    uow.session.add(row)
    audit.record(uow, actor, "registration.started")
    await uow.commit()
    return _view(uow, row)


async def current(uow: UnitOfWork, actor: Actor, conversation_id: str) -> View:
    """The step the conversation is on, as it would be shown now (does not extend it)."""
    row = await _load(uow, actor, conversation_id)
    return _view(uow, row)


async def submit_key(uow: UnitOfWork, actor: Actor, conversation_id: str, support_key: str) -> View:
    row = await _load(uow, actor, conversation_id, "support_key")
    if not support_key.strip():
        raise ValidationFailed(fields={"support_key": contact_details.REQUIRED})
    try:
        usable = await support_keys.check_usable(uow, support_key, actor.ref)
    except (Throttled, InvalidSupportKey) as refused:
        # Shown on the key field; a throttle's params carry the minutes to wait.
        raise ValidationFailed(fields={"support_key": refused.message_id}, **refused.params) from refused
    company = await uow.rows(_COMPANY, company_id=usable.contract.company_id)
    if not company:  # a contract always has a company; guard against a broken import
        raise ValidationFailed(fields={"support_key": "support_key.invalid"})
    snapshot = CompanyView(*company[0]).as_data()
    await _advance(
        uow,
        row,
        "company",
        key_id=usable.key.id,
        contract_id=usable.contract.id,
        key_company=snapshot,
        company=snapshot,
    )
    await uow.commit()
    return _view(uow, row)


async def confirm_company(uow: UnitOfWork, actor: Actor, conversation_id: str) -> View:
    """会社情報を確定する: the company shown is the customer's."""
    row = await _load(uow, actor, conversation_id, "company")
    await _advance(uow, row, "details")
    await uow.commit()
    return _view(uow, row)


async def change_company(uow: UnitOfWork, actor: Actor, conversation_id: str) -> View:
    row = await _load(uow, actor, conversation_id, "company", "company_results", "company_not_found")
    await _advance(uow, row, "company_search")
    await uow.commit()
    return _view(uow, row)


async def search_companies(
    uow: UnitOfWork, actor: Actor, conversation_id: str, company_name: str, company_area: str = ""
) -> View:
    """Results to pick from, or the end of self-registration when nothing matches."""
    row = await _load(uow, actor, conversation_id, "company_search", "company_results")
    name = contact_details.clean_text(company_name)
    area = contact_details.clean_text(company_area)
    if not name:
        raise ValidationFailed(fields={"company_name": contact_details.REQUIRED})
    found = await companies.search(uow, name, area, SEARCH_LIMIT)
    search = {"company_name": name, "company_area": area}
    if not found:
        await _advance(uow, row, "company_not_found", search=search, results=[])
        audit.record(uow, actor, "registration.company_not_found", company_name=name, company_area=area)
    else:
        results = [CompanyView.of(c).as_data() for c in found]
        await _advance(uow, row, "company_results", search=search, results=results)
    await uow.commit()
    return _view(uow, row)


async def pick_company(uow: UnitOfWork, actor: Actor, conversation_id: str, company_id: int) -> View:
    """Only a company among the results just offered may be picked."""
    row = await _load(uow, actor, conversation_id, "company_results")
    offered = {int(r["id"]): r for r in row.data.get("results", [])}
    chosen = offered.get(_as_int(company_id))
    if chosen is None:
        raise ValidationFailed(fields={"company_name": PICK_INVALID})
    await _advance(uow, row, "details", company=chosen, results=[])
    await uow.commit()
    return _view(uow, row)


async def submit_details(
    uow: UnitOfWork, actor: Actor, conversation_id: str, values: Mapping[str, object]
) -> View:
    row = await _load(uow, actor, conversation_id, "details")
    details = contact_details.validate(values)
    if await accounts.email_taken(uow, details.email):
        raise ValidationFailed(fields={"email": contact_details.EMAIL_TAKEN})
    await _advance(uow, row, "confirm", details=details.as_values())
    await uow.commit()
    return _view(uow, row)


async def back(
    uow: UnitOfWork, actor: Actor, conversation_id: str, to: Literal["company", "details"]
) -> View:
    """From the confirmation back to the company or the details (values kept)."""
    if to not in ("company", "details"):
        raise ValueError(f"cannot go back to {to!r}")
    row = await _load(uow, actor, conversation_id, "confirm")
    await _advance(uow, row, to)
    await uow.commit()
    return _view(uow, row)


async def submit(uow: UnitOfWork, actor: Actor, conversation_id: str) -> View:
    """Create the account. A repeated submit of a finished conversation shows done again."""
    row = await _load(uow, actor, conversation_id, "confirm", "done")
    if row.step == "done":
        return _view(uow, row)
    if not await _key_still_usable(uow, row):
        # Revoked or past its contract's end while the customer typed: no valid key, no account.
        await _forget(uow, row)
        audit.record(uow, actor, "registration.key_no_longer_valid", support_key_id=row.data.get("key_id"))
        await uow.commit()
        raise InvalidSupportKey()
    details = contact_details.ContactDetails(**row.data["details"])
    company = CompanyView.from_data(row.data["company"])
    try:
        account = await accounts.create_account(uow, actor, details, company.id, actor.locale)
    except Conflict as taken:  # the address was registered meanwhile (maybe by a racing submit)
        await uow.rollback()
        row = await _load(uow, actor, conversation_id, "confirm", "done")
        if row.step == "done":
            return _view(uow, row)
        await _advance(uow, row, "details")
        await uow.commit()
        raise ValidationFailed(fields={"email": contact_details.EMAIL_TAKEN}) from taken
    audit.record(
        uow,
        actor,
        "registration.completed",
        account_id=account.id,
        company_id=company.id,
        support_key_id=row.data.get("key_id"),
        company_changed=company.id != int(row.data["key_company"]["id"]),
    )
    # Keep only what the done view shows; the personal details have become the account.
    await _advance(uow, row, "done", details={}, results=[], username=account.username, account_id=account.id)
    await uow.commit()
    return _view(uow, row)


async def purge_expired(uow: UnitOfWork) -> int:
    """Delete conversations idle past their expiry (they may hold a customer's details);
    ``start`` does it too, a periodic job may call this. Commits; returns the count."""
    result = await uow.session.execute(
        delete(Conversation).where(Conversation.kind == KIND, Conversation.expires_at < uow.clock.now())
    )
    await uow.commit()
    return int(getattr(result, "rowcount", 0) or 0)


# ----------------------------------------------------------------------------- helpers


async def _key_still_usable(uow: UnitOfWork, row: Conversation) -> bool:
    found = (
        await uow.session.execute(
            select(SupportKey, Contract)
            .join(Contract, Contract.id == SupportKey.contract_id)
            .where(SupportKey.id == row.data.get("key_id"))
        )
    ).first()
    return found is not None and support_keys.usable_on(found[0], found[1], support_keys.today(uow))


# Statements every step runs, built once: constructing them cost more CPU than SQLite
# answering them (bench/slack.py, docs/performance.md).
# Writes use the table, not the mapped class: an UPDATE or DELETE of the class goes
# through the ORM's bulk machinery (and would synchronise the session) for nothing.
_CONVERSATIONS = cast(Table, Conversation.__table__)
_LOAD = Query(
    select(
        Conversation.id,
        Conversation.actor,
        Conversation.kind,
        Conversation.step,
        Conversation.data,
        Conversation.created_at,
        Conversation.updated_at,
        Conversation.expires_at,
    )
    .where(Conversation.id == bindparam("cid"), Conversation.kind == bindparam("kind"))
    .with_for_update()
)
_COMPANY = Query(
    select(Company.id, Company.name, Company.postal_code, Company.address, Company.phone).where(
        Company.id == bindparam("company_id")
    )
)


async def _load(uow: UnitOfWork, actor: Actor, conversation_id: str, *steps: str) -> Conversation:
    """The actor's live conversation, locked for this transaction (PostgreSQL) so two
    instances handling a double submit take turns.

    Read as columns into a ``Conversation`` the session does not track: a step only
    reads it and writes it back with ``_advance``, and an ORM load cost several times
    the statement (bench/slack.py)."""
    found = await uow.rows(_LOAD, cid=str(conversation_id), kind=KIND)
    if not found:
        raise NotFound(EXPIRED)
    cid, owner, kind, step, data, created_at, updated_at, expires_at = found[0]
    row = Conversation(
        id=cid,
        actor=owner,
        kind=kind,
        step=step,
        data=data,
        created_at=created_at,
        updated_at=updated_at,
        expires_at=expires_at,
    )
    if row.actor != actor.ref:
        raise Forbidden(NOT_YOURS)
    if aware(row.expires_at) <= uow.clock.now():
        await _forget(uow, row)
        await uow.commit()
        raise NotFound(EXPIRED)
    if steps and row.step not in steps:
        raise Conflict(WRONG_STEP, step=row.step)
    return row


async def _forget(uow: UnitOfWork, row: Conversation) -> None:
    await uow.session.execute(delete(_CONVERSATIONS).where(_CONVERSATIONS.c.id == row.id))


# Every step taken writes the conversation with this one statement, built once; an ORM
# flush of the changed row cost several times more CPU (bench/slack.py).
_ADVANCE = Query(
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("cid"))
    .values(
        step=bindparam("new_step", type_=_CONVERSATIONS.c.step.type),
        data=bindparam("new_data", type_=_CONVERSATIONS.c.data.type),
        updated_at=bindparam("now", type_=_CONVERSATIONS.c.updated_at.type),
        expires_at=bindparam("expires_at", type_=_CONVERSATIONS.c.expires_at.type),
    )
)


async def _advance(uow: UnitOfWork, row: Conversation, step: str, **data: Any) -> None:
    """Move to ``step``; every step taken restarts the 30-minute idle window. Written at
    once; ``row`` shows the new state without the session seeing a change to flush."""
    now = uow.clock.now()
    values = {
        "step": step,
        "data": {**(row.data or {}), **data},
        "updated_at": now,
        "expires_at": now + IDLE_TIMEOUT,
    }
    await uow.rows(
        _ADVANCE,
        cid=row.id,
        new_step=step,
        new_data=values["data"],
        now=now,
        expires_at=values["expires_at"],
    )
    for name, value in values.items():
        set_committed_value(row, name, value)


def _as_int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1


def _view(uow: UnitOfWork, row: Conversation) -> View:
    step: Step = row.step  # type: ignore[assignment]
    data = row.data or {}
    company = CompanyView.from_data(data["company"]) if data.get("company") else None
    values: dict[str, str | bool] = {}
    params: dict[str, Any] = {}
    message_id: str | None = None
    hint_id: str | None = f"registration.hint.{step}"
    results: tuple[CompanyView, ...] = ()
    settings = uow.settings

    if step in ("company_search", "company_results", "company_not_found"):
        search = data.get("search") or {}
        values = {
            "company_name": search.get("company_name", ""),
            "company_area": search.get("company_area", ""),
        }
        results = tuple(CompanyView.from_data(r) for r in data.get("results", []))
        params = {"count": len(results)}
    if step == "company_not_found":
        message_id = "registration.company_not_found"
        params = {"contact_address": settings.contact_address}
    elif step in ("details", "confirm"):
        values = dict(data.get("details") or {"marketing_opt_in": False, "privacy_consent": False})
    elif step == "done":
        username = str(data.get("username", ""))
        values = {"email": username, "username": username}
        message_id = "registration.done"
        params = {
            "vendor": settings.vendor_name,
            "service": settings.service_name,
            "username": username,
            "contact_address": settings.contact_address,
        }

    return View(
        conversation_id=row.id,
        step=step,
        expires_at=aware(row.expires_at),
        values=values,
        company=company,
        results=results,
        actions=ACTIONS.get(step, ()),
        message_id=message_id,
        hint_id=hint_id,
        params=params,
        privacy_url=settings.privacy_url if step == "details" else None,
    )
