"""App Home publishing, and the terms notice appearing on every answer until agreed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import TermsAgreement
from tests import factories
from tests.integration.slack.conftest import Slack

HOME = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}


def texts(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            if isinstance(e.get("text"), dict):
                out.append(e["text"]["text"])
            elif isinstance(e.get("text"), str):
                out.append(e["text"])
    return "\n".join(out)


def action_ids(blocks: list[dict]) -> list[str]:
    return [e.get("action_id") for b in blocks for e in b.get("elements", []) if e.get("action_id")]


@pytest.fixture
async def terms_world(slack: Slack) -> str:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        contract = await factories.contract(uow, company, number="K-0009", requires_terms=True)
        key = await factories.key(uow, contract, "SK-TERM-TERM-9999")
        await factories.account(
            uow, company, "me@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        await uow.commit()
    await slack.command("/support", f"id new {key} MIGRATED_001")
    return "MIGRATED_001"


async def test_app_home_for_a_stranger_offers_the_register_button(slack: Slack) -> None:
    await slack.event(HOME)
    view = slack.fake.of("views.publish")[0].body["view"]
    assert view["type"] == "home"
    assert "home_register" in action_ids(view["blocks"])


async def test_the_register_button_opens_the_registration_modal(slack: Slack) -> None:
    await slack.interaction(slack.block_action("home_register", view={"type": "home", "id": "VHOME"}))
    opened = slack.fake.of("views.open")[0].body
    assert opened["trigger_id"].startswith("trigger-")
    assert opened["view"]["callback_id"] == "register"


async def test_app_home_shows_the_account_support_ids_and_terms_notice(
    slack: Slack, terms_world: str
) -> None:
    await slack.event(HOME)
    view = slack.fake.of("views.publish")[-1].body["view"]
    text = texts(view["blocks"])
    assert "me@customer-a.example.jp" in text
    assert "`MIGRATED_001`" in text
    assert "サービス仕様書・約款への同意のお願い" in text
    assert "terms_agree_start" in action_ids(view["blocks"])


async def test_the_terms_notice_is_on_every_answer_until_agreed(slack: Slack, terms_world: str) -> None:
    answer = await slack.command("/support", "help")
    assert "サービス仕様書・約款への同意のお願い" in texts(answer["blocks"])
    listed = await slack.command("/support", "id list")
    assert "サービス仕様書・約款への同意のお願い" in texts(listed["blocks"])
    refused = await slack.command("/support", "id show NOPE")
    assert "サービス仕様書・約款への同意のお願い" in texts(refused["blocks"])

    declared = await slack.command("/support", f"agree {terms_world}")
    assert "権限を有すること、またはその権限を有する方の承認を得ていることを表明します" in texts(
        declared["blocks"]
    )
    assert "terms_agree" in action_ids(declared["blocks"])

    await slack.interaction(slack.block_action("terms_agree", terms_world, channel="C1"))
    told = slack.fake.of("response_url")[-1].body
    assert "同意を記録しました" in told["text"]
    async with slack.door.core.uow() as uow:
        rows = (await uow.session.scalars(select(TermsAgreement))).all()
    assert len(rows) == 1 and rows[0].terms_version

    after = await slack.command("/support", "help")
    assert "サービス仕様書・約款への同意のお願い" not in texts(after["blocks"])


async def test_agreeing_from_app_home_republishes_it_without_the_notice(
    slack: Slack, terms_world: str
) -> None:
    await slack.interaction(
        slack.block_action("terms_agree_start", terms_world, view={"type": "home", "id": "VHOME"})
    )
    declaration = slack.fake.of("views.publish")[-1].body["view"]
    assert "terms_agree" in action_ids(declaration["blocks"])
    await slack.interaction(
        slack.block_action("terms_agree", terms_world, view={"type": "home", "id": "VHOME"})
    )
    home = slack.fake.of("views.publish")[-1].body["view"]
    assert "同意を記録しました" in texts(home["blocks"])
    assert "サービス仕様書・約款への同意のお願い" not in texts(home["blocks"])


async def test_agreeing_to_an_id_that_needs_no_terms_is_refused_politely(
    slack: Slack, terms_world: str
) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客B")
        key = await factories.key(
            uow, await factories.contract(uow, company, number="K-0010"), "SK-PLAI-NPLA-1000"
        )
        await uow.commit()
    await slack.command("/support", f"id new {key} PLAIN_01")
    await slack.interaction(slack.block_action("terms_agree", "PLAIN_01", channel="C1"))
    told = slack.fake.of("response_url")[-1].body
    assert "同意が必要なサービス仕様書・約款はありません" in told["text"]
