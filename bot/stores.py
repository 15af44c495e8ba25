"""slack_sdk's async installation and OAuth-state stores, over ``core.workspaces``.

slack_sdk ships SQLAlchemy stores, but they are synchronous (they would block the event
loop on every request) and keep bot tokens in the clear; these adapt slack_sdk's
``Bot`` to the core's workspaces, which seal bot tokens and hash install states in our
own tables (migration ``0005_slack``).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from core import workspaces
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.slack")


class InstallationStore(AsyncInstallationStore):
    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        enterprise = bot.enterprise_id or ""
        team = bot.team_id or ""
        async with self.core.uow() as uow:
            await workspaces.save_installation(
                uow,
                enterprise_id=enterprise,
                team_id=team,
                is_enterprise_install=bool(bot.is_enterprise_install),
                app_id=bot.app_id or "",
                bot_id=bot.bot_id or "",
                bot_user_id=bot.bot_user_id or "",
                bot_scopes=bot.bot_scopes or [],
                installer_user_id=getattr(bot, "installer_user_id", None) or "",
                bot_token=bot.bot_token,
            )
        log.info("slack: app installed in team %s", team or enterprise)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        async with self.core.uow() as uow:
            found = await workspaces.find_installation(
                uow,
                enterprise_id=enterprise_id or "",
                team_id=team_id or "",
                whole_enterprise=bool(is_enterprise_install),
            )
        if found is None:
            return None
        return Bot(
            app_id=found.app_id or None,
            enterprise_id=found.enterprise_id or None,
            team_id=found.team_id or None,
            bot_token=found.bot_token,
            bot_id=found.bot_id,
            bot_user_id=found.bot_user_id,
            bot_scopes=found.bot_scopes,
            is_enterprise_install=found.is_enterprise_install,
            installed_at=found.installed_at.timestamp(),
        )

    async def async_find_installation(self, **kwargs: Any) -> Installation | None:
        return None  # bot-only: no user tokens are ever kept

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self.core.uow() as uow:
            await workspaces.delete_installation(
                uow, enterprise_id=enterprise_id or "", team_id=team_id or ""
            )

    async def async_delete_installation(self, **kwargs: Any) -> None:
        return None  # bot-only: there are no user tokens to forget


class OAuthStateStore(AsyncOAuthStateStore):
    """One-time states (``core.workspaces``: keyed hashes, valid 10 minutes)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        async with self.core.uow() as uow:
            return await workspaces.issue_install_state(uow)

    async def async_consume(self, state: str) -> bool:
        async with self.core.uow() as uow:
            return await workspaces.consume_install_state(uow, state)
