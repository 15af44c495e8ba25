"""Signing in on the web door to link a Slack user to an account (SPEC §4.11).

``/support link`` gives whoever asks — a Slack user of another workspace, or a new Slack
user of the same person — a link to the sign-in page. The link is a random secret whose
keyed hash is stored with the Slack user it was made for (as activation links are), so
only that Slack user is linked by it; it works once (``used_at`` is set by a conditional
UPDATE, so two submissions racing on one link have one winner) and for
``LINK_LIFETIME`` only; a newer link of the same Slack user ends the older ones.

The page asks for the username (the email address) and the password. Every refused
sign-in answers ``signin.failed`` whatever the reason (unknown address, wrong password,
an account that has no password yet), and costs one Argon2id verification either way,
so neither the answer nor its time tells whether an address is registered. Failures
count per account (by the typed username, known or not) and per client address
(``core.throttle``): after ``throttle.MAX_FAILURES`` in the window, both refuse with the
time to wait. Success, failures and links are audited (never the password), and a
success is mailed to the account (``slack_linked``: whom to contact if it was not them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from core import accounts, audit, passwords, throttle
from core.account_tables import SignInLink
from core.actors import Actor
from core.clock import aware
from core.errors import Forbidden, NotFound
from core.hashing import new_token
from core.link_rows import usable_row
from core.models import Account
from core.outbox import enqueue_mail
from core.unit_of_work import UnitOfWork

LINK_LIFETIME = timedelta(minutes=15)
HASH_PURPOSE = "signin-link"
ACCOUNT_SCOPE = "signin.account"
CLIENT_SCOPE = "signin.client"
FAILED = "signin.failed"
PAGE = "signin"

_dummy_hash: str | None = None
_dummy_lock = asyncio.Lock()


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkInfo:
    locale: str
    expires_at: datetime


async def issue_link(uow: UnitOfWork, actor: Actor) -> IssuedLink:
    """A new sign-in link for the Slack user asking (anyone in the workspace); commits."""
    if actor.slack_user is None:
        raise Forbidden("accounts.account_required")
    team_id, user_id = actor.slack_user
    now = uow.clock.now()
    # One live link per Slack user: the newest replaces the older ones.
    await uow.session.execute(
        update(SignInLink)
        .where(
            SignInLink.slack_team_id == team_id,
            SignInLink.slack_user_id == user_id,
            SignInLink.used_at.is_(None),
            SignInLink.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    raw = new_token()
    expires_at = now + LINK_LIFETIME
    uow.session.add(
        SignInLink(
            token_hash=uow.hasher.digest(raw, purpose=HASH_PURPOSE),
            slack_team_id=team_id,
            slack_user_id=user_id,
            locale=actor.locale,
            created_at=now,
            expires_at=expires_at,
        )
    )
    audit.record(uow, actor, "account.signin_link_issued", account_id=actor.account_id)
    await uow.commit()
    return IssuedLink(f"{uow.settings.public_url.rstrip('/')}/{PAGE}/{raw}", expires_at)


async def _row(uow: UnitOfWork, token: str) -> SignInLink:
    """The link's row, or why it cannot be used (the password pages' own reasons)."""
    return await usable_row(uow, SignInLink, token, HASH_PURPOSE)


async def inspect_link(uow: UnitOfWork, token: str) -> LinkInfo:
    """What the sign-in page needs before the form is sent."""
    row = await _row(uow, token)
    return LinkInfo(row.locale, aware(row.expires_at))


async def _reference_hash() -> str:
    """A real Argon2id hash of nothing anybody knows: verified against when there is no
    account or no password, so a refusal costs the same time either way."""
    global _dummy_hash
    async with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = await passwords.hash_password(new_token())
        return _dummy_hash


async def sign_in(
    uow: UnitOfWork, token: str, username: str, password: str, *, client: str, actor: Actor
) -> accounts.AccountView:
    """Link the link's Slack user to the account whose username and password these are.

    Raises ``NotFound`` for a link that cannot be used, ``Throttled`` when the account or
    the client is over the limit, ``Forbidden(signin.failed)`` for any refused sign-in,
    ``Forbidden(accounts.disabled)`` only to whoever gave the right password.
    """
    await _row(uow, token)
    who = accounts.username_of(username)[:254]
    # Counted by the name typed, registered or not (the throttle's actor column is 128 wide).
    per_account, per_client = who[:128], client[:128]
    await throttle.check(uow, ACCOUNT_SCOPE, per_account)
    await throttle.check(uow, CLIENT_SCOPE, per_client)
    found = (
        await uow.session.execute(select(Account.id, Account.password_hash).where(Account.email == who))
    ).first()
    account_id, stored = (found[0], found[1]) if found is not None else (None, None)
    async with uow.paused():  # Argon2id without holding the database
        reference = stored or await _reference_hash()
        matches = await passwords.verify_password(reference, password[: passwords.MAX_LENGTH])
    account = await uow.session.get(Account, account_id, populate_existing=True) if account_id else None
    if account is None or stored is None or not matches or account.password_hash != stored:
        audit.record(uow, actor, "account.signin_failed", account_id=account_id)
        await throttle.record_failure(uow, CLIENT_SCOPE, per_client, "signin")
        await throttle.record_failure(uow, ACCOUNT_SCOPE, per_account, "signin")
        raise Forbidden(FAILED)
    if account.status == "disabled":
        raise Forbidden("accounts.disabled")
    row = await _row(uow, token)  # again: it may have been used while the hash ran
    consumed = await uow.session.execute(
        update(SignInLink)
        .where(SignInLink.id == row.id, SignInLink.used_at.is_(None))
        .values(used_at=uow.clock.now(), account_id=account.id)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], consumed).rowcount != 1:
        await uow.rollback()
        raise NotFound("accounts.link_used")
    signed_in = Actor(
        kind="account", ref=actor.ref, door=actor.door, account_id=account.id, locale=actor.locale
    )
    audit.record(uow, signed_in, "account.signed_in", account_id=account.id)
    # The owner hears of it: a password known to someone else shows up here first.
    context = await accounts.mail_context(uow, account, None)
    context["linked_at"] = uow.clock.now().isoformat()  # the template formats it (long_date)
    enqueue_mail(uow, "slack_linked", [account.email], context, locale=account.locale)
    await accounts.link_slack_user(uow, signed_in, account.id, row.slack_team_id, row.slack_user_id)
    await uow.commit()
    return accounts.view(account)
