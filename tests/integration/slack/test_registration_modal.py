"""The registration modal over the real endpoint: every step, search, back, errors,
expiry and throttling, exactly as Slack sends view_submission / block_actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.models import Account, Conversation
from tests import factories
from tests.integration.slack.conftest import Slack

KEY = "SK-7Q2M-4TXA-9KPL"
DETAILS: dict[str, Any] = {
    "last_name": "山田",
    "first_name": "太郎",
    "last_name_kana": "やまだ",
    "first_name_kana": "ﾀﾛｳ",
    "department": "情報システム部",
    "title": "",
    "email": "taro.yamada@customer-a.example.jp",
    "phone": "03-1234-5678",
    "postal_code": "1400002",
    "prefecture": "",
    "city": "",
    "street": "東品川4-12-7 Aビル",
    "marketing_opt_in": False,
    "privacy_consent": True,
}


@pytest.fixture
async def seeded(slack: Slack) -> dict[str, int]:
    async with slack.door.core.uow() as uow:
        a = await factories.company(uow, "顧客A株式会社")
        await factories.key(uow, await factories.contract(uow, a), KEY)
        abc = await factories.company(
            uow, "ＡＢＣ商事", postal_code="530-0001", address="大阪府大阪市北区梅田1-1", phone="06-1111-2222"
        )
        await uow.commit()
    return {"a": a.id, "abc": abc.id}


class Wizard:
    """Follows the modal the way Slack's client does."""

    def __init__(self, slack: Slack) -> None:
        self.slack = slack
        self.view: dict[str, Any] = {}
        self.last: dict[str, Any] = {}

    async def open(self) -> dict[str, Any]:
        await self.slack.command("/support", "register")
        self.view = self.slack.fake.of("views.open")[-1].body["view"]
        return self.view

    async def submit(self, values: dict[str, Any]) -> dict[str, Any]:
        self.last = await self.slack.interaction(self.slack.view_submission(self.view, values))
        if self.last.get("response_action") == "update":
            self.view = self.last["view"]
        return self.last

    async def press(self, action_id: str, value: str = "") -> dict[str, Any]:
        before = len(self.slack.fake.of("views.update"))
        await self.slack.interaction(
            self.slack.block_action(action_id, value, view={**self.view, "id": "V1", "hash": "h"})
        )
        updates = self.slack.fake.of("views.update")
        assert len(updates) == before + 1
        assert updates[-1].body["view_id"] == "V1"
        self.view = updates[-1].body["view"]
        return self.view

    @property
    def step(self) -> str:
        return self.view["blocks"][0]["block_id"].removeprefix("step_")

    def block_ids(self) -> list[str]:
        return [b.get("block_id", "") for b in self.view["blocks"]]

    def text(self) -> str:
        parts = []
        for b in self.view["blocks"]:
            if isinstance(b.get("text"), dict):
                parts.append(b["text"]["text"])
            for e in b.get("elements", []):
                t = e.get("text")
                parts.append(t["text"] if isinstance(t, dict) else str(t or ""))
        return "\n".join(parts)


@pytest.fixture
def wizard(slack: Slack) -> Wizard:
    return Wizard(slack)


async def test_register_opens_the_modal_on_the_key_step_after_the_ack(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    view = await wizard.open()
    assert slack.last == {}  # the command's ack itself is empty
    assert view["callback_id"] == "register"
    assert wizard.step == "support_key"
    key_input = next(b for b in view["blocks"] if b.get("block_id") == "support_key")
    assert key_input["element"]["action_id"] == "value"
    async with slack.door.core.uow() as uow:
        conversation = await uow.session.scalar(select(Conversation))
    assert view["private_metadata"] == conversation.id


async def test_the_whole_wizard_registers_and_dms_the_username(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    assert wizard.step == "company"
    assert "顧客A株式会社" in wizard.text() and "03-5780-2111" in wizard.text()
    assert wizard.view["submit"]["text"] == "会社情報を確定する"
    await wizard.submit({})
    assert wizard.step == "details"
    assert {"last_name", "first_name_kana", "email", "marketing_opt_in", "privacy_consent"} <= set(
        wizard.block_ids()
    )
    await wizard.submit(DETAILS)
    assert wizard.step == "confirm"
    assert "ヤマダ" in wizard.text() and "東京都" in wizard.text()
    await wizard.submit({})
    assert wizard.step == "done"
    assert "Example Solutions「サポート・お問い合わせ」に登録いたしました。" in wizard.text()
    assert "taro.yamada@customer-a.example.jp" in wizard.text()
    dm = slack.fake.of("chat.postMessage")[-1].body
    assert dm["channel"] == "U1" and "に登録いたしました。" in dm["text"]
    async with slack.door.core.uow() as uow:
        account = await uow.session.scalar(select(Account))
    assert account.slack_user_id == "U1" and account.status == "pending"
    # The Slack user is linked at once, but the account is pending until the mailed
    # link sets its password (SPEC §4.11): the answer says so and offers the resend.
    again = await slack.command("/support", "id list")
    assert "アカウントはまだ有効になっていません。" in again["blocks"][0]["text"]["text"]
    assert again["blocks"][1]["elements"][0]["action_id"] == "account_resend_link"


async def test_an_invalid_key_comes_back_as_an_error_on_the_key_block(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    answer = await wizard.submit({"support_key": "SK-NOPE"})
    assert answer == {"response_action": "errors", "errors": {"support_key": "無効なサポートキーです。"}}


async def test_after_five_bad_keys_the_wait_is_shown(slack: Slack, wizard: Wizard, seeded: dict) -> None:
    await wizard.open()
    for _ in range(5):
        await wizard.submit({"support_key": "SK-NOPE"})
    answer = await wizard.submit({"support_key": KEY})
    assert answer["response_action"] == "errors"
    assert "分後にもう一度お試しください" in answer["errors"]["support_key"]


async def test_changing_the_company_searches_and_picks_from_the_results(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.press("register_change_company")
    assert wizard.step == "company_search"
    assert {"company_name", "company_area"} <= set(wizard.block_ids())
    await wizard.submit({"company_name": "abc", "company_area": "大阪"})
    assert wizard.step == "company_results"
    assert "ＡＢＣ商事" in wizard.text()
    pick = next(b["accessory"] for b in wizard.view["blocks"] if b.get("accessory"))
    await wizard.press("register_pick", pick["value"])
    assert wizard.step == "details"


async def test_a_search_without_a_name_is_an_error_on_the_name_block(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.press("register_change_company")
    answer = await wizard.submit({"company_name": "", "company_area": ""})
    assert answer["response_action"] == "errors" and "company_name" in answer["errors"]


async def test_no_company_found_sends_the_customer_to_the_contact_window(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.press("register_change_company")
    await wizard.submit({"company_name": "存在しない会社", "company_area": ""})
    assert wizard.step == "company_not_found"
    assert "contact@support.example.com" in wizard.text()
    assert "submit" not in wizard.view


async def test_invalid_details_come_back_on_their_blocks(slack: Slack, wizard: Wizard, seeded: dict) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.submit({})
    answer = await wizard.submit(
        {**DETAILS, "last_name_kana": "Yamada", "email": "info@customer-a.example.jp", "postal_code": "12"}
    )
    assert answer["response_action"] == "errors"
    assert {"last_name_kana", "email", "postal_code"} <= set(answer["errors"])
    assert answer["errors"]["last_name_kana"] == "全角カタカナで入力してください。"


async def test_back_from_the_confirmation_keeps_the_details(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.submit({})
    await wizard.submit(DETAILS)
    await wizard.press("register_back_details")
    assert wizard.step == "details"
    last_name = next(b for b in wizard.view["blocks"] if b.get("block_id") == "last_name")
    assert last_name["element"]["initial_value"] == "山田"
    await wizard.submit(DETAILS)
    await wizard.press("register_back_company")
    assert wizard.step == "company"


async def test_an_idle_conversation_expires_and_can_be_started_again(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    slack.door.core.clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]
    answer = await wizard.submit({"support_key": KEY})
    assert answer["response_action"] == "update"
    assert "30分間操作がなかったため" in wizard.text()
    await wizard.press("register_restart")
    assert wizard.step == "support_key"


async def test_a_registered_user_cannot_register_again(slack: Slack, seeded: dict) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客Z")
        await factories.account(
            uow, company, "z@customer-z.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        await uow.commit()
    answer = await slack.command("/support", "register")
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][0]["text"]["text"] == "既にアカウントを登録済みです。"
    assert slack.fake.of("views.open") == []


async def test_private_metadata_is_only_the_opaque_conversation_id(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.submit({})
    await wizard.submit(DETAILS)
    metadata = wizard.view["private_metadata"]
    assert KEY not in metadata and "@" not in metadata and len(metadata) <= 64


async def test_a_stale_view_is_answered_with_the_current_step(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    stale = wizard.view
    await wizard.submit({"support_key": KEY})
    assert wizard.step == "company"
    wizard.view = stale  # the same modal submitted again, e.g. from a second click
    answer = await wizard.submit({"support_key": KEY})
    assert answer["response_action"] == "update"
    assert wizard.step == "company"


async def test_a_stale_button_is_answered_with_the_current_step(
    slack: Slack, wizard: Wizard, seeded: dict
) -> None:
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.submit({})
    assert wizard.step == "details"
    await wizard.press("register_back_company")  # "back" only exists on the confirmation
    assert wizard.step == "details"
