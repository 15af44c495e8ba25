"""Slack workspaces as the core keeps them (core.workspaces): installations with sealed
tokens, one-time install states, users' client language, processed events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import workspaces
from core.clock import FrozenClock
from core.models import ProcessedSlackEvent, SlackInstallation, SlackUser
from core.unit_of_work import Core

TOKEN = "xoxb-workspace-token-4321"


async def _install(domain: Core, team: str, token: str, scopes: list[str] | None = None) -> None:
    async with domain.uow() as uow:
        await workspaces.save_installation(
            uow,
            enterprise_id="",
            team_id=team,
            is_enterprise_install=False,
            app_id="A1",
            bot_id="B1",
            bot_user_id="UBOT",
            bot_scopes=scopes or ["commands", "chat:write"],
            installer_user_id="U1",
            bot_token=token,
        )


async def test_an_installation_is_kept_with_its_token_sealed_and_found_opened(domain: Core) -> None:
    await _install(domain, "T1", TOKEN)
    async with domain.uow() as uow:
        row = (await uow.session.scalars(select(SlackInstallation))).one()
        found = await workspaces.find_installation(
            uow, enterprise_id="", team_id="T1", whole_enterprise=False
        )
        other = await workspaces.find_installation(
            uow, enterprise_id="", team_id="T2", whole_enterprise=False
        )
    assert TOKEN not in row.sealed_bot_token and row.bot_scopes == "commands,chat:write"
    assert found is not None and found.bot_token == TOKEN and found.team_id == "T1"
    assert other is None


async def test_a_reinstall_replaces_the_workspace_s_token(domain: Core) -> None:
    await _install(domain, "T1", TOKEN)
    await _install(domain, "T1", "xoxb-new-token")
    async with domain.uow() as uow:
        rows = (await uow.session.scalars(select(SlackInstallation))).all()
        found = await workspaces.find_installation(
            uow, enterprise_id="", team_id="T1", whole_enterprise=False
        )
    assert len(rows) == 1 and found is not None and found.bot_token == "xoxb-new-token"


async def test_the_latest_installation_s_token_serves_the_staff_channel(
    domain: Core, clock: FrozenClock
) -> None:
    async with domain.uow() as uow:
        assert await workspaces.latest_bot_token(uow) is None
    await _install(domain, "T1", "xoxb-first")
    clock.advance(timedelta(minutes=1))
    await _install(domain, "T2", "xoxb-second")
    async with domain.uow() as uow:
        assert await workspaces.latest_bot_token(uow) == "xoxb-second"


async def test_a_deleted_installation_is_forgotten(domain: Core) -> None:
    await _install(domain, "T1", TOKEN)
    async with domain.uow() as uow:
        await workspaces.delete_installation(uow, enterprise_id="", team_id="T1")
    async with domain.uow() as uow:
        assert await workspaces.latest_bot_token(uow) is None


async def test_an_install_state_works_once_and_only_for_ten_minutes(domain: Core, clock: FrozenClock) -> None:
    async with domain.uow() as uow:
        first = await workspaces.issue_install_state(uow)
    async with domain.uow() as uow:
        late = await workspaces.issue_install_state(uow)
    async with domain.uow() as uow:
        assert await workspaces.consume_install_state(uow, first) is True
    async with domain.uow() as uow:
        assert await workspaces.consume_install_state(uow, first) is False
    async with domain.uow() as uow:
        assert await workspaces.consume_install_state(uow, "never-issued") is False
    clock.advance(workspaces.STATE_LIFETIME + timedelta(seconds=1))
    async with domain.uow() as uow:
        assert await workspaces.consume_install_state(uow, late) is False


async def test_a_user_s_client_language_is_remembered_and_updated(domain: Core) -> None:
    async with domain.uow() as uow:
        await workspaces.remember_client_locale(uow, "T1", "U1", "en")
    async with domain.uow() as uow:
        await workspaces.remember_client_locale(uow, "T1", "U1", "ja")
    async with domain.uow() as uow:
        rows = (await uow.session.scalars(select(SlackUser))).all()
    assert [(r.team_id, r.user_id, r.locale) for r in rows] == [("T1", "U1", "ja")]


async def test_an_event_is_claimed_once_and_old_ids_are_pruned(domain: Core, clock: FrozenClock) -> None:
    async with domain.uow() as uow:
        assert await workspaces.claim_event(uow, "T1", "Ev1") is True
    async with domain.uow() as uow:
        assert await workspaces.claim_event(uow, "T1", "Ev1") is False
    async with domain.uow() as uow:
        assert await workspaces.claim_event(uow, "T2", "Ev1") is True  # another workspace's event
    clock.advance(workspaces.EVENTS_KEPT + timedelta(seconds=1))
    async with domain.uow() as uow:
        assert await workspaces.claim_event(uow, "T1", "Ev2") is True
    async with domain.uow() as uow:
        await workspaces.prune_events(uow)
    async with domain.uow() as uow:
        kept = (await uow.session.scalars(select(ProcessedSlackEvent.event_id))).all()
    assert kept == ["Ev2"]
