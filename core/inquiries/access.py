"""Who may open, see and change an inquiry (SPEC §4.8, §4.11).

* Opening, reading and writing as a customer needs an *active* account: the one check is
  ``customer_account_id``, so the rule for pending (and disabled) accounts lives here once.
* An inquiry is seen by every contact of its support ID, by its asker (always, also
  after leaving the support ID) and by staff. Anybody else gets exactly the answer a
  number that does not exist gets (``inquiry.not_found``): nobody learns that it exists.

Separate because every service of the package starts here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, inspect, select

from core import activation
from core.activation import AccountPending
from core.actors import Actor
from core.errors import Forbidden, NotFound
from core.inquiries.numbers import format_number, parse_number
from core.inquiries.tables import Inquiry
from core.models import Account, Company, SupportId, SupportIdContact
from core.snapshots import Query, Reader
from core.storage.compiled import Row, detached
from core.support_ids.names import name_key
from core.unit_of_work import UnitOfWork

_CONTACT = Query(
    select(SupportIdContact.account_id).where(
        SupportIdContact.support_id_id == bindparam("support_id_id"),
        SupportIdContact.account_id == bindparam("account_id"),
    )
)
# The account's columns by attribute name, then its company's name: read as plain
# columns and made into a detached ``Account`` (an ORM load cost more than the rest of
# the check; the ask submission, docs/performance.md).
_ACCOUNT_KEYS = tuple(a.key for a in inspect(Account).column_attrs)
_ASKER_COLUMNS = select(*(a.columns[0] for a in inspect(Account).column_attrs), Company.name).outerjoin(
    Company, Company.id == Account.company_id
)
_ID = _ACCOUNT_KEYS.index("id")
ASKER_WIDTH = len(_ACCOUNT_KEYS) + 1
_ASKER = Query(_ASKER_COLUMNS.where(Account.id == bindparam("account_id")))
# The same for a batch of mail's askers (``askers``).
_ASKERS = _ASKER_COLUMNS.where(Account.id.in_(bindparam("account_ids", expanding=True)))
_EMAIL, _STATUS, _LOCALE = (_ACCOUNT_KEYS.index(k) for k in ("email", "status", "locale"))
_SUPPORT_ID_BY_NAME = Query(
    select(SupportId.id, SupportId.name).where(SupportId.name_key == bindparam("name_key"))
)


async def customer_account_id(source: Reader, actor: Actor) -> int:
    """The acting customer's account id when it may use inquiries: it must exist and be
    active. Pending: the activation link must be used first; no account or a disabled
    one: register (a disabled account is not told so apart from "no account")."""
    if actor.kind != "account" or actor.account_id is None:
        raise Forbidden("inquiry.account_required")
    try:
        # The one rule for pending accounts (SPEC §4.11): AccountPending, which the doors
        # answer with the button that resends the activation link.
        await activation.require_active(source, actor)
    except AccountPending:
        raise
    except Forbidden:
        raise Forbidden("inquiry.account_required") from None
    return actor.account_id


async def customer_account(uow: UnitOfWork, actor: Actor) -> tuple[Account, str]:
    """``customer_account_id``'s check and what opening an inquiry needs of the asker —
    the account row and its company's name — in one statement instead of three (the
    ask submission's round trips on PostgreSQL, docs/performance.md)."""
    account, company, _rest = await customer_account_with(uow, actor, _ASKER)
    return account, company


def asker_columns() -> Select[*tuple[Any, ...]]:
    """What ``customer_account`` reads of the asker (``asker`` checks it), to add more
    to: the account's columns, then its company's name (``ASKER_WIDTH`` columns)."""
    return _ASKER_COLUMNS


async def customer_account_with(
    uow: UnitOfWork, actor: Actor, query: Query, **params: Any
) -> tuple[Account, str, list[Row]]:
    """``customer_account`` read by ``query`` — ``asker_columns()`` (and more) of the
    account ``account_id``: an outer join that adds rows adds them after the asker's
    columns — in the same statement; the asker, its company's name and what each row
    holds after them."""
    if actor.kind != "account" or actor.account_id is None:
        raise Forbidden("inquiry.account_required")
    rows = await uow.rows(query, account_id=actor.account_id, **params)
    account, company = asker(rows[0][:ASKER_WIDTH] if rows else None)
    return account, company, [row[ASKER_WIDTH:] for row in rows]


async def askers(uow: UnitOfWork, account_ids: Sequence[int]) -> dict[int, Row]:
    """What ``customer_account`` reads, for a batch of mail's askers in one statement:
    each account found, by id (``asker`` checks it)."""
    if not account_ids:
        return {}
    rows = await uow.session.execute(_ASKERS, {"account_ids": sorted(set(account_ids))})
    return {int(row[_ID]): tuple(row) for row in rows}


def active_sender(found: Row) -> tuple[str, int, str] | None:
    """A row of ``asker_columns()`` (and more): the account's address (lowercased), id
    and locale when it is active — who may write as a customer — else None."""
    if found[_STATUS] != "active":
        return None
    return str(found[_EMAIL]).lower(), int(found[_ID]), str(found[_LOCALE])


def asker(found: Row | None) -> tuple[Account, str]:
    """``customer_account``'s check of the row it read (no account, pending, disabled
    refused): the account and its company's name."""
    account = None if found is None else _detached(found[:-1])
    try:
        activation.check_status(account.status if account is not None else None)
    except AccountPending:
        raise
    except Forbidden:
        raise Forbidden("inquiry.account_required") from None
    assert account is not None and found is not None  # check_status refuses a missing account
    return account, str(found[-1] or "")


def _detached(columns: Row) -> Account:
    """An ``Account`` of its stored columns, as an ORM load makes one (the storage fence)."""
    return detached(Account, _ACCOUNT_KEYS, columns)


async def reader_account_id(source: Reader, actor: Actor) -> int | None:
    """None for staff (they see every inquiry); else ``customer_account_id``."""
    if actor.is_staff:
        return None
    return await customer_account_id(source, actor)


async def is_contact(source: Reader, support_id_id: int | None, account_id: int | None) -> bool:
    if support_id_id is None or account_id is None:
        return False
    return await source.first(_CONTACT, support_id_id=support_id_id, account_id=account_id) is not None


async def support_id_of(source: Reader, actor: Actor, account_id: int | None, name: str) -> tuple[int, str]:
    """``(id, name)`` of a support ID the reader may see (staff: any; a customer: one they
    are a contact of). Unknown and not theirs answer alike."""
    found = await source.first(_SUPPORT_ID_BY_NAME, name_key=name_key(name))
    if found is not None and (actor.is_staff or await is_contact(source, found[0], account_id)):
        return int(found[0]), str(found[1])
    raise support_id_not_found(name)


def support_id_not_found(name: str) -> NotFound:
    """What a support ID that does not exist and one the reader may not see both answer."""
    return NotFound("inquiry.support_id_not_found", support_id=name.strip()[:80])


def may_see(actor: Actor, account_id: int | None, inquiry_asker: int, contact: bool) -> bool:
    return actor.is_staff or inquiry_asker == account_id or contact


def not_found(number: str | int) -> NotFound:
    parsed = parse_number(number)
    shown = format_number(parsed) if parsed is not None else str(number).strip()[:20]
    return NotFound("inquiry.not_found", number=shown)


async def visible(uow: UnitOfWork, actor: Actor, number: str | int, *, lock: bool = False) -> Inquiry:
    """The inquiry if the actor may see it (see the module docstring); ``lock`` holds its
    row until commit (PostgreSQL), so two changes of one inquiry run one after the other."""
    account_id = await reader_account_id(uow, actor)
    parsed = parse_number(number)
    if parsed is None:
        raise not_found(number)
    query = select(Inquiry).where(Inquiry.id == parsed)
    if lock:
        query = query.with_for_update()
    found = (await uow.session.scalars(query.execution_options(populate_existing=True))).first()
    if found is not None and may_see(
        actor, account_id, found.asker_account_id, await is_contact(uow, found.support_id_id, account_id)
    ):
        return found
    raise not_found(number)
