"""Pending or active (SPEC §4.11): what an account may do before its mailed link is used.

An account is *pending* from registration until its password is set through the mailed
link (§4.3), then *active*. Anybody with a valid key could register somebody else's
address, so a pending account proves nothing about its owner: it may read help, the
calendar and public knowledge and ask for a new activation link, and every other use
case refuses it here with ``AccountPending`` (the doors offer a button that resends the
link). ``require_active`` is the one check: the support-ID services reach it through
``core.support_ids.access``, and any new use case (inquiries, the profile) calls it first.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from core import accounts
from core.actors import Actor
from core.errors import Conflict, Forbidden
from core.models import Account
from core.snapshots import Query, Reader, reads
from core.unit_of_work import UnitOfWork

PENDING = "accounts.pending"


class AccountPending(Forbidden):
    """Raised when a pending account tries anything but help, the calendar, public
    knowledge or a new activation link."""

    def __init__(self) -> None:
        super().__init__(PENDING)


_STATUS = Query(select(Account.status).where(Account.id == bindparam("account_id")))


async def status_of(source: Reader, actor: Actor) -> str | None:
    """``pending``, ``active`` or ``disabled``; None when the actor has no account."""
    if actor.kind != "account" or actor.account_id is None:
        return None
    found = await source.rows(_STATUS, account_id=actor.account_id)
    return str(found[0][0]) if found else None


@reads
async def require_active(source: Reader, actor: Actor) -> None:
    """Pass for staff and active accounts; refuse everybody else with the reason.

    No account: ``accounts.account_required`` (register first); disabled:
    ``accounts.disabled``; pending: ``AccountPending`` (use the mailed link first).
    """
    if actor.is_staff:
        return
    check_status(await status_of(source, actor))


def check_status(status: str | None) -> None:
    """``require_active``'s rule for an account's status already read (None: no
    account), for a use case that loads the whole account row anyway (opening an
    inquiry reads it once instead of twice)."""
    if status is None:
        raise Forbidden("accounts.account_required")
    if status == "disabled":
        raise Forbidden("accounts.disabled")
    if status == "pending":
        raise AccountPending()


async def resend_own_link(uow: UnitOfWork, actor: Actor) -> str:
    """The resend button of the pending answer: a new activation link to the account's
    own address, through the same rules as every resend (``accounts.resend_activation``:
    at most ``MAX_LINKS_PER_HOUR`` mails an hour, the newest link replaces the older).
    Returns the address the link goes to (the customer typed it; it is theirs to see)."""
    status = await status_of(uow, actor)
    if status is None or actor.account_id is None:
        raise Forbidden("accounts.account_required")
    if status == "disabled":
        raise Forbidden("accounts.disabled")
    if status == "active":
        raise Conflict("accounts.already_active")
    account = await uow.session.get(Account, actor.account_id)
    assert account is not None
    email = account.email
    await accounts.resend_activation(uow, actor, email)
    await uow.commit()
    return email
