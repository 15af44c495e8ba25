"""Every /support subcommand through the real endpoint: success and each refusal."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.models import SupportKey
from tests import factories
from tests.integration.slack.conftest import Slack


@dataclass
class World:
    key1: str
    key2: str
    key_same_contract: str
    colleague_email: str


@pytest.fixture
async def world(slack: Slack) -> World:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        c1 = await factories.contract(uow, company, number="K-0001")
        c2 = await factories.contract(uow, company, number="K-0002", requires_terms=True)
        key1 = await factories.key(uow, c1, "SK-AAAA-BBBB-1111")
        same = await factories.key(uow, c1, "SK-AAAA-BBBB-1112")
        key2 = await factories.key(uow, c2, "SK-CCCC-DDDD-2222")
        await factories.account(
            uow, company, "me@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        await factories.account(
            uow, company, "colleague@customer-a.example.jp", slack_team_id="T1", slack_user_id="U2"
        )
        await uow.commit()
    return World(key1, key2, same, "colleague@customer-a.example.jp")


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


async def test_id_new_issues_a_support_id_and_id_list_shows_its_columns(slack: Slack, world: World) -> None:
    answer = await slack.command("/support", f"id new {world.key1} ACME_01 本社システム")
    assert "サポートID「ACME_01」を発行しました。" in text_of(answer)
    listed = text_of(await slack.command("/support", "id list"))
    assert "`ACME_01`" in listed and "本社システム" in listed and "製品Aファミリ" in listed
    assert "2027年12月31日（金）" in listed and "保守終了日" in listed and "2027-12-31" not in listed


async def test_id_list_without_support_ids_says_how_to_issue_one(slack: Slack, world: World) -> None:
    assert "/support id new" in text_of(await slack.command("/support", "id list"))


async def test_a_user_without_account_is_told_to_register(slack: Slack, world: World) -> None:
    answer = await slack.command("/support", "id list", user="UNOBODY")
    assert answer["response_type"] == "ephemeral"
    assert "サポートIDを利用するには、先に `/support register` でアカウントを登録してください。" in text_of(
        answer
    )


async def test_id_new_with_an_invalid_key_says_invalid_support_key(slack: Slack, world: World) -> None:
    answer = await slack.command("/support", "id new SK-NOPE-NOPE-0000 ACME_01")
    assert "無効なサポートキーです。" in text_of(answer)


async def test_id_new_with_a_taken_name_is_refused_case_insensitively(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    answer = await slack.command("/support", f"id new {world.key2} acme_01")
    assert "このサポートIDは既に既存のサポートIDに使用されています。" in text_of(answer)


async def test_id_new_with_a_bad_name_says_what_is_wrong(slack: Slack, world: World) -> None:
    answer = await slack.command("/support", f"id new {world.key1} 日本語ID")
    assert "サポートIDに使用できる文字は半角英数字" in text_of(answer)
    async with slack.door.core.uow() as uow:
        from sqlalchemy import select

        assert (await uow.session.scalars(select(SupportKey.support_id_id))).all() == [None, None, None]


async def test_id_show_lists_masked_keys_contacts_and_cc(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    await slack.command("/support", "cc add ACME_01 audit@customer-a.example.jp")
    shown = text_of(await slack.command("/support", "id show ACME_01"))
    assert "1111" in shown and world.key1 not in shown
    assert "me@customer-a.example.jp" in shown and "audit@customer-a.example.jp" in shown


async def test_id_show_of_someone_elses_id_is_not_found(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    answer = await slack.command("/support", "id show ACME_01", user="U2")
    assert "サポートID「ACME_01」は見つからないか、参照する権限がありません。" in text_of(answer)
    assert "1111" not in text_of(answer)


async def test_key_add_and_remove_answer_with_the_masked_key(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    added = text_of(await slack.command("/support", f"key add ACME_01 {world.key2}"))
    assert "2222" in added and world.key2 not in added
    removed = text_of(await slack.command("/support", f"key remove ACME_01 {world.key2}"))
    assert "2222" in removed and "削除" in removed


async def test_key_of_the_same_contract_in_another_id_is_refused(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    answer = await slack.command("/support", f"id new {world.key_same_contract} ACME_02")
    assert (
        "同一契約番号(電話/メール問い合わせ用)のサポートキーが、他のサポートIDに追加されています。"
        in text_of(answer)
    )


async def test_contact_add_and_remove(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    added = text_of(
        await slack.command(
            "/support", f"contact add ACME_01 <mailto:{world.colleague_email}|{world.colleague_email}>"
        )
    )
    assert f"{world.colleague_email} をサポートID「ACME_01」の担当者に追加しました。" in added
    removed = text_of(await slack.command("/support", f"contact remove ACME_01 {world.colleague_email}"))
    assert "担当者から削除しました" in removed


async def test_the_last_contact_cannot_be_removed(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    answer = text_of(await slack.command("/support", "contact remove ACME_01 me@customer-a.example.jp"))
    assert "サポートID「ACME_01」の最後の担当者は削除できません。" in answer


async def test_cc_add_and_remove(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    assert "同報者メールアドレスに追加しました" in text_of(
        await slack.command("/support", "cc add ACME_01 audit@customer-a.example.jp")
    )
    assert "同報者メールアドレスから削除しました" in text_of(
        await slack.command("/support", "cc remove ACME_01 audit@customer-a.example.jp")
    )


async def test_cc_remove_of_an_unknown_address_is_refused(slack: Slack, world: World) -> None:
    await slack.command("/support", f"id new {world.key1} ACME_01")
    answer = text_of(await slack.command("/support", "cc remove ACME_01 nobody@example.com"))
    assert "nobody@example.com はサポートID「ACME_01」の同報者メールアドレスに登録されていません。" in answer


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("id new ONLYONE", "`/support id new KEY ID [description…]`"),
        ("key add ID", "`/support key add ID KEY`"),
        ("key remove", "`/support key remove ID KEY`"),
        ("contact add ID", "`/support contact add ID EMAIL`"),
        ("cc remove ID a b", "`/support cc remove ID EMAIL`"),
        ("agree", "`/support agree ID`"),
    ],
)
async def test_malformed_input_gets_the_usage_line(slack: Slack, world: World, text: str, usage: str) -> None:
    assert text_of(await slack.command("/support", text)) == f"使い方：{usage}"


async def test_the_usage_line_is_in_english_for_an_english_user(slack: Slack, world: World) -> None:
    slack.fake.user_locales["U1"] = "en-GB"
    await slack.command("/support", "help")
    assert text_of(await slack.command("/support", "key add ID")) == "Usage: `/support key add ID KEY`"


async def test_a_key_never_appears_in_an_answer_unmasked(slack: Slack, world: World) -> None:
    answers = [
        await slack.command("/support", f"id new {world.key1} ACME_01"),
        await slack.command("/support", f"key add ACME_01 {world.key2}"),
        await slack.command("/support", "id show ACME_01"),
        await slack.command("/support", "id list"),
    ]
    for answer in answers:
        assert world.key1 not in str(answer) and world.key2 not in str(answer)


async def test_repeated_invalid_keys_are_throttled_with_the_wait_shown(slack: Slack, world: World) -> None:
    for n in range(5):
        assert "無効なサポートキーです。" in text_of(
            await slack.command("/support", f"id new SK-BAD-{n:04d} X_{n}")
        )
    answer = text_of(await slack.command("/support", f"id new {world.key1} ACME_01"))
    assert "分後にもう一度お試しください" in answer
