"""Slack workspaces as the service remembers them: installations (multi-workspace OAuth
mode), install states, the language each user's Slack client reported, and the events
already processed.

Slack's own vocabulary stays in the Slack door (bot/stores.py adapts these functions to
slack_sdk's store interfaces, bot/listeners/events.py de-duplicates with them); what is
kept, and how, is decided here:

- Bot tokens are sealed with the core's sealer (``core.sealing``), never stored in the
  clear, and opened only for the caller that needs the token.
- Install states are one-time secrets kept as keyed hashes, valid ``STATE_LIFETIME``.
- An event id is claimed (inserted and committed) before its listener runs, so a retry
  that lands on any instance finds it; ids older than ``EVENTS_KEPT`` are pruned.

Every function takes the caller's unit of work; those that change something commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.clock import aware
from core.models import ProcessedSlackEvent, SlackInstallation, SlackOAuthState, SlackUser
from core.unit_of_work import UnitOfWork

STATE_LIFETIME = timedelta(minutes=10)
STATE_HASH_PURPOSE = "slack-oauth-state"
# Slack retries within minutes; a day of event ids is plenty.
EVENTS_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class InstalledBot:
    """A workspace's installation with its bot token opened. ``installed_at`` is as
    stored (naive on SQLite)."""

    enterprise_id: str
    team_id: str
    is_enterprise_install: bool
    app_id: str
    bot_id: str
    bot_user_id: str
    bot_scopes: str
    installer_user_id: str
    bot_token: str
    installed_at: datetime


# -- installations --------------------------------------------------------------------


async def save_installation(
    uow: UnitOfWork,
    *,
    enterprise_id: str,
    team_id: str,
    is_enterprise_install: bool,
    app_id: str,
    bot_id: str,
    bot_user_id: str,
    bot_scopes: Sequence[str],
    installer_user_id: str,
    bot_token: str,
) -> None:
    """Store a workspace's installation, replacing the one it had (a re-install)."""
    row = await uow.session.scalar(
        select(SlackInstallation).where(
            SlackInstallation.enterprise_id == enterprise_id, SlackInstallation.team_id == team_id
        )
    )
    if row is None:
        row = SlackInstallation(enterprise_id=enterprise_id, team_id=team_id, sealed_bot_token="")
        uow.session.add(row)
    row.is_enterprise_install = is_enterprise_install
    row.app_id = app_id
    row.bot_id = bot_id
    row.bot_user_id = bot_user_id
    row.bot_scopes = ",".join(bot_scopes)
    row.installer_user_id = installer_user_id
    row.sealed_bot_token = uow.sealer.seal({"bot_token": bot_token})
    row.installed_at = uow.clock.now()
    await uow.commit()


async def find_installation(
    uow: UnitOfWork, *, enterprise_id: str, team_id: str, whole_enterprise: bool
) -> InstalledBot | None:
    """The installation serving a request: the enterprise's own when it was installed
    across the enterprise, else the team's."""
    query = select(SlackInstallation).where(SlackInstallation.enterprise_id == enterprise_id)
    if not whole_enterprise:
        query = query.where(SlackInstallation.team_id == team_id)
    row = await uow.session.scalar(query.limit(1))
    if row is None:
        return None
    return InstalledBot(
        enterprise_id=row.enterprise_id,
        team_id=row.team_id,
        is_enterprise_install=row.is_enterprise_install,
        app_id=row.app_id,
        bot_id=row.bot_id,
        bot_user_id=row.bot_user_id,
        bot_scopes=row.bot_scopes,
        installer_user_id=row.installer_user_id,
        bot_token=uow.sealer.open(row.sealed_bot_token)["bot_token"],
        installed_at=row.installed_at,
    )


async def delete_installation(uow: UnitOfWork, *, enterprise_id: str, team_id: str) -> None:
    """Forget a workspace's token (the app was uninstalled or its tokens revoked)."""
    await uow.session.execute(
        delete(SlackInstallation).where(
            SlackInstallation.enterprise_id == enterprise_id,
            SlackInstallation.team_id == team_id,
        )
    )
    await uow.commit()


async def latest_bot_token(uow: UnitOfWork) -> str | None:
    """The bot token of the latest installation (in OAuth mode the vendor's own workspace,
    where the staff channel is), opened; None before any installation."""
    row = await uow.session.scalar(
        select(SlackInstallation).order_by(SlackInstallation.installed_at.desc()).limit(1)
    )
    if row is None:
        return None
    return str(uow.sealer.open(row.sealed_bot_token)["bot_token"])


# -- install states ---------------------------------------------------------------------


async def issue_install_state(uow: UnitOfWork) -> str:
    """A new one-time state for the OAuth install flow; expired ones are dropped."""
    state = secrets.token_urlsafe(24)
    now = uow.clock.now()
    await uow.session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < now))
    uow.session.add(
        SlackOAuthState(
            state_hash=uow.hasher.digest(state, purpose=STATE_HASH_PURPOSE),
            expires_at=now + STATE_LIFETIME,
        )
    )
    await uow.commit()
    return state


async def consume_install_state(uow: UnitOfWork, state: str) -> bool:
    """True once for a state we issued that has not expired; it cannot be used again."""
    digest = uow.hasher.digest(state, purpose=STATE_HASH_PURPOSE)
    row = await uow.session.get(SlackOAuthState, digest)
    if row is None:
        return False
    await uow.session.delete(row)
    await uow.commit()
    return aware(row.expires_at) > uow.clock.now()


# -- users' client language -------------------------------------------------------------


async def remember_client_locale(uow: UnitOfWork, team_id: str, user_id: str, locale: str) -> None:
    """The language a user's Slack client reported, for every instance's next answer."""
    row = await uow.session.get(SlackUser, (team_id, user_id))
    if row is None:
        uow.session.add(
            SlackUser(team_id=team_id, user_id=user_id, locale=locale, updated_at=uow.clock.now())
        )
    else:
        row.locale = locale
        row.updated_at = uow.clock.now()
    try:
        await uow.commit()
    except IntegrityError:  # another instance stored it first: same answer
        await uow.rollback()


# -- processed events -------------------------------------------------------------------


async def claim_event(uow: UnitOfWork, team_id: str, event_id: str) -> bool:
    """True the first time an event is seen (its id is now committed); False for a retry
    of one already claimed, on this instance or another."""
    uow.session.add(ProcessedSlackEvent(team_id=team_id, event_id=event_id, received_at=uow.clock.now()))
    try:
        await uow.commit()
    except IntegrityError:
        await uow.rollback()
        return False
    return True


async def prune_events(uow: UnitOfWork) -> None:
    """Drop event ids older than ``EVENTS_KEPT``."""
    await uow.session.execute(
        delete(ProcessedSlackEvent).where(ProcessedSlackEvent.received_at < uow.clock.now() - EVENTS_KEPT)
    )
    await uow.commit()
