"""``/support profile`` (SPEC §4.11): the account's own details, the product-information
choice, the last password change, and changing them.

Editing follows the registration wizard's rules exactly: the values go through
``core.contact_details.validate`` (the one implementation of §4.2 step 3), so whatever
the wizard refuses is refused here, field by field, and nothing is changed. The address
is the username and where password links go, so a new one only takes effect once its
owner opens the link mailed to it (``confirm_email_change``); until then the old one
stays, and the old address is told when it changes. The product-information choice can
be changed at any time; each change is stored with its time and audited. Audit records
name the fields changed, never their values (personal data stays in one place).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from core import accounts, activation, audit, contact_details
from core.account_tables import EmailChange
from core.actors import Actor
from core.clock import aware
from core.errors import Conflict, NotFound, ValidationFailed
from core.hashing import new_token
from core.link_rows import usable_row
from core.models import Account, Company
from core.outbox import enqueue_mail
from core.unit_of_work import UnitOfWork

EMAIL_CHANGE_LIFETIME = timedelta(hours=24)
HASH_PURPOSE = "email-change"
PAGE = "email"
# The §4.2 step 3 text fields an account may edit (the email separately, by link).
EDITABLE = tuple(
    name for name in contact_details.REQUIRED_TEXT + contact_details.OPTIONAL_TEXT if name != "email"
)


@dataclass(frozen=True)
class Profile:
    username: str
    company: str
    locale: str
    values: dict[str, str]
    marketing_opt_in: bool
    marketing_changed_at: datetime | None
    password_changed_at: datetime | None
    pending_email: str | None


@dataclass(frozen=True)
class Updated:
    changed: tuple[str, ...]
    pending_email: str | None
    current_email: str
    expires_at: datetime | None


async def _account(uow: UnitOfWork, actor: Actor) -> Account:
    await activation.require_active(uow, actor)
    account = await uow.session.get(Account, actor.account_id, populate_existing=True)
    if account is None:
        raise NotFound("accounts.not_found")
    return account


async def _pending_email(uow: UnitOfWork, account_id: int) -> str | None:
    return await uow.session.scalar(
        select(EmailChange.new_email)
        .where(
            EmailChange.account_id == account_id,
            EmailChange.used_at.is_(None),
            EmailChange.expires_at > uow.clock.now(),
        )
        .order_by(EmailChange.id.desc())
        .limit(1)
    )


async def show(uow: UnitOfWork, actor: Actor) -> Profile:
    account = await _account(uow, actor)
    company = await uow.session.scalar(select(Company.name).where(Company.id == account.company_id))
    values = {name: str(getattr(account, name) or "") for name in EDITABLE}
    values["email"] = account.email
    return Profile(
        username=account.email,
        company=company or "",
        locale=account.locale,
        values=values,
        marketing_opt_in=account.marketing_opt_in,
        marketing_changed_at=aware(account.marketing_changed_at) if account.marketing_changed_at else None,
        password_changed_at=aware(account.password_changed_at) if account.password_changed_at else None,
        pending_email=await _pending_email(uow, account.id),
    )


def _record_marketing(uow: UnitOfWork, actor: Actor, account: Account, opt_in: bool) -> None:
    account.marketing_opt_in = opt_in
    account.marketing_changed_at = uow.clock.now()
    action = "account.marketing_opted_in" if opt_in else "account.marketing_opted_out"
    audit.record(uow, actor, action, account_id=account.id)


async def set_marketing(uow: UnitOfWork, actor: Actor, opt_in: bool) -> bool:
    """Opt in to or out of product information (support information is sent either way)."""
    account = await _account(uow, actor)
    if account.marketing_opt_in != opt_in:
        _record_marketing(uow, actor, account, opt_in)
        await uow.commit()
    return opt_in


async def update_details(uow: UnitOfWork, actor: Actor, values: dict[str, Any]) -> Updated:
    """Apply the edit modal: every field checked by the wizard's rules first; any wrong
    field refuses the whole edit (``ValidationFailed``) and changes nothing."""
    account = await _account(uow, actor)
    # Consent was given at registration; the profile does not ask again.
    details = contact_details.validate({**values, "privacy_consent": True})
    new_email = details.email if details.email != account.email else None
    if new_email is not None and await accounts.email_taken(uow, new_email):
        raise ValidationFailed(fields={"email": contact_details.EMAIL_TAKEN})
    changed = [name for name in EDITABLE if getattr(account, name) != getattr(details, name)]
    for name in changed:
        setattr(account, name, getattr(details, name))
    if changed:
        audit.record(uow, actor, "account.profile_updated", account_id=account.id, fields=changed)
    if details.marketing_opt_in != account.marketing_opt_in:
        _record_marketing(uow, actor, account, details.marketing_opt_in)
        changed.append("marketing_opt_in")
    expires_at = None
    if new_email is not None:
        expires_at = await _ask_to_confirm(uow, actor, account, new_email)
        changed.append("email")
    await uow.commit()
    return Updated(tuple(changed), new_email, account.email, expires_at)


async def _end_open_changes(uow: UnitOfWork, account_id: int) -> None:
    now = uow.clock.now()
    await uow.session.execute(
        update(EmailChange)
        .where(
            EmailChange.account_id == account_id,
            EmailChange.used_at.is_(None),
            EmailChange.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


async def _ask_to_confirm(uow: UnitOfWork, actor: Actor, account: Account, new_email: str) -> datetime:
    """Mail the new address a link; only its owner can make it the username."""
    await _end_open_changes(uow, account.id)
    raw = new_token()
    now = uow.clock.now()
    expires_at = now + EMAIL_CHANGE_LIFETIME
    uow.session.add(
        EmailChange(
            account_id=account.id,
            new_email=new_email,
            token_hash=uow.hasher.digest(raw, purpose=HASH_PURPOSE),
            created_at=now,
            expires_at=expires_at,
        )
    )
    context = await accounts.mail_context(uow, account, expires_at)
    enqueue_mail(
        uow,
        "email_change_confirm",
        [new_email],
        {**context, "new_email": new_email},
        locale=account.locale,
        secrets={"link": f"{uow.settings.public_url.rstrip('/')}/{PAGE}/{raw}"},
    )
    audit.record(uow, actor, "account.email_change_requested", account_id=account.id)
    return expires_at


async def _change_row(uow: UnitOfWork, token: str) -> EmailChange:
    return await usable_row(uow, EmailChange, token, HASH_PURPOSE)


async def inspect_email_change(uow: UnitOfWork, token: str) -> tuple[str, str]:
    """(new address, the account's language) for the confirmation page."""
    row = await _change_row(uow, token)
    locale = await uow.session.scalar(select(Account.locale).where(Account.id == row.account_id))
    return row.new_email, locale or uow.settings.locale


async def confirm_email_change(uow: UnitOfWork, token: str, actor: Actor) -> accounts.AccountView:
    """The new address becomes the username; the old one is told (whom to contact if it
    was not them). Commits."""
    row = await _change_row(uow, token)
    account = await uow.session.get(Account, row.account_id, populate_existing=True)
    if account is None or account.status == "disabled":
        raise NotFound("accounts.link_unknown")
    if await accounts.email_taken(uow, row.new_email):
        raise Conflict("accounts.email_taken")
    consumed = await uow.session.execute(
        update(EmailChange)
        .where(EmailChange.id == row.id, EmailChange.used_at.is_(None))
        .values(used_at=uow.clock.now())
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], consumed).rowcount != 1:
        raise NotFound("accounts.link_used")
    old_email, new_email = account.email, row.new_email
    account.email = new_email
    await _end_open_changes(uow, account.id)
    context = await accounts.mail_context(uow, account, None)
    enqueue_mail(
        uow,
        "email_changed",
        [old_email],
        {**context, "old_email": old_email, "new_email": new_email},
        locale=account.locale,
    )
    confirmed = Actor(kind="account", ref=actor.ref, door=actor.door, account_id=account.id)
    audit.record(uow, confirmed, "account.email_changed", account_id=account.id)
    try:
        await uow.commit()
    except IntegrityError:  # the address was registered by somebody else meanwhile
        await uow.rollback()
        raise Conflict("accounts.email_taken") from None
    return accounts.view(account)
