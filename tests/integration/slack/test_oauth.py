"""Multi-workspace mode: the OAuth install stores the workspace (token sealed) and its
requests are answered with that workspace's token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import SlackDoor
from core.models import SlackInstallation, SlackOAuthState
from core.unit_of_work import Core
from tests.fakeslack import FakeSlack, serve_routes
from tests.integration.slack.conftest import SIGNING_SECRET, Slack


@pytest.fixture
async def oauth_slack(domain: Core, fake: FakeSlack) -> AsyncIterator[tuple[Slack, str]]:
    settings = domain.settings.model_copy(
        update={
            "slack_client_id": "111.222",
            "slack_client_secret": "oauth-client-secret-xyz",
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.url,
        }
    )
    door = SlackDoor(Core(domain.sessions, settings, domain.clock))
    await door.start()
    runner, base = await serve_routes(door.routes())
    async with aiohttp.ClientSession() as session:
        yield Slack(f"{base}/slack/events", door, fake, session), base
    await door.stop()
    await runner.cleanup()


async def install(slack: Slack, base: str) -> None:
    async with slack.session.get(f"{base}/slack/install", allow_redirects=False) as resp:
        assert resp.status in (200, 302)
        page = await resp.text()
        cookie = SimpleCookie()
        for header in resp.headers.getall("Set-Cookie", []):
            cookie.load(header)
    url = resp.headers.get("Location") or re.search(r'href="([^"]+oauth/v2/authorize[^"]+)"', page).group(1)
    state = re.search(r"state=([^&\"]+)", url.replace("&amp;", "&")).group(1)
    cookies = "; ".join(f"{k}={v.value}" for k, v in cookie.items())
    async with slack.session.get(
        f"{base}/slack/oauth_redirect", params={"code": "code-1", "state": state}, headers={"Cookie": cookies}
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_the_install_stores_the_workspace_with_its_token_sealed(oauth_slack: tuple[Slack, str]) -> None:
    slack, base = oauth_slack
    await install(slack, base)
    assert slack.fake.of("oauth.v2.access")[0].body["code"] == "code-1"
    async with slack.door.core.uow() as uow:
        row = await uow.session.scalar(select(SlackInstallation))
        states = (await uow.session.scalars(select(SlackOAuthState))).all()
    assert row is not None and row.team_id == "T2" and row.bot_user_id == "UBOT2"
    assert "xoxb-installed-token" not in row.sealed_bot_token
    assert states == []  # the state was used up


async def test_requests_from_an_installed_workspace_use_its_token(oauth_slack: tuple[Slack, str]) -> None:
    slack, base = oauth_slack
    await install(slack, base)
    answer = await slack.command("/support", "help", team="T2")
    assert "/support id list" in answer["blocks"][0]["text"]["text"]
    await slack.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}, team="T2")
    assert slack.fake.of("views.publish")[0].headers["Authorization"] == "Bearer xoxb-installed-token"


async def test_a_redirect_with_a_forged_state_installs_nothing(oauth_slack: tuple[Slack, str]) -> None:
    slack, base = oauth_slack
    async with slack.session.get(
        f"{base}/slack/oauth_redirect", params={"code": "c", "state": "forged"}
    ) as resp:
        assert resp.status >= 400
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(SlackInstallation)) is None
    assert slack.fake.of("oauth.v2.access") == []


async def test_uninstalling_the_app_forgets_the_workspace(oauth_slack: tuple[Slack, str]) -> None:
    slack, base = oauth_slack
    await install(slack, base)
    await slack.event({"type": "app_uninstalled"}, team="T2")
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(SlackInstallation)) is None
