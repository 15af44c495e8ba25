"""Knowledge in Slack (SPEC §4.9, §5): ``/support kb``, ``kb show``, the App Home search
modal and its buttons, and the staff's ``kb new`` / ``kb edit`` / ``kb withdraw`` —
through signed requests, with the fake Slack recording every Web API call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import importing
from core.actors import SYSTEM_CLI
from core.knowledge.tables import Article
from core.models import AuditRecord, SupportId, SupportIdContact, SupportKey
from tests import factories
from tests.integration.knowledge.conftest import ARTICLES
from tests.integration.slack.conftest import Slack


def text_of(answer: dict[str, Any]) -> str:
    out = []
    for block in answer.get("blocks", []):
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element, dict) and "text" in element and isinstance(element["text"], str):
                out.append(element["text"])
    return "\n".join(out)


@pytest.fixture
async def kb(slack: Slack, tmp_path: Path) -> Slack:
    """The test articles; U1 holds a key of 製品Aファミリ, U3 has an account and no key,
    U9 has no account; USTAFF1 is staff."""
    path = tmp_path / "articles.json"
    extra = {
        "code": "KB-0005",
        "title": "<!channel> 通知の設定",
        "body": "詳しくは <https://evil.example|ここ> と **太字** の [手順書](https://example.com/m) へ。",
        "visibility": "public",
        "updated_on": "2025-01-01",
    }
    path.write_text(json.dumps({"articles": [*ARTICLES, extra]}, ensure_ascii=False), encoding="utf-8")
    async with slack.door.core.uow() as uow:
        await importing.import_file(uow, SYSTEM_CLI, path)
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        contract = await factories.contract(uow, company, number="K-LIVE")
        holder = await factories.account(
            uow, company, "me@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        await factories.account(
            uow, company, "nokey@customer-a.example.jp", slack_team_id="T1", slack_user_id="U3"
        )
        await factories.key(uow, contract)
        sid = SupportId(name="ACME_01", name_key="acme_01", created_at=uow.clock.now())
        uow.session.add(sid)
        await uow.session.flush()
        uow.session.add(
            SupportIdContact(support_id_id=sid.id, account_id=holder.id, added_at=uow.clock.now())
        )
        key = await uow.session.scalar(select(SupportKey).where(SupportKey.contract_id == contract.id))
        assert key is not None
        key.support_id_id = sid.id
        await uow.commit()
    return slack


async def test_kb_words_lists_the_best_articles_with_a_snippet(kb: Slack) -> None:
    answer = await kb.command("/support", "kb 帳票")
    assert answer["response_type"] == "ephemeral"
    text = text_of(answer)
    assert "「帳票」のナレッジ記事（2件）" in text
    assert text.index("帳票出力でエラーになる") < text.index("印刷の設定")
    assert "KB-A-0001｜製品Aファミリ｜更新日：2025年4月1日（火）" in text
    assert "*帳票*" in text  # the match, in bold
    buttons = [b["accessory"] for b in answer["blocks"] if "accessory" in b]
    assert [b["value"] for b in buttons] == ["KB-A-0001", "KB-0004"]


async def test_kb_finds_width_and_kana_variants(kb: Slack) -> None:
    for spelling in ("ｲﾝｽﾄｰﾙ", "いんすとーる"):
        assert "インストール手順" in text_of(await kb.command("/support", f"kb {spelling}"))


async def test_a_customer_without_a_key_of_the_family_never_sees_a_contract_article(kb: Slack) -> None:
    for user in ("U3", "U9"):
        assert "帳票出力でエラーになる" not in text_of(await kb.command("/support", "kb 帳票", user=user))
        hidden = text_of(await kb.command("/support", "kb show KB-A-0001", user=user))
        unknown = text_of(await kb.command("/support", "kb show KB-NONE", user=user))
        assert hidden == unknown.replace("KB-NONE", "KB-A-0001")
        assert "見つかりません" in hidden and "/support kb" in hidden


async def test_kb_show_renders_markdown_as_mrkdwn(kb: Slack) -> None:
    text = text_of(await kb.command("/support", "kb show kb-a-0001"))
    assert "*帳票出力でエラーになる*" in text
    assert "*現象*" in text  # a heading
    assert "帳票を*印刷*すると" in text  # **bold**
    assert "• 設定を確認する" in text
    assert "<https://example.com/manual|手順書>" in text


async def test_article_text_cannot_mention_or_link_by_itself(kb: Slack) -> None:
    text = text_of(await kb.command("/support", "kb show KB-0005"))
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "<https://evil.example|" not in text
    assert "<https://example.com/m|手順書>" in text


async def test_kb_alone_lists_the_newest_for_the_readers_products(kb: Slack) -> None:
    text = text_of(await kb.command("/support", "kb"))
    assert "新着のナレッジ記事" in text
    assert "印刷の設定" not in text  # 製品Bファミリ: not theirs
    assert text.index("ライセンスの更新") < text.index("帳票出力でエラーになる")


async def test_no_result_says_what_to_try(kb: Slack) -> None:
    text = text_of(await kb.command("/support", "kb 存在しない言葉"))
    assert "一致する記事はありません" in text and "/support kb" in text


async def test_the_show_button_answers_in_the_conversation(kb: Slack) -> None:
    await kb.interaction(kb.block_action("kb_show", "KB-0002", user="U9", channel="C1"))
    posted = kb.fake.of("response_url")
    assert posted and "インストール手順" in json.dumps(posted[-1].body, ensure_ascii=False)


async def test_the_show_button_refuses_what_the_reader_may_not_see(kb: Slack) -> None:
    await kb.interaction(kb.block_action("kb_show", "KB-A-0001", user="U3", channel="C1"))
    posted = json.dumps([c.body for c in kb.fake.of("response_url")], ensure_ascii=False)
    assert "帳票を" not in posted and "見つかりません" in posted


async def test_the_app_home_search_opens_a_modal_that_shows_results(kb: Slack) -> None:
    await kb.event({"type": "app_home_opened", "user": "U9", "tab": "home"})
    home = kb.fake.of("views.publish")[-1].body["view"]
    assert "kb_search_open" in json.dumps(home)
    await kb.interaction(kb.block_action("kb_search_open", user="U9", view=home))
    modal = kb.fake.of("views.open")[-1].body["view"]
    assert modal["callback_id"] == "kb_search"
    answer = await kb.interaction(kb.view_submission(modal, {"words": "いんすとーる"}, user="U9"))
    assert answer["response_action"] == "update"
    shown = json.dumps(answer["view"], ensure_ascii=False)
    assert "インストール手順" in shown and "ライセンスの更新" not in shown  # customers only
    await kb.interaction(kb.block_action("kb_show", "KB-0002", user="U9", view=answer["view"]))
    pushed = kb.fake.of("views.push")[-1].body["view"]
    assert "管理者権限" in json.dumps(pushed, ensure_ascii=False)


# -- staff ------------------------------------------------------------------------------


def _staff_values(view: dict[str, Any], **values: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for block_id, value in values.items():
        if block_id == "visibility":
            state[block_id] = {"value": {"type": "static_select", "selected_option": {"value": value}}}
        elif block_id == "updated_on":
            state[block_id] = {"value": {"type": "datepicker", "selected_date": value}}
        else:
            state[block_id] = {"value": {"type": "plain_text_input", "value": value}}
    return {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "example"},
        "user": {"id": "USTAFF1", "username": "staff", "team_id": "T1"},
        "api_app_id": "A1",
        "trigger_id": "trigger-view",
        "view": {**view, "id": "V1", "hash": "h1", "state": {"values": state}},
    }


async def test_staff_write_a_new_article_and_customers_find_it(kb: Slack) -> None:
    await kb.command("/support-admin", "kb new", user="USTAFF1")
    modal = kb.fake.of("views.open")[-1].body["view"]
    assert modal["callback_id"] == "kb_article"
    answer = await kb.interaction(
        _staff_values(
            modal,
            code="kb-new-1",
            title="帳簿の締め処理",
            body="月次の**締め**を行います。",
            visibility="public",
            tags="会計、月次",
            updated_on="2026-11-20",
        )
    )
    assert answer["response_action"] == "update"
    assert "記事「KB-NEW-1」を作成しました。" in json.dumps(answer["view"], ensure_ascii=False)
    assert "帳簿の締め処理" in text_of(await kb.command("/support", "kb 帳簿", user="U9"))
    async with kb.door.core.uow() as uow:
        assert (
            await uow.session.scalar(select(Article.body_text).where(Article.code == "KB-NEW-1"))
            == "月次の締めを行います。"
        )
        audit = await uow.session.scalar(select(AuditRecord).where(AuditRecord.action == "article.created"))
        assert audit is not None and audit.actor_id == "slack:T1:USTAFF1"
        assert audit.details["code"] == "KB-NEW-1" and audit.details["tags"] == ["会計", "月次"]


async def test_a_bad_field_comes_back_on_its_block_and_writes_nothing(kb: Slack) -> None:
    await kb.command("/support-admin", "kb new", user="USTAFF1")
    modal = kb.fake.of("views.open")[-1].body["view"]
    answer = await kb.interaction(_staff_values(modal, code="KB 1", title="x", body="y", visibility="public"))
    assert answer["response_action"] == "errors" and "code" in answer["errors"]
    taken = await kb.interaction(
        _staff_values(modal, code="KB-0002", title="x", body="y", visibility="public")
    )
    assert taken["response_action"] == "errors" and "kb edit KB-0002" in taken["errors"]["code"]
    async with kb.door.core.uow() as uow:
        assert (
            await uow.session.scalar(select(Article.title).where(Article.code == "KB-0002"))
            == "インストール手順"
        )
        assert await uow.session.scalar(select(Article.id).where(Article.code == "KB 1")) is None


async def test_staff_edit_an_article_from_a_prefilled_modal(kb: Slack) -> None:
    await kb.command("/support-admin", "kb edit KB-0002", user="USTAFF1")
    modal = kb.fake.of("views.open")[-1].body["view"]
    assert modal["private_metadata"] == "KB-0002"
    blocks = {b["block_id"]: b for b in modal["blocks"] if b.get("type") == "input"}
    assert blocks["title"]["element"]["initial_value"] == "インストール手順"
    assert blocks["visibility"]["element"]["initial_option"]["value"] == "public"
    assert "code" not in blocks
    await kb.interaction(
        _staff_values(modal, title="セットアップ手順", body="新しい本文です。", visibility="customers")
    )
    assert "セットアップ手順" not in text_of(await kb.command("/support", "kb セットアップ", user="U9"))
    assert "セットアップ手順" in text_of(await kb.command("/support", "kb セットアップ", user="U3"))
    async with kb.door.core.uow() as uow:
        assert (
            await uow.session.scalar(select(Article.body_text).where(Article.code == "KB-0002"))
            == "新しい本文です。"
        )


async def test_staff_withdraw_hides_an_article_from_everyone(kb: Slack) -> None:
    answer = await kb.command("/support-admin", "kb withdraw KB-0002", user="USTAFF1")
    assert "取り下げました" in text_of(answer)
    again = await kb.command("/support-admin", "kb withdraw KB-0002", user="USTAFF1")
    assert "取り下げ済みです" in text_of(again)
    assert "インストール手順" not in text_of(await kb.command("/support", "kb インストール", user="U1"))
    async with kb.door.core.uow() as uow:
        count = len(
            (
                await uow.session.scalars(
                    select(AuditRecord).where(AuditRecord.action == "article.withdrawn")
                )
            ).all()
        )
    assert count == 1


async def test_customers_cannot_use_the_staff_commands_or_modal(kb: Slack) -> None:
    answer = await kb.command("/support-admin", "kb withdraw KB-0002", user="U1")
    assert "KB-0002" not in text_of(answer)
    forged = await kb.interaction(
        {
            **_staff_values(
                {"callback_id": "kb_article", "private_metadata": "KB-0002", "type": "modal"},
                title="乗っ取り",
                body="x",
                visibility="public",
            ),
            "user": {"id": "U1", "username": "u1", "team_id": "T1"},
        }
    )
    assert forged.get("response_action") == "update"
    async with kb.door.core.uow() as uow:
        row = await uow.session.scalar(select(Article).where(Article.code == "KB-0002"))
        assert row is not None and row.title == "インストール手順" and not row.withdrawn
