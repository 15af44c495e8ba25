"""The terms items of SPEC §4.5/§4.11 through signed Slack requests: the notice lists each
support ID with its description, the declaration carries the full representation and whom
to ask, ``/support agree`` checks the ID before declaring anything, and the privacy
policy link sits beside the consent box of the registration wizard."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core.models import TermsAgreement
from tests import factories
from tests.integration.slack.conftest import Slack
from tests.integration.slack.test_home_and_terms import action_ids, texts
from tests.integration.slack.test_registration_modal import DETAILS, KEY, Wizard

PUBLIC = "https://support.example.test"
NOT_FOUND = "サポートID「{}」は見つからないか、参照する権限がありません。"


@pytest.fixture
async def world(slack: Slack) -> dict[str, Any]:
    """U1 holds two support IDs needing terms (one described), U2 one of its own."""
    slack.door.core.settings.public_url = PUBLIC
    async with slack.door.core.uow() as uow:
        a = await factories.company(uow, "顧客A株式会社")
        b = await factories.company(uow, "顧客B株式会社")
        keys = [
            await factories.key(
                uow, await factories.contract(uow, a, requires_terms=True), "SK-TERM-AAAA-0001"
            ),
            await factories.key(
                uow, await factories.contract(uow, a, requires_terms=True), "SK-TERM-AAAA-0002"
            ),
            await factories.key(
                uow, await factories.contract(uow, b, requires_terms=True), "SK-TERM-BBBB-0003"
            ),
            await factories.key(uow, await factories.contract(uow, a), "SK-PLAI-NAAA-0004"),
        ]
        await factories.account(uow, a, "u1@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1")
        await factories.account(uow, b, "u2@customer-b.example.jp", slack_team_id="T1", slack_user_id="U2")
        await uow.commit()
    await slack.command("/support", f"id new {keys[0]} ID_TOKYO 東京本社 <!channel> 基幹系", user="U1")
    await slack.command("/support", f"id new {keys[1]} ID_BARE", user="U1")
    await slack.command("/support", f"id new {keys[3]} ID_PLAIN", user="U1")
    await slack.command("/support", f"id new {keys[2]} ID_OTHER", user="U2")
    return {"keys": keys}


async def count_agreements(slack: Slack) -> int:
    async with slack.door.core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(TermsAgreement)) or 0)


async def test_the_notice_lists_each_support_id_with_its_description(slack: Slack, world: dict) -> None:
    text = texts((await slack.command("/support", "help", user="U1"))["blocks"])
    assert "• ID_BARE\n" in text
    assert "• ID_TOKYO（東京本社 &lt;!channel&gt; 基幹系）" in text
    assert "<!channel>" not in text
    assert "ID_OTHER" not in text
    assert f"サービス仕様書・約款：{PUBLIC}/terms" in text


async def test_the_declaration_represents_authority_or_approval_and_names_the_contact_window(
    slack: Slack, world: dict
) -> None:
    answer = await slack.command("/support", "agree id_tokyo", user="U1")
    text = texts(answer["blocks"])
    assert "サポートID「ID_TOKYO」（東京本社 &lt;!channel&gt; 基幹系）について" in text
    assert f"（2024-04版：{PUBLIC}/terms）に同意します。" in text
    assert (
        "お客様（契約者）を代表してサービス仕様書・約款に同意する権限を有すること、"
        "またはその権限を有する方の承認を得ていることを表明します。"
    ) in text
    assert "サービス仕様書・約款についてのご質問は、運用窓口（contact@support.example.com）まで" in text
    assert "terms_agree" in action_ids(answer["blocks"])
    assert await count_agreements(slack) == 0  # showing the declaration records nothing


async def test_agree_on_an_unknown_or_foreign_id_is_refused_before_any_declaration(
    slack: Slack, world: dict
) -> None:
    unknown = await slack.command("/support", "agree NO_SUCH_ID", user="U1")
    foreign = await slack.command("/support", "agree ID_OTHER", user="U1")
    for answer, name in ((unknown, "NO_SUCH_ID"), (foreign, "ID_OTHER")):
        text = texts(answer["blocks"])
        assert NOT_FOUND.format(name) in text
        assert "表明します" not in text
        assert "terms_agree" not in action_ids(answer["blocks"])
    # Nothing tells the foreign ID apart from one that does not exist.
    assert texts(foreign["blocks"]).replace("ID_OTHER", "X") == texts(unknown["blocks"]).replace(
        "NO_SUCH_ID", "X"
    )
    # The App Home / notice button is checked the same way.
    await slack.interaction(slack.block_action("terms_agree_start", "ID_OTHER", channel="C1"))
    told = slack.fake.of("response_url")[-1].body
    assert NOT_FOUND.format("ID_OTHER") in told["text"]
    assert "terms_agree" not in action_ids(told.get("blocks") or [])
    assert await count_agreements(slack) == 0


async def test_agree_on_an_already_agreed_id_says_so_instead_of_declaring_again(
    slack: Slack, world: dict
) -> None:
    await slack.interaction(slack.block_action("terms_agree", "ID_TOKYO", channel="C1"))
    assert await count_agreements(slack) == 1
    answer = await slack.command("/support", "agree ID_TOKYO", user="U1")
    text = texts(answer["blocks"])
    assert "サポートID「ID_TOKYO」は、サービス仕様書・約款への同意が記録されています。" in text
    assert "/support id show ID_TOKYO" in text
    assert "表明します" not in text and "terms_agree" not in action_ids(answer["blocks"])
    assert await count_agreements(slack) == 1


async def test_agree_on_an_id_without_terms_or_without_an_account_is_refused_with_the_next_step(
    slack: Slack, world: dict
) -> None:
    plain = texts((await slack.command("/support", "agree ID_PLAIN", user="U1"))["blocks"])
    assert "サポートID「ID_PLAIN」には、同意が必要なサービス仕様書・約款はありません。" in plain
    assert "表明します" not in plain
    stranger = await slack.command("/support", "agree ID_TOKYO", user="U9")
    assert "表明します" not in texts(stranger["blocks"])
    assert "先に `/support register` でアカウントを登録してください" in texts(stranger["blocks"])
    assert "terms_agree" not in action_ids(stranger["blocks"])


async def test_the_english_declaration_has_the_same_representation(slack: Slack, world: dict) -> None:
    slack.fake.user_locales["U3"] = "en-US"
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "Customer C")
        key = await factories.key(
            uow, await factories.contract(uow, company, requires_terms=True), "SK-TERM-CCCC-0005"
        )
        await factories.account(
            uow, company, "u3@c.example.jp", slack_team_id="T1", slack_user_id="U3", locale="en"
        )
        await uow.commit()
    await slack.command("/support", f"id new {key} ID_EN Osaka office", user="U3")
    text = texts((await slack.command("/support", "agree ID_EN", user="U3"))["blocks"])
    assert 'for support ID "ID_EN" (Osaka office).' in text
    assert "entitled to bind the customer" in text and "or that I have the approval of someone who is" in text
    assert "contact window (contact@support.example.com)" in text


# -- the privacy policy link in the registration wizard ---------------------------------


async def _details_step(slack: Slack) -> Wizard:
    async with slack.door.core.uow() as uow:
        a = await factories.company(uow, "顧客A株式会社")
        await factories.key(uow, await factories.contract(uow, a), KEY)
        await uow.commit()
    wizard = Wizard(slack)
    await wizard.open()
    await wizard.submit({"support_key": KEY})
    await wizard.submit({})
    assert wizard.step == "details"
    return wizard


async def test_the_details_step_links_the_privacy_policy_when_set(slack: Slack) -> None:
    slack.door.core.settings.privacy_url = "https://www.example.co.jp/privacy?a=1&b=2"
    wizard = await _details_step(slack)
    blocks = wizard.view["blocks"]
    ids = wizard.block_ids()
    link = blocks[ids.index("privacy_consent") - 1]
    assert link["type"] == "context"
    assert link["elements"][0]["text"] == (
        "個人情報の取り扱いについては、<https://www.example.co.jp/privacy?a=1&amp;b=2|個人情報保護方針>をご確認ください。"
    )
    # The step still submits as before, and the confirmation shows no link.
    await wizard.submit(DETAILS)
    assert wizard.step == "confirm"
    assert "個人情報保護方針" not in wizard.text()


async def test_without_a_privacy_url_the_details_step_shows_no_link(slack: Slack) -> None:
    assert slack.door.core.settings.privacy_url is None
    wizard = await _details_step(slack)
    assert "個人情報保護方針" not in wizard.text()
