"""Where knowledge and inquiries meet (SPEC §4.8, §4.9, §5), through signed requests
with the fake Slack: the ask modal suggests up to 3 articles from its subject (only ones
the customer may see; everything typed stays), and staff ``/support-admin kb from INQ``
opens a draft article from an answered inquiry with personal data taken out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core import importing, inquiries
from core.actors import SYSTEM_CLI
from core.knowledge.tables import Article
from core.models import Account, AuditRecord
from core.unit_of_work import Core
from tests import factories
from tests.integration.inquiries.conftest import STAFF, actor_of, add_support_id
from tests.integration.knowledge.conftest import ARTICLES
from tests.integration.slack.conftest import TEAM, Slack

# Five more public articles about 帳票: more than the modal may suggest.
MORE = [
    {
        "code": f"KB-P-{n}",
        "title": f"帳票のよくある質問{n}",
        "body": "帳票の設定について説明します。",
        "visibility": "public",
        "updated_on": f"2025-0{n}-10",
    }
    for n in range(1, 6)
]
QUESTION = (
    "株式会社サンプル商事の佐藤です。帳票を印刷すると E-1001 が出ます。\n"
    "折り返しは hanako.sato@sample-shoji.example.jp または 03-9876-5432 までお願いします。\n"
    "佐藤 花子"
)
ANSWER = "佐藤様\n\nお問い合わせありがとうございます。プリンタの設定で用紙を A4 に変更してください。"


@dataclass
class World:
    core: Core


@pytest.fixture
async def world(slack: Slack, tmp_path: Path) -> World:
    """U1 (佐藤 花子 of 株式会社サンプル商事) holds a key of 製品Aファミリ on ACME_A;
    U3 (another company) has an account and no key; USTAFF1 is staff."""
    core = slack.door.core
    path = tmp_path / "articles.json"
    path.write_text(json.dumps({"articles": [*ARTICLES, *MORE]}, ensure_ascii=False), encoding="utf-8")
    async with core.uow() as uow:
        await importing.import_file(uow, SYSTEM_CLI, path)
    async with core.uow() as uow:
        company = await factories.company(uow, "株式会社サンプル商事")
        other = await factories.company(uow, "顧客Q")
        asker = await factories.account(
            uow, company, "hanako.sato@sample-shoji.example.jp", slack_team_id=TEAM, slack_user_id="U1"
        )
        asker.last_name, asker.first_name = "佐藤", "花子"
        asker.last_name_kana, asker.first_name_kana = "サトウ", "ハナコ"
        await factories.account(
            uow, other, "carol@customer-q.example.jp", slack_team_id=TEAM, slack_user_id="U3"
        )
        contract = await factories.contract(uow, company, number="K-0001", ends_on=date(2027, 3, 31))
        await uow.commit()
    await add_support_id(core, "ACME_A", [contract], [asker])
    return World(core)


def by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b.get("block_id")}


async def ask(slack: Slack, user: str = "U1") -> dict[str, Any]:
    await slack.command("/support", "ask", user=user)
    return dict(slack.fake.of("views.open")[-1].body["view"])


def typed(
    view: dict[str, Any], subject: str, *, user: str = "U1", body: str = "", hash_: str = "h1"
) -> dict[str, Any]:
    """The block_actions payload Slack sends while the subject is typed, with the state of
    the other inputs as the customer left them."""
    values: dict[str, Any] = {"subject": {"value": {"type": "plain_text_input", "value": subject}}}
    if body:
        values["body"] = {"value": {"type": "plain_text_input", "value": body}}
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A1",
        "team": {"id": TEAM, "domain": "example"},
        "trigger_id": "trigger-typed",
        "container": {"type": "view", "view_id": "V1"},
        "view": {**view, "id": "V1", "hash": hash_, "team_id": TEAM, "state": {"values": values}},
        "actions": [
            {
                "type": "plain_text_input",
                "action_id": "value",
                "block_id": "subject",
                "value": subject,
                "action_ts": "1.2",
            }
        ],
    }


def suggested_codes(view: dict[str, Any]) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in view["blocks"]
        if str(b.get("block_id", "")).startswith("kb_suggest_") and "accessory" in b
    ]


# -- suggestions in the ask modal ---------------------------------------------------------


async def test_the_subject_dispatches_as_it_is_typed(slack: Slack, world: World) -> None:
    subject = by_id(await ask(slack))["subject"]
    assert subject["dispatch_action"] is True
    assert "on_character_entered" in subject["element"]["dispatch_action_config"]["trigger_actions_on"]
    assert subject["element"]["action_id"] == "value"


async def test_typing_a_subject_suggests_at_most_three_articles_under_it(slack: Slack, world: World) -> None:
    view = await ask(slack)
    answer = await slack.interaction(typed(view, "帳票", body="途中まで書いた本文"))
    assert answer == {} or answer.get("response_action") is None
    call = slack.fake.of("views.update")[-1].body
    assert call["view_id"] == "V1" and call["hash"] == "h1"
    new = call["view"]
    codes = suggested_codes(new)
    assert len(codes) == 3
    assert all(code.startswith("KB-") for code in codes)
    ids = [b.get("block_id") for b in new["blocks"]]
    start = ids.index("subject") + 1
    assert ids[start : start + 5] == [
        "kb_suggest",
        "kb_suggest_0",
        "kb_suggest_1",
        "kb_suggest_2",
        "kb_suggest_hint",
    ]
    assert all(b["accessory"]["action_id"] == "kb_show" for b in new["blocks"] if "accessory" in b)
    assert "こちらの記事で解決するかもしれません" in json.dumps(new, ensure_ascii=False)


async def test_the_other_inputs_are_sent_back_unchanged_so_nothing_typed_is_lost(
    slack: Slack, world: World
) -> None:
    view = await ask(slack)
    await slack.interaction(typed(view, "帳票", body="途中まで書いた本文"))
    new = slack.fake.of("views.update")[-1].body["view"]
    before, after = by_id(view), by_id(new)
    for block_id in ("support_id", "product", "subject", "body", "attachments"):
        assert after[block_id] == before[block_id]  # same block_id and action_id: Slack keeps the entry
    inputs = [b["block_id"] for b in new["blocks"] if b["type"] == "input"]
    assert inputs == ["support_id", "product", "subject", "body", "attachments"]
    for key in ("callback_id", "title", "submit", "close", "type"):
        assert new[key] == view[key]
    assert "state" not in new and "hash" not in new and "id" not in new
    # A second keystroke replaces the suggestions instead of adding more.
    await slack.interaction(typed(new, "インストール"))
    again = slack.fake.of("views.update")[-1].body["view"]
    assert suggested_codes(again) == ["KB-0002", "KB-0003"]  # title match first
    assert [b.get("block_id") for b in again["blocks"]].count("kb_suggest") == 1


async def test_a_contract_article_of_a_family_without_a_key_is_never_suggested(
    slack: Slack, world: World
) -> None:
    view = await ask(slack, user="U1")
    await slack.interaction(typed(view, "帳票出力", user="U1"))
    assert "KB-A-0001" in suggested_codes(slack.fake.of("views.update")[-1].body["view"])
    before = len(slack.fake.of("views.update"))
    view = await ask(slack, user="U3")
    await slack.interaction(typed(view, "帳票出力でエラー", user="U3"))
    sent = json.dumps([c.body for c in slack.fake.of("views.update")[before:]], ensure_ascii=False)
    assert "KB-A-0001" not in sent and "帳票出力でエラーになる" not in sent


async def test_a_subject_without_a_match_changes_nothing_and_clearing_removes_the_suggestions(
    slack: Slack, world: World
) -> None:
    view = await ask(slack)
    await slack.interaction(typed(view, "存在しない言葉"))
    await slack.interaction(typed(view, "、。"))
    assert slack.fake.of("views.update") == []
    await slack.interaction(typed(view, "帳票"))
    shown = slack.fake.of("views.update")[-1].body["view"]
    await slack.interaction(typed(shown, ""))
    cleared = slack.fake.of("views.update")[-1].body["view"]
    assert suggested_codes(cleared) == []
    assert not any(str(b.get("block_id", "")).startswith("kb_suggest") for b in cleared["blocks"])


async def test_a_view_changed_meanwhile_wins_over_a_stale_update(slack: Slack, world: World) -> None:
    slack.fake.answers["views.update"] = lambda call: {"ok": False, "error": "hash_conflict"}
    view = await ask(slack)
    await slack.interaction(typed(view, "帳票", hash_="stale"))
    assert slack.fake.of("views.update")[-1].body["hash"] == "stale"
    # No error reached the customer: nothing was posted to them.
    assert slack.fake.of("chat.postEphemeral") == [] and slack.fake.of("chat.postMessage") == []


async def test_choosing_a_support_id_keeps_the_suggestions(slack: Slack, world: World) -> None:
    view = await ask(slack)
    await slack.interaction(typed(view, "帳票"))
    shown = slack.fake.of("views.update")[-1].body["view"]
    payload = typed(shown, "帳票")
    payload["actions"] = [
        {
            "type": "static_select",
            "action_id": "value",
            "block_id": "support_id",
            "selected_option": {"text": {"type": "plain_text", "text": "ACME_A"}, "value": "ACME_A"},
            "action_ts": "1.3",
        }
    ]
    await slack.interaction(payload)
    assert len(suggested_codes(slack.fake.of("views.update")[-1].body["view"])) == 3


async def test_the_ask_modal_still_submits_with_suggestions_shown(slack: Slack, world: World) -> None:
    view = await ask(slack)
    await slack.interaction(typed(view, "帳票"))
    shown = slack.fake.of("views.update")[-1].body["view"]
    state = {
        "support_id": {"value": {"type": "static_select", "selected_option": {"value": "ACME_A"}}},
        "product": {"value": {"type": "static_select", "selected_option": {"value": "製品Aファミリ"}}},
        "subject": {"value": {"type": "plain_text_input", "value": "帳票が出ない"}},
        "body": {"value": {"type": "plain_text_input", "value": "印刷できません。"}},
    }
    answer = await slack.interaction(
        {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": "U1", "username": "u1", "team_id": TEAM},
            "api_app_id": "A1",
            "trigger_id": "trigger-view",
            "view": {**shown, "id": "V1", "hash": "h2", "state": {"values": state}},
        }
    )
    assert answer["response_action"] == "update"
    assert "INQ-000001" in json.dumps(answer["view"], ensure_ascii=False)


# -- staff: kb from INQ ----------------------------------------------------------------------


async def open_inquiry(core: Core, *, answered: bool, note: str = "") -> str:
    async with core.uow() as uow:
        asker = (await uow.session.scalars(select(Account).where(Account.slack_user_id == "U1"))).one()
        actor = actor_of(asker)
    async with core.uow() as uow:
        opened = await inquiries.open_inquiry(
            uow,
            actor,
            support_id="ACME_A",
            product="製品Aファミリ",
            subject="帳票の印刷で E-1001（佐藤）",
            body=QUESTION,
        )
    if note:
        async with core.uow() as uow:
            await inquiries.note(uow, STAFF, opened.number, note)
    if answered:
        async with core.uow() as uow:
            await inquiries.answer(uow, STAFF, opened.number, ANSWER)
    return inquiries.format_number(opened.number)


def article_submission(view: dict[str, Any], user: str = "USTAFF1", **values: str) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for block_id, element in by_id(view).items():
        if element["type"] != "input":
            continue
        kind = element["element"]["type"]
        if kind == "static_select":
            chosen = values.get(block_id) or (element["element"].get("initial_option") or {}).get("value")
            state[block_id] = {"value": {"type": kind, "selected_option": {"value": chosen}}}
        elif kind == "datepicker":
            state[block_id] = {"value": {"type": kind, "selected_date": None}}
        else:
            value = values.get(block_id, element["element"].get("initial_value", ""))
            state[block_id] = {"value": {"type": kind, "value": value}}
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A1",
        "trigger_id": "trigger-view",
        "view": {**view, "id": "V2", "hash": "h1", "state": {"values": state}},
    }


async def test_kb_from_an_answered_inquiry_opens_a_prefilled_draft_without_personal_data(
    slack: Slack, world: World
) -> None:
    label = await open_inquiry(world.core, answered=True, note="社内メモ：佐藤様は大口顧客")
    answer = await slack.command("/support-admin", f"kb from {label.lower()}", user="USTAFF1")
    assert label in json.dumps(answer, ensure_ascii=False)
    modal = slack.fake.of("views.open")[-1].body["view"]
    assert modal["callback_id"] == "kb_article" and modal["private_metadata"] == ""
    blocks = by_id(modal)
    assert blocks["code"]["element"].get("initial_value") is None
    title = blocks["title"]["element"]["initial_value"]
    body = blocks["body"]["element"]["initial_value"]
    assert title == "帳票の印刷で E-1001（（お名前））"
    assert "## ご質問" in body and "## 回答" in body
    assert body.index("E-1001 が出ます") < body.index("用紙を A4 に変更してください")
    whole = json.dumps(modal, ensure_ascii=False)
    for personal in ("佐藤", "花子", "hanako.sato", "sample-shoji", "サンプル商事", "9876-5432"):
        assert personal not in whole, personal
    assert "社内メモ" not in whole and "大口顧客" not in whole  # internal notes are never drafted
    assert "（メールアドレス）" in body and "（電話番号）" in body and "（会社名）" in body
    assert blocks["product_family"]["element"]["initial_value"] == "製品Aファミリ"
    assert blocks["visibility"]["element"]["initial_option"]["value"] == "contract"
    assert "個人情報" in whole
    assert (
        "個人情報を自動で削除しました（お名前（4か所）、会社名（1か所）、メールアドレス（1か所）、電話番号（1か所））。"
        in whole
    )


async def test_submitting_the_draft_publishes_it_audited(slack: Slack, world: World) -> None:
    label = await open_inquiry(world.core, answered=True)
    await slack.command("/support-admin", f"kb from {label}", user="USTAFF1")
    modal = slack.fake.of("views.open")[-1].body["view"]
    answer = await slack.interaction(article_submission(modal, code="KB-A-0100"))
    assert answer["response_action"] == "update"
    assert "記事「KB-A-0100」を作成しました。" in json.dumps(answer["view"], ensure_ascii=False)
    async with world.core.uow() as uow:
        row = await uow.session.scalar(select(Article).where(Article.code == "KB-A-0100"))
        assert row is not None and row.visibility == "contract" and row.product_family == "製品Aファミリ"
        assert "hanako" not in row.body and "佐藤" not in row.body
        audit = await uow.session.scalar(select(AuditRecord).where(AuditRecord.action == "article.created"))
        assert (
            audit is not None
            and audit.actor_id == "slack:T1:USTAFF1"
            and audit.details["code"] == "KB-A-0100"
        )
    # The asker's colleagues with a key find it; a customer without one does not.
    seen = await slack.command("/support", "kb E-1001", user="U1")
    assert "KB-A-0100" in json.dumps(seen, ensure_ascii=False)
    hidden = await slack.command("/support", "kb E-1001", user="U3")
    assert "KB-A-0100" not in json.dumps(hidden, ensure_ascii=False)


async def test_kb_from_an_unanswered_inquiry_says_to_answer_it_first(slack: Slack, world: World) -> None:
    label = await open_inquiry(world.core, answered=False, note="社内メモだけ")
    answer = json.dumps(
        await slack.command("/support-admin", f"kb from {label}", user="USTAFF1"), ensure_ascii=False
    )
    assert "まだ回答がない" in answer and f"/support-admin answer {label}" in answer
    assert slack.fake.of("views.open") == []


@pytest.mark.parametrize("number", ["INQ-999999", "123456", "nonsense"])
async def test_kb_from_an_unknown_inquiry_says_how_to_find_the_number(
    slack: Slack, world: World, number: str
) -> None:
    answer = json.dumps(
        await slack.command("/support-admin", f"kb from {number}", user="USTAFF1"), ensure_ascii=False
    )
    assert "見つかりません" in answer and "/support-admin inquiries" in answer
    assert slack.fake.of("views.open") == []


async def test_customers_cannot_draft_from_an_inquiry(slack: Slack, world: World) -> None:
    label = await open_inquiry(world.core, answered=True)
    answer = json.dumps(
        await slack.command("/support-admin", f"kb from {label}", user="U1"), ensure_ascii=False
    )
    assert "E-1001" not in answer and "帳票" not in answer
    assert slack.fake.of("views.open") == []
    async with world.core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Article)) == len(ARTICLES) + len(
            MORE
        )


async def test_the_admin_help_lists_kb_from(slack: Slack, world: World) -> None:
    answer = json.dumps(await slack.command("/support-admin", "help", user="USTAFF1"), ensure_ascii=False)
    assert "kb from INQ-000123" in answer


async def test_a_subject_typed_in_another_modal_suggests_nothing(slack: Slack, world: World) -> None:
    view = await ask(slack)
    payload = typed({**view, "callback_id": "something_else"}, "帳票")
    await slack.interaction(payload)
    assert slack.fake.of("views.update") == []
