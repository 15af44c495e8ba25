"""Accounts (SPEC §4.2 step 5, §4.3, §4.6 self-service, §4.7): creation, links, passwords.

A *link* is a single-use token mailed to the account's address: ``activation`` (sent at
registration, or again on request) or ``reset`` (forgotten password). Both lead to the
same page and end in ``set_password_with_token``. Only the keyed hash of a token is
stored; the raw token exists in the sealed part of the outbox row until the mail is sent.
Issuing a new link of a purpose ends the older unused ones of that purpose, so only the
latest mail works (SPEC §4.2: "a new link replaces the old").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, passwords, staff
from core.actors import Actor
from core.clock import aware
from core.config import SUPPORTED_LOCALES
from core.contact_details import ContactDetails
from core.dates import moment_text
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.hashing import new_token
from core.models import Account, AccountToken, Company, PendingContact, SlackUser, SupportIdContact
from core.outbox import enqueue_mail
from core.snapshots import Query, Reader, reads
from core.unit_of_work import UnitOfWork

LINK_LIFETIME = timedelta(days=7)
TOKEN_HASH_PURPOSE = "account-token"
# More link mails than this per account and purpose in an hour are silently not sent:
# anybody can ask for a reset of any address, and the owner should not be mail-bombed.
MAX_LINKS_PER_HOUR = 5

Purpose = Literal["activation", "reset"]
ResendOutcome = Literal["sent", "active", "disabled", "unknown"]


@dataclass(frozen=True)
class SlackIdentity:
    """Who a Slack user is to us: the account they registered (if any) and the language
    their Slack client reported (stored by the Slack door after asking ``users.info``)."""

    account_id: int | None
    account_locale: str | None
    client_locale: str | None


# One round trip for all three facts, as scalar subqueries (always one row): every Slack
# request starts here. Built once: constructing a statement cost more CPU than SQLite
# answering it (bench/slack.py).
_SLACK_USER = (Account.slack_team_id == bindparam("team"), Account.slack_user_id == bindparam("user"))
_SLACK_IDENTITY = Query(
    select(
        select(Account.id).where(*_SLACK_USER).scalar_subquery(),
        select(Account.locale).where(*_SLACK_USER).scalar_subquery(),
        select(SlackUser.locale)
        .where(SlackUser.team_id == bindparam("team"), SlackUser.user_id == bindparam("user"))
        .scalar_subquery(),
    )
)


@reads
async def slack_identity(source: Reader, team_id: str, user_id: str) -> SlackIdentity:
    """The account linked to a Slack user (SPEC §5: the user registered it from Slack);
    read in the request's unit of work, or in a snapshot when the answer changes nothing."""
    account_id, account_locale, client_locale = (
        await source.rows(_SLACK_IDENTITY, team=team_id, user=user_id)
    )[0]
    return SlackIdentity(account_id, account_locale, client_locale)


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    status: str
    locale: str
    company_id: int
    last_name: str
    first_name: str
    slack_team_id: str | None
    slack_user_id: str | None
    created_at: datetime
    activated_at: datetime | None


@dataclass(frozen=True)
class LinkInfo:
    username: str
    purpose: str
    expires_at: datetime
    locale: str


def view(row: Account) -> AccountView:
    return AccountView(
        id=row.id,
        username=row.email,
        status=row.status,
        locale=row.locale,
        company_id=row.company_id,
        last_name=row.last_name,
        first_name=row.first_name,
        slack_team_id=row.slack_team_id,
        slack_user_id=row.slack_user_id,
        created_at=aware(row.created_at),
        activated_at=aware(row.activated_at) if row.activated_at else None,
    )


def username_of(email: str) -> str:
    """The username is the e-mail address, lower-cased (one spelling per person)."""
    return email.strip().lower()


async def _by_email(uow: UnitOfWork, email: str) -> Account | None:
    return await uow.session.scalar(select(Account).where(Account.email == username_of(email)))


async def email_taken(uow: UnitOfWork, email: str) -> bool:
    return await _by_email(uow, email) is not None


async def account_by_email(uow: UnitOfWork, email: str) -> AccountView | None:
    row = await _by_email(uow, email)
    return view(row) if row else None


async def account_for_slack_user(uow: UnitOfWork, team_id: str, user_id: str) -> AccountView | None:
    row = await uow.session.scalar(
        select(Account).where(Account.slack_team_id == team_id, Account.slack_user_id == user_id)
    )
    return view(row) if row else None


async def create_account(
    uow: UnitOfWork,
    actor: Actor,
    details: ContactDetails,
    company_id: int,
    locale: str,
    *,
    slack_team_id: str | None = None,
    slack_user_id: str | None = None,
) -> AccountView:
    """Store the account, link its Slack user and migrated support IDs, mail the link.

    The Slack user is the one given, else the actor's own (``Actor.slack_user``, set by
    the Slack door: core never reads a door's actor reference).

    Does not commit: the wizard commits it together with closing its conversation.
    """
    if not details.privacy_consent:
        raise ValidationFailed({"privacy_consent": "accounts.consent_required"})
    if locale not in SUPPORTED_LOCALES:
        locale = uow.settings.locale
    username = username_of(details.email)
    if await email_taken(uow, username):
        raise Conflict("accounts.email_taken")
    if slack_team_id is None and slack_user_id is None and actor.slack_user is not None:
        slack_team_id, slack_user_id = actor.slack_user
    if slack_team_id and slack_user_id:
        await _unlink_slack_user(uow, actor, slack_team_id, slack_user_id)
    now = uow.clock.now()
    row = Account(
        email=username,
        company_id=company_id,
        last_name=details.last_name,
        first_name=details.first_name,
        last_name_kana=details.last_name_kana,
        first_name_kana=details.first_name_kana,
        department=details.department,
        title=details.title,
        phone=details.phone,
        postal_code=details.postal_code,
        prefecture=details.prefecture,
        city=details.city,
        street=details.street,
        marketing_opt_in=details.marketing_opt_in,
        marketing_changed_at=now,
        privacy_consented_at=now,
        password_hash=None,
        status="pending",
        locale=locale,
        slack_team_id=slack_team_id,
        slack_user_id=slack_user_id,
        created_at=now,
    )
    uow.session.add(row)
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same address won
        raise Conflict("accounts.email_taken") from exc
    audit.record(uow, actor, "account.created", account_id=row.id, company_id=company_id, locale=locale)
    await _link_pending_contacts(uow, actor, row)
    await _issue_link(uow, row, "activation", "account_welcome")
    audit.record(uow, actor, "account.link_sent", account_id=row.id, purpose="activation")
    return view(row)


async def _link_pending_contacts(uow: UnitOfWork, actor: Actor, account: Account) -> None:
    pending = (
        await uow.session.scalars(select(PendingContact).where(PendingContact.email == account.email))
    ).all()
    for item in pending:
        already = await uow.session.get(SupportIdContact, (item.support_id_id, account.id))
        if already is None:
            uow.session.add(
                SupportIdContact(
                    support_id_id=item.support_id_id, account_id=account.id, added_at=uow.clock.now()
                )
            )
            audit.record(
                uow,
                actor,
                "support_id.contact_linked",
                account_id=account.id,
                support_id_id=item.support_id_id,
                email=account.email,
            )
        await uow.session.delete(item)
    await uow.session.flush()


async def mail_context(uow: UnitOfWork, account: Account, expires_at: datetime | None) -> dict[str, Any]:
    """What every account mail says: the greeting ``{company} {姓} {名} 様`` and, for a
    link, its exact expiry in JST in the reader's language (SPEC §4.11)."""
    company = await uow.session.scalar(select(Company.name).where(Company.id == account.company_id))
    context: dict[str, Any] = {
        "username": account.email,
        "vendor": uow.settings.vendor_name,
        "service": uow.settings.service_name,
        "company": company or "",
        "last_name": account.last_name,
        "first_name": account.first_name,
    }
    if expires_at is not None:
        context["expires_at"] = moment_text(expires_at, account.locale)
    return context


async def _links_sent_last_hour(uow: UnitOfWork, account: Account, purpose: Purpose) -> int:
    since = uow.clock.now() - timedelta(hours=1)
    count = await uow.session.scalar(
        select(func.count())
        .select_from(AccountToken)
        .where(
            AccountToken.account_id == account.id,
            AccountToken.purpose == purpose,
            AccountToken.created_at > since,
        )
    )
    return int(count or 0)


async def _end_open_links(uow: UnitOfWork, account_id: int, purposes: tuple[str, ...]) -> None:
    """Unused links of these purposes expire now (they read as expired, not as used)."""
    now = uow.clock.now()
    await uow.session.execute(
        update(AccountToken)
        .where(
            AccountToken.account_id == account_id,
            AccountToken.purpose.in_(purposes),
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


async def _issue_link(uow: UnitOfWork, account: Account, purpose: Purpose, template: str) -> None:
    await _end_open_links(uow, account.id, (purpose,))
    raw = new_token()
    now = uow.clock.now()
    expires_at = now + LINK_LIFETIME
    uow.session.add(
        AccountToken(
            account_id=account.id,
            purpose=purpose,
            token_hash=uow.hasher.digest(raw, purpose=TOKEN_HASH_PURPOSE),
            created_at=now,
            expires_at=expires_at,
        )
    )
    # Both pages (web/) serve either purpose; the path only makes the URL read right.
    page = "activate" if purpose == "activation" else "reset"
    link = f"{uow.settings.public_url.rstrip('/')}/{page}/{raw}"
    enqueue_mail(
        uow,
        template,
        [account.email],
        await mail_context(uow, account, expires_at),
        locale=account.locale,
        secrets={"link": link},
    )
    await uow.session.flush()


async def _token_row(uow: UnitOfWork, token: str) -> tuple[AccountToken, Account]:
    """The link's row and account, or the reason it cannot be used."""
    if not token or len(token) > 128:
        raise NotFound("accounts.link_unknown")
    digest = uow.hasher.digest(token, purpose=TOKEN_HASH_PURPOSE)
    found = (
        await uow.session.execute(
            select(AccountToken, Account)
            .join(Account, Account.id == AccountToken.account_id)
            .where(AccountToken.token_hash == digest)
        )
    ).first()
    if found is None:
        raise NotFound("accounts.link_unknown")
    row, account = found
    if row.used_at is not None:
        raise NotFound("accounts.link_used")
    if aware(row.expires_at) <= uow.clock.now():
        raise NotFound("accounts.link_expired")
    if account.status == "disabled":
        raise Forbidden("accounts.disabled")
    return row, account


async def inspect_link(uow: UnitOfWork, token: str) -> LinkInfo:
    """What the password page shows before the form is submitted."""
    row, account = await _token_row(uow, token)
    return LinkInfo(
        username=account.email, purpose=row.purpose, expires_at=aware(row.expires_at), locale=account.locale
    )


async def set_password_with_token(uow: UnitOfWork, token: str, password: str, actor: Actor) -> AccountView:
    """Set the password from an activation or reset link; the account becomes active.

    A weak password leaves the link unused so the person can try again. The link is
    consumed with a conditional UPDATE, so two submissions racing on one link have
    exactly one winner.
    """
    _, account = await _token_row(uow, token)
    passwords.check_policy(password, account.email)
    async with uow.paused():
        password_hash = await passwords.hash_password(password)
    # Read again: the link may have been used, or the account disabled, while hashing.
    row, account = await _token_row(uow, token)
    now = uow.clock.now()
    consumed = await uow.session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(consumed, "rowcount", 1) != 1:
        await uow.rollback()
        raise NotFound("accounts.link_used")
    # Any other open link is now pointless, and a leaked one would be dangerous.
    await _end_open_links(uow, account.id, ("activation", "reset"))
    account.password_hash = password_hash
    account.password_changed_at = now
    if account.status == "pending":
        account.status = "active"
    if account.activated_at is None:
        account.activated_at = now
    audit.record(uow, actor, "account.password_set", account_id=account.id, purpose=row.purpose)
    await uow.commit()
    return view(account)


async def request_password_reset(uow: UnitOfWork, actor: Actor, email: str) -> bool:
    """Mail a reset link to the registered address, if there is such an account.

    Self-service (this, ``send_username_reminder``, ``resend_activation``) does not
    commit: the contact window calls it inside the transaction that stores the request.
    """
    account = await _by_email(uow, email)
    if account is None or account.status == "disabled":
        return False
    if await _links_sent_last_hour(uow, account, "reset") >= MAX_LINKS_PER_HOUR:
        audit.record(uow, actor, "account.link_suppressed", account_id=account.id, purpose="reset")
        return False
    await _issue_link(uow, account, "reset", "password_reset")
    audit.record(uow, actor, "account.link_sent", account_id=account.id, purpose="reset")
    return True


async def send_username_reminder(uow: UnitOfWork, actor: Actor, email: str) -> bool:
    """Mail the username to the registered address, if there is such an account."""
    account = await _by_email(uow, email)
    if account is None or account.status == "disabled":
        return False
    context = await mail_context(uow, account, None)
    enqueue_mail(uow, "username_reminder", [account.email], context, locale=account.locale)
    audit.record(uow, actor, "account.username_reminded", account_id=account.id)
    return True


async def resend_activation(uow: UnitOfWork, actor: Actor, email: str) -> ResendOutcome:
    """A new activation link for an account that has not set its password yet."""
    account = await _by_email(uow, email)
    if account is None:
        return "unknown"
    if account.status == "disabled":
        return "disabled"
    if account.status != "pending":
        return "active"
    # Staff resend deliberately, one at a time: never tell them "sent" when it was not.
    if not actor.is_staff and await _links_sent_last_hour(uow, account, "activation") >= MAX_LINKS_PER_HOUR:
        audit.record(uow, actor, "account.link_suppressed", account_id=account.id, purpose="activation")
        return "sent"
    await _issue_link(uow, account, "activation", "activation_resent")
    audit.record(uow, actor, "account.link_sent", account_id=account.id, purpose="activation")
    return "sent"


async def disable(uow: UnitOfWork, actor: Actor, email: str) -> AccountView:
    staff.require_staff_or_system(actor)
    account = await _by_email(uow, email)
    if account is None:
        raise NotFound("accounts.not_found")
    if account.status != "disabled":
        account.status = "disabled"
        await _end_open_links(uow, account.id, ("activation", "reset"))
        audit.record(uow, actor, "account.disabled", account_id=account.id)
        await uow.commit()
    return view(account)


async def enable(uow: UnitOfWork, actor: Actor, email: str) -> AccountView:
    """Back to active, or to pending if the password was never set."""
    staff.require_staff_or_system(actor)
    account = await _by_email(uow, email)
    if account is None:
        raise NotFound("accounts.not_found")
    if account.status == "disabled":
        account.status = "active" if account.password_hash else "pending"
        audit.record(uow, actor, "account.enabled", account_id=account.id, status=account.status)
        await uow.commit()
    return view(account)


async def _unlink_slack_user(uow: UnitOfWork, actor: Actor, team_id: str, user_id: str) -> None:
    """One Slack user speaks for one account: a new link takes it from the old one."""
    previous = (
        await uow.session.scalars(
            select(Account).where(Account.slack_team_id == team_id, Account.slack_user_id == user_id)
        )
    ).all()
    for other in previous:
        other.slack_team_id = None
        other.slack_user_id = None
        audit.record(uow, actor, "account.slack_unlinked", account_id=other.id, slack=f"{team_id}:{user_id}")
    if previous:
        await uow.session.flush()


async def link_slack_user(uow: UnitOfWork, actor: Actor, account_id: int, team_id: str, user_id: str) -> None:
    account = await uow.session.get(Account, account_id)
    if account is None:
        raise NotFound("accounts.not_found")
    if (account.slack_team_id, account.slack_user_id) == (team_id, user_id):
        return
    await _unlink_slack_user(uow, actor, team_id, user_id)
    account.slack_team_id = team_id
    account.slack_user_id = user_id
    audit.record(uow, actor, "account.slack_linked", account_id=account.id, slack=f"{team_id}:{user_id}")
    await uow.commit()
