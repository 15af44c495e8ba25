"""SPEC §4.11: ``/support profile`` — view, edit with the wizard's rules (bad input
changes nothing), opt in/out of product information (recorded and audited), a new email
address confirmed by a link mailed to it. Signed Slack requests; real HTTP for the
confirmation page."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from core import accounts
from core.actors import Actor
from core.clock import FrozenClock
from core.models import Account, AuditRecord, OutboxMessage
from tests import factories
from tests.integration.slack.conftest import Slack
from tests.integration.web import conftest as web_door
from tests.integration.web.conftest import Site

# The web door on a free port (tests/integration/web/conftest.py), beside the Slack door.
web = web_door.site

EMAIL = "taro.yamada@customer-a.example.jp"
NEW_EMAIL = "t.yamada@customer-a.example.jp"
GOOD: dict[str, Any] = {
    "last_name": "山田",
    "first_name": "太郎",
    "last_name_kana": "やまだ",
    "first_name_kana": "タロウ",
    "email": EMAIL,
    "phone": "03-1234-5678",
    "postal_code": "１４０−０００２",
    "prefecture": "東京都",
    "city": "品川区",
    "street": "東品川4-12-7",
    "department": "情報システム部",
    "title": "",
    "marketing_opt_in": False,
}


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


@pytest.fixture
async def account_id(slack: Slack, clock: FrozenClock) -> int:
    core = slack.door.core
    actor = Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1"))
    async with core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        created = await accounts.create_account(uow, actor, factories.details(EMAIL), company.id, "ja")
        await uow.commit()
        mail = (await uow.session.scalars(select(OutboxMessage))).one()
        token = str(uow.sealer.open(mail.sealed)["link"]).rsplit("/", 1)[1]
    clock.set(clock.now().replace(day=27))  # the password is set the next day
    async with core.uow() as uow:
        await accounts.set_password_with_token(uow, token, "Kumquat-2026x", actor)
    return created.id


async def row(slack: Slack, account_id: int) -> Account:
    async with slack.door.core.uow() as uow:
        found = await uow.session.get(Account, account_id, populate_existing=True)
        assert found is not None
        return found


async def open_modal(slack: Slack) -> dict[str, Any]:
    await slack.interaction(slack.block_action("profile_edit", channel="C1"))
    view: dict[str, Any] = slack.fake.of("views.open")[-1].body["view"]
    assert view["callback_id"] == "profile"
    return view


async def test_profile_shows_the_details_the_choice_and_the_last_password_change(
    slack: Slack, account_id: int
) -> None:
    shown = text_of(await slack.command("/support", "profile"))
    assert "顧客A株式会社" in shown and "ヤマダ" in shown and EMAIL in shown and "東品川4-12-7" in shown
    assert "*製品情報の受け取り*：受け取らない" in shown
    assert "*パスワードの最終変更日*：2026年11月27日（金）" in shown


async def test_the_edit_modal_is_prefilled_with_the_registration_fields(
    slack: Slack, account_id: int
) -> None:
    await slack.command("/support", "profile")
    view = await open_modal(slack)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["last_name_kana"]["element"]["initial_value"] == "ヤマダ"
    assert blocks["email"]["element"]["initial_value"] == EMAIL
    assert "privacy_consent" not in blocks


async def test_bad_input_comes_back_on_its_blocks_and_changes_nothing(slack: Slack, account_id: int) -> None:
    before = await row(slack, account_id)
    view = await open_modal(slack)
    bad = {**GOOD, "last_name_kana": "yamada", "email": "info@customer-a.example.jp", "department": "営業部"}
    answer = await slack.interaction(slack.view_submission(view, bad))
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"last_name_kana", "email"}
    after = await row(slack, account_id)
    assert (after.department, after.last_name_kana, after.email) == (before.department, "ヤマダ", EMAIL)
    async with slack.door.core.uow() as uow:
        templates = list(await uow.session.scalars(select(OutboxMessage.template)))
    assert "email_change_confirm" not in templates


async def test_an_address_of_another_account_is_refused(slack: Slack, account_id: int) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow)
        await factories.account(uow, company, NEW_EMAIL)
        await uow.commit()
    view = await open_modal(slack)
    answer = await slack.interaction(slack.view_submission(view, {**GOOD, "email": NEW_EMAIL}))
    assert answer["response_action"] == "errors" and "email" in answer["errors"]
    assert (await row(slack, account_id)).email == EMAIL


async def test_opting_out_and_in_is_recorded_with_its_time_and_audited(
    slack: Slack, account_id: int, clock: FrozenClock
) -> None:
    async with slack.door.core.uow() as uow:
        (await uow.session.get(Account, account_id)).marketing_opt_in = True  # type: ignore[union-attr]
        await uow.commit()
    await slack.interaction(slack.block_action("profile_opt_out", channel="C1"))
    told = str(slack.fake.of("response_url")[-1].body)
    assert "製品情報の送付を停止しました。" in told and "受け取らない" in told
    after = await row(slack, account_id)
    assert after.marketing_opt_in is False and after.marketing_changed_at is not None
    await slack.interaction(slack.block_action("profile_opt_in", channel="C1"))
    assert (await row(slack, account_id)).marketing_opt_in is True
    async with slack.door.core.uow() as uow:
        actions = list(await uow.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))
    assert actions[-2:] == ["account.marketing_opted_out", "account.marketing_opted_in"]


async def test_a_new_address_waits_for_its_confirmation_link_and_the_old_one_is_told(
    slack: Slack, web: Site, account_id: int
) -> None:
    view = await open_modal(slack)
    edit = {**GOOD, "email": NEW_EMAIL.upper(), "department": "経営企画部", "marketing_opt_in": True}
    answer = await slack.interaction(slack.view_submission(view, edit))
    assert answer["response_action"] == "update"
    shown = str(answer["view"])
    assert "確認用のリンクをお送りしました" in shown and "2026年11月28日（土）10時00分" in shown
    after = await row(slack, account_id)
    assert (after.email, after.department, after.marketing_opt_in) == (EMAIL, "経営企画部", True)
    assert NEW_EMAIL in text_of(await slack.command("/support", "profile"))  # shown as awaiting

    async with slack.door.core.uow() as uow:
        mail = (
            await uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.template == "email_change_confirm")
            )
        ).one()
        link = str(uow.sealer.open(mail.sealed)["link"])
    assert mail.recipients == [NEW_EMAIL]
    path = link.split("://", 1)[1].split("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web.base}/{path}") as response:
            html = await response.text()
            assert response.status == 200 and NEW_EMAIL in html
        assert (await row(slack, account_id)).email == EMAIL, "opening the link alone changes nothing"
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
        assert csrf is not None
        async with http.post(f"{web.base}/{path}", data={"csrf": csrf.group(1)}) as response:
            assert response.status == 200 and "メールアドレスを変更しました。" in await response.text()
        async with http.post(f"{web.base}/{path}", data={"csrf": csrf.group(1)}) as response:
            assert response.status == 410
    assert (await row(slack, account_id)).email == NEW_EMAIL
    async with slack.door.core.uow() as uow:
        told = (
            await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.template == "email_changed"))
        ).one()
        actions = set(await uow.session.scalars(select(AuditRecord.action)))
    assert told.recipients == [EMAIL] and told.context["new_email"] == NEW_EMAIL
    assert {"account.profile_updated", "account.email_change_requested", "account.email_changed"} <= actions


async def test_a_pending_account_cannot_open_the_editor(slack: Slack) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow)
        await factories.account(uow, company, EMAIL, status="pending", slack_team_id="T1", slack_user_id="U1")
        await uow.commit()
    await slack.interaction(slack.block_action("profile_edit", channel="C1"))
    assert slack.fake.of("views.open") == []
    assert "アカウントはまだ有効になっていません。" in str(slack.fake.of("response_url")[-1].body)
