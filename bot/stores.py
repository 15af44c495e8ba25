"""Slack installations, OAuth states and users' locales, in madoguchi's own database.

slack_sdk ships SQLAlchemy stores, but they are synchronous (they would block the event
loop on every request) and keep bot tokens in the clear; these are small async ones on
our own tables (migration ``0005_slack``), with bot tokens sealed by the core's sealer.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.clock import aware
from core.models import SlackInstallation, SlackOAuthState, SlackUser
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.slack")

STATE_LIFETIME = timedelta(minutes=10)


class InstallationStore(AsyncInstallationStore):
    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        async with self.core.uow() as uow:
            enterprise = bot.enterprise_id or ""
            team = bot.team_id or ""
            row = await uow.session.scalar(
                select(SlackInstallation).where(
                    SlackInstallation.enterprise_id == enterprise, SlackInstallation.team_id == team
                )
            )
            if row is None:
                row = SlackInstallation(enterprise_id=enterprise, team_id=team, sealed_bot_token="")
                uow.session.add(row)
            row.is_enterprise_install = bool(bot.is_enterprise_install)
            row.app_id = bot.app_id or ""
            row.bot_id = bot.bot_id or ""
            row.bot_user_id = bot.bot_user_id or ""
            row.bot_scopes = ",".join(bot.bot_scopes or [])
            row.installer_user_id = getattr(bot, "installer_user_id", None) or ""
            row.sealed_bot_token = uow.sealer.seal({"bot_token": bot.bot_token})
            row.installed_at = uow.clock.now()
            await uow.commit()
        log.info("slack: app installed in team %s", team or enterprise)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        async with self.core.uow() as uow:
            query = select(SlackInstallation).where(SlackInstallation.enterprise_id == (enterprise_id or ""))
            if not is_enterprise_install:
                query = query.where(SlackInstallation.team_id == (team_id or ""))
            row = await uow.session.scalar(query.limit(1))
            if row is None:
                return None
            token = uow.sealer.open(row.sealed_bot_token)["bot_token"]
            return Bot(
                app_id=row.app_id or None,
                enterprise_id=row.enterprise_id or None,
                team_id=row.team_id or None,
                bot_token=token,
                bot_id=row.bot_id,
                bot_user_id=row.bot_user_id,
                bot_scopes=row.bot_scopes,
                is_enterprise_install=row.is_enterprise_install,
                installed_at=row.installed_at.timestamp(),
            )

    async def async_find_installation(self, **kwargs: Any) -> Installation | None:
        return None  # bot-only: no user tokens are ever kept

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self.core.uow() as uow:
            await uow.session.execute(
                delete(SlackInstallation).where(
                    SlackInstallation.enterprise_id == (enterprise_id or ""),
                    SlackInstallation.team_id == (team_id or ""),
                )
            )
            await uow.commit()

    async def async_delete_installation(self, **kwargs: Any) -> None:
        return None  # bot-only: there are no user tokens to forget


class OAuthStateStore(AsyncOAuthStateStore):
    """One-time states, stored as keyed hashes, valid 10 minutes."""

    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        async with self.core.uow() as uow:
            now = uow.clock.now()
            await uow.session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < now))
            uow.session.add(
                SlackOAuthState(
                    state_hash=uow.hasher.digest(state, purpose="slack-oauth-state"),
                    expires_at=now + STATE_LIFETIME,
                )
            )
            await uow.commit()
        return state

    async def async_consume(self, state: str) -> bool:
        async with self.core.uow() as uow:
            digest = uow.hasher.digest(state, purpose="slack-oauth-state")
            row = await uow.session.get(SlackOAuthState, digest)
            if row is None:
                return False
            await uow.session.delete(row)
            await uow.commit()
            return aware(row.expires_at) > uow.clock.now()


async def remember_locale(core: Core, team_id: str, user_id: str, locale: str) -> None:
    async with core.uow() as uow:
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
