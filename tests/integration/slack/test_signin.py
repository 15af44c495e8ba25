"""SPEC §4.11: ``/support link`` → the sign-in page on the web door → the Slack user is
linked to the account. Signed Slack requests for the command, real HTTP for the page."""

from __future__ import annotations

import re

import aiohttp
import pytest
from sqlalchemy import select

from core import accounts, signin
from core.actors import Actor
from core.errors import Forbidden, Throttled
from core.models import Account, AuditRecord, OutboxMessage
from core.unit_of_work import Core
from tests import factories
from tests.integration.slack.conftest import Slack
from tests.integration.web import conftest as web_door
from tests.integration.web.conftest import Site

# The web door on a free port (tests/integration/web/conftest.py), beside the Slack door.
web = web_door.site

EMAIL = "taro.yamada@customer-a.example.jp"
PASSWORD = "Kumquat-2026x"
FAILED_JA = "ユーザー名またはパスワードが正しくありません。"


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


@pytest.fixture
async def active(slack: Slack) -> int:
    """An active account with a password, linked to Slack user T1/U1."""
    core = slack.door.core
    async with core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        contract = await factories.contract(uow, company, number="K-0001")
        await factories.key(uow, contract, "SK-AAAA-BBBB-1111")
        actor = Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1"))
        created = await accounts.create_account(uow, actor, factories.details(EMAIL), company.id, "ja")
        await uow.commit()
        mail = (await uow.session.scalars(select(OutboxMessage))).one()
        token = str(uow.sealer.open(mail.sealed)["link"]).rsplit("/", 1)[1]
    async with core.uow() as uow:
        await accounts.set_password_with_token(uow, token, PASSWORD, actor)
    return created.id


async def link_path(slack: Slack, *, user: str, team: str) -> str:
    answer = text_of(await slack.command("/support", "link", user=user, team=team))
    assert "2026年11月26日（木）10時15分まで有効です。" in answer
    found = re.search(r"<https?://[^/]+(/signin/[A-Za-z0-9_-]+)>", answer)
    assert found, answer
    return found.group(1)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


async def get(web: Site, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(web.base + path) as response:
        return response.status, await response.text()


async def post(
    web: Site, path: str, username: str, password: str, csrf: str | None = None
) -> tuple[int, str]:
    if csrf is None:
        status, html = await get(web, path)
        assert status == 200, html
        csrf = csrf_of(html)
    data = {"csrf": csrf, "username": username, "password": password}
    async with aiohttp.ClientSession() as http, http.post(web.base + path, data=data) as response:
        assert response.headers["Referrer-Policy"] == "no-referrer"
        return response.status, await response.text()


async def linked_to(core: Core, account_id: int) -> tuple[str | None, str | None]:
    async with core.uow() as uow:
        row = await uow.session.get(Account, account_id, populate_existing=True)
        assert row is not None
        return row.slack_team_id, row.slack_user_id


async def test_signing_in_links_a_slack_user_of_another_workspace_and_the_link_cannot_be_replayed(
    slack: Slack, web: Site, active: int
) -> None:
    path = await link_path(slack, user="U9", team="T2")
    status, html = await get(web, path)
    assert status == 200 and 'name="password"' in html and "サインイン" in html
    csrf = csrf_of(html)
    status, html = await post(web, path, "Taro.Yamada@Customer-A.example.jp", PASSWORD, csrf)
    assert status == 200 and "このSlackユーザーをアカウントに連携しました。" in html
    assert await linked_to(slack.door.core, active) == ("T2", "U9")
    # The new Slack user now acts as the account (an active one): its commands work.
    issued = text_of(
        await slack.command("/support", "id new SK-AAAA-BBBB-1111 ACME_01", user="U9", team="T2")
    )
    assert "サポートID「ACME_01」を発行しました。" in issued
    # The old Slack user is no longer linked to it.
    assert "アカウントを登録してください" in text_of(await slack.command("/support", "id list", user="U1"))

    # The same form sent again (a replay of the request): the link is used up.
    status, html = await post(web, path, EMAIL, PASSWORD, csrf)
    assert status == 410 and "既に使用されています" in html
    assert (await get(web, path))[0] == 410
    async with slack.door.core.uow() as uow:
        actions = list(await uow.session.scalars(select(AuditRecord.action)))
    assert {"account.signin_link_issued", "account.signed_in", "account.slack_linked"} <= set(actions)
    async with slack.door.core.uow() as uow:
        told = (
            await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.template == "slack_linked"))
        ).one()
    assert told.recipients == [EMAIL] and told.context["linked_at"] == "2026年11月26日（木）10時00分"


async def test_a_wrong_password_and_an_unknown_address_get_the_same_answer_and_are_throttled(
    slack: Slack, web: Site, active: int
) -> None:
    path = await link_path(slack, user="U9", team="T1")
    answers = []
    for username, password in [
        (EMAIL, "Wrong-password-1"),
        ("nobody@customer-a.example.jp", PASSWORD),
        (EMAIL, "Wrong-password-2"),
        ("nobody@customer-a.example.jp", "x"),
        (EMAIL, ""),
    ]:
        status, html = await post(web, path, username, password)
        assert status == 400 and FAILED_JA in html
        answers.append(re.sub(r'value="[^"]*"', "", html))
    assert len(set(answers)) == 1, "no answer tells whether the address is registered"
    # Six in a row from this client: refused with the time to wait, even with the right password.
    status, html = await post(web, path, EMAIL, PASSWORD)
    assert status == 429 and "分" in html
    assert await linked_to(slack.door.core, active) == ("T1", "U1")
    async with slack.door.core.uow() as uow:
        failed = list(
            await uow.session.scalars(
                select(AuditRecord).where(AuditRecord.action == "account.signin_failed")
            )
        )
    assert len(failed) == 5 and all(PASSWORD not in str(r.details) for r in failed)


async def test_failures_count_per_account_whatever_the_client(slack: Slack, active: int) -> None:
    core = slack.door.core
    async with core.uow() as uow:
        issued = await signin.issue_link(
            uow, Actor(kind="anonymous", ref="slack:T1:U9", door="slack", slack_user=("T1", "U9"))
        )
    token = issued.url.rsplit("/", 1)[1]
    web = Actor(kind="anonymous", ref="ip:web", door="web")
    for n in range(5):
        with pytest.raises(Forbidden):
            async with core.uow() as uow:
                await signin.sign_in(uow, token, EMAIL, "Wrong-1", client=f"192.0.2.{n}", actor=web)
    with pytest.raises(Throttled):
        async with core.uow() as uow:
            await signin.sign_in(uow, token, EMAIL, PASSWORD, client="198.51.100.7", actor=web)


async def test_a_forged_link_and_a_form_without_its_csrf_token_are_refused(
    slack: Slack, web: Site, active: int
) -> None:
    assert (await get(web, "/signin/forged-token"))[0] == 404
    path = await link_path(slack, user="U9", team="T1")
    status, _ = await post(web, path, EMAIL, PASSWORD, csrf="0" * 64)
    assert status == 403
    assert await linked_to(slack.door.core, active) == ("T1", "U1")


async def test_an_account_without_a_password_cannot_be_signed_into(
    slack: Slack, web: Site, active: int
) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow)
        await accounts.create_account(
            uow,
            Actor(kind="anonymous", ref="slack:T1:U5", door="slack", slack_user=("T1", "U5")),
            factories.details("pending@customer-a.example.jp"),
            company.id,
            "ja",
        )
        await uow.commit()
    path = await link_path(slack, user="U9", team="T1")
    status, html = await post(web, path, "pending@customer-a.example.jp", "")
    assert status == 400 and FAILED_JA in html


async def test_a_newer_link_replaces_the_older_one(slack: Slack, web: Site, active: int) -> None:
    first = await link_path(slack, user="U9", team="T1")
    second = await link_path(slack, user="U9", team="T1")
    assert (await get(web, first))[0] == 410
    assert (await get(web, second))[0] == 200


async def test_an_overlong_username_gets_the_same_answer(slack: Slack, web: Site, active: int) -> None:
    path = await link_path(slack, user="U9", team="T1")
    status, html = await post(web, path, "a" * 240 + "@customer-a.example.jp", "Wrong-1")
    assert status == 400 and FAILED_JA in html
