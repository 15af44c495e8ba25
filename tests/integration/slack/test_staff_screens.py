"""Staff screens through the real endpoint (issue 14): catalog labels instead of stored
codes, JST instead of UTC, addresses instead of row ids, people found by name and reading,
masked keys told apart by their contract number."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.models import Account, PendingContact, SupportId
from tests import factories
from tests.integration.slack.conftest import Slack

STAFF = "USTAFF1"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


@pytest.fixture
async def people(slack: Slack) -> dict[str, str]:
    """Two companies, two keys ending alike on different contracts, three people."""
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        other = await factories.company(uow, "顧客B株式会社")
        c1 = await factories.contract(uow, company, number="K-0001")
        c2 = await factories.contract(uow, other, number="K-0002")
        key1 = await factories.key(uow, c1, "SK-AAAA-BBBB-0001")
        key2 = await factories.key(uow, c2, "SK-CCCC-DDDD-0001")
        suzuki = await factories.account(
            uow, company, "hanako@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        suzuki.last_name, suzuki.first_name = "鈴木", "花子"
        suzuki.last_name_kana, suzuki.first_name_kana = "スズキ", "ハナコ"
        await factories.account(uow, other, "taro@customer-b.example.jp", status="pending")
        await uow.commit()
    return {"key1": key1, "key2": key2}


@pytest.mark.parametrize(
    "text", ["鈴木", "鈴木花子", "鈴木 花子", "スズキ", "すずき　はなこ", "ｽｽﾞｷ", "スズキハ"]
)
async def test_find_finds_a_person_by_name_or_reading_in_any_width_or_kana(
    slack: Slack, people: dict[str, str], text: str
) -> None:
    found = text_of(await slack.command("/support-admin", f"find {text}", user=STAFF))
    assert "hanako@customer-a.example.jp" in found and "鈴木 花子（スズキ ハナコ）" in found
    assert "顧客A株式会社" in found and "（有効）" in found
    assert "taro@customer-b.example.jp" not in found


async def test_find_by_name_lists_the_persons_support_ids_and_state_in_words(
    slack: Slack, people: dict[str, str]
) -> None:
    assert "発行しました" in text_of(
        await slack.command("/support", f"id new {people['key1']} ACME_01", user="U1")
    )
    found = text_of(await slack.command("/support-admin", "find ヤマダ", user=STAFF))
    assert "taro@customer-b.example.jp" in found and "有効化待ち（パスワード未設定）" in found
    assert "pending" not in found
    suzuki = text_of(await slack.command("/support-admin", "find 鈴木", user=STAFF))
    assert "サポートID：ACME_01" in suzuki


async def test_find_a_migrated_contact_who_never_registered_by_address(
    slack: Slack, people: dict[str, str]
) -> None:
    async with slack.door.core.uow() as uow:
        sid = SupportId(
            name="MIG_01", name_key="mig_01", description="", migrated=True, created_at=uow.clock.now()
        )
        uow.session.add(sid)
        await uow.session.flush()
        uow.session.add(PendingContact(support_id_id=sid.id, email="old@customer-a.example.jp"))
        await uow.commit()
    found = text_of(await slack.command("/support-admin", "find OLD@customer-a.example.jp", user=STAFF))
    assert "old@customer-a.example.jp" in found and "未登録（移行したサポートIDの担当者）" in found
    assert "MIG_01" in found
    nobody = text_of(await slack.command("/support-admin", "find nobody@customer-a.example.jp", user=STAFF))
    assert nobody.startswith("「nobody@customer-a.example.jp」に該当するものは見つかりませんでした。")


async def test_keys_ending_alike_are_told_apart_by_their_contract_number(
    slack: Slack, people: dict[str, str]
) -> None:
    one = text_of(await slack.command("/support-admin", f"find {people['key1']}", user=STAFF))
    two = text_of(await slack.command("/support-admin", f"find {people['key2']}", user=STAFF))
    assert "****-****-0001（K-0001）" in one and "****-****-0001（K-0002）" in two
    assert "〜" in one and "日（" in one  # the contract's period, in Japanese dates
    assert not ISO.search(one) and not ISO.search(two)
    revoked = text_of(await slack.command("/support-admin", f"key revoke {people['key2']}", user=STAFF))
    assert revoked == "サポートキー ****-****-0001（K-0002） を無効にしました。"


async def test_requests_show_the_state_in_words_and_the_time_in_jst(
    slack: Slack, people: dict[str, str]
) -> None:
    async with slack.door.core.uow() as uow:
        await factories.request(uow, 7, "hanako@customer-a.example.jp", "質問", "本文です。", "question")
        await uow.commit()
    listed = text_of(await slack.command("/support-admin", "requests", user=STAFF))
    # TEST_NOW is 10:00 in Tokyo (01:00 UTC).
    assert "*REQ-000007*（対応中）サービスに関する質問" in listed
    assert "2026年11月26日（木）10:00受信" in listed
    assert "[open]" not in listed and "open" not in listed and not ISO.search(listed)
    shown = text_of(await slack.command("/support-admin", "request show REQ-000007", user=STAFF))
    assert "2026年11月26日（木）10:00" in shown and not ISO.search(shown) and "01:00" not in shown


async def test_the_audit_trail_names_people_by_address_not_row_id(
    slack: Slack, people: dict[str, str]
) -> None:
    await slack.command("/support", f"id new {people['key1']} ACME_01", user="U1")
    text = text_of(await slack.command("/support-admin", "audit ACME_01", user=STAFF))
    async with slack.door.core.uow() as uow:
        account_id = await uow.session.scalar(
            select(Account.id).where(Account.email == "hanako@customer-a.example.jp")
        )
    assert "hanako@customer-a.example.jp" in text and f"account:{account_id}" not in text
    assert "サポートID発行 `support_id.issued`" in text
    assert "2026年11月26日（木）10:00" in text


async def test_attempts_give_the_reason_in_the_readers_language(slack: Slack, people: dict[str, str]) -> None:
    await slack.command("/support", "id new SK-WRNG-WRNG-0000 GUESS_01", user="U1")
    text = text_of(await slack.command("/support-admin", "attempts", user=STAFF))
    assert "サポートキーの確認" in text and "無効なサポートキー" in text
    assert "invalid support key" not in text and "support_key" not in text


# -- either order ----------------------------------------------------------------------------


async def test_id_new_takes_the_key_and_the_id_in_either_order(slack: Slack, people: dict[str, str]) -> None:
    answer = text_of(await slack.command("/support", f"id new ACME_01 {people['key1']} 本社", user="U1"))
    assert answer == "サポートID「ACME_01」を発行しました。"
    shown = text_of(await slack.command("/support", "id show ACME_01", user="U1"))
    assert "****-****-0001（K-0001）" in shown and "本社" in shown


async def test_key_add_and_remove_take_the_key_and_the_id_in_either_order(
    slack: Slack, people: dict[str, str]
) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A2株式会社")
        contract = await factories.contract(uow, company, number="K-0003")
        third = await factories.key(uow, contract, "SK-EEEE-FFFF-0003")
        await uow.commit()
    await slack.command("/support", f"id new {people['key1']} ACME_01", user="U1")
    added = text_of(await slack.command("/support", f"key add {third} ACME_01", user="U1"))
    assert added == "サポートID「ACME_01」にサポートキー ****-****-0003（K-0003） を追加しました。"
    removed = text_of(await slack.command("/support", f"key remove {third} acme_01", user="U1"))
    assert removed == "サポートID「acme_01」からサポートキー ****-****-0003（K-0003） を削除しました。"
    again = text_of(await slack.command("/support", f"key add ACME_01 {third}", user="U1"))
    assert again.startswith("サポートID「ACME_01」にサポートキー ****-****-0003（K-0003）")


async def test_when_shapes_do_not_tell_the_documented_order_decides(
    slack: Slack, people: dict[str, str]
) -> None:
    """Neither argument looks like an issued key: read as typed (``id new KEY ID``), so the
    'key' is invalid and nothing is issued."""
    answer = text_of(await slack.command("/support", "id new ACME_01 SOMETHING", user="U1"))
    assert answer == "無効なサポートキーです。"
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(SupportId.id)) is None
