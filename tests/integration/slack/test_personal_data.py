"""Staff answer a person's APPI requests through /support-admin (SPEC §4.11): ``account
export EMAIL`` (everything about the person as a JSON file in the staff member's DMs,
nothing about anyone else) and ``account erase EMAIL`` (shown first, erased by a
confirm button; afterwards no personal value of the person is left in any table, and the
audit trail still counts what happened)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, func, select

from core.models import Account, AuditRecord, Base
from core.privacy.registry import RULES
from tests.fakeslack import Call
from tests.integration.slack.conftest import Slack
from tests.integration.slack.privacy_seed import HANAKO, TARO, seed

STAFF = "USTAFF1"


def text_of(answer: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


def followed(slack: Slack) -> dict[str, Any]:
    """What was posted to the command's ``response_url`` after the ack (the work's answer)."""
    return slack.fake.of("response_url")[-1].body


async def staff_command(slack: Slack, text: str, user: str = STAFF) -> dict[str, Any]:
    """The command's answer: the ack says it is looking, the answer follows by response_url."""
    before = len(slack.fake.of("response_url"))
    ack = await slack.command("/support-admin", text, user=user)
    if user != STAFF:
        return ack
    assert "調べています" in text_of(ack)
    assert len(slack.fake.of("response_url")) == before + 1
    return followed(slack)


@pytest.fixture
async def people(slack: Slack) -> tuple[int, int]:
    def upload_url(call: Call) -> dict[str, Any]:
        return {"ok": True, "upload_url": f"{slack.fake.url}upload.target", "file_id": "F0001"}

    slack.fake.answers["files.getUploadURLExternal"] = upload_url
    slack.fake.answers["files.completeUploadExternal"] = lambda call: {"ok": True, "files": [{"id": "F0001"}]}
    return await seed(slack.door.core)


async def every_text(slack: Slack) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text, JSON and bytes value in the database, sorted.

    Leaves out the Slack door's note of the staff member's language (``slack_users``),
    which it writes after answering anyone."""
    out: list[tuple[str, str, str]] = []
    async with slack.door.core.uow() as uow:
        for name, table in Base.metadata.tables.items():
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON | LargeBinary)]
            if not columns:
                continue
            for row in (await uow.session.execute(select(*columns))).all():
                if name == "slack_users" and STAFF in row:
                    continue
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes):
                        text = value.decode("utf-8", "replace")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    else:
                        text = str(value)
                    out.append((name, column.name, text))
    return sorted(out)


def holding(texts: list[tuple[str, str, str]], values: tuple[str, ...]) -> list[tuple[str, str, str]]:
    return [(t, c, v) for t, c, v in texts if any(x.lower() in v.lower() for x in values)]


async def audit_of(slack: Slack, account_id: int) -> list[str]:
    async with slack.door.core.uow() as uow:
        rows = await uow.session.scalars(
            select(AuditRecord.action).where(AuditRecord.account_id == account_id).order_by(AuditRecord.id)
        )
        return list(rows.all())


# ----------------------------------------------------------------------------- export


async def test_export_holds_every_tables_rows_about_the_person_and_nothing_about_anyone_else(
    slack: Slack, people: tuple[int, int]
) -> None:
    taro, hanako = people
    answer = await staff_command(slack, f"account export <mailto:{TARO.email}|{TARO.email}>")
    assert TARO.email in text_of(answer) and "JSON" in text_of(answer)
    opened = slack.fake.of("conversations.open")
    assert opened[-1].body["users"] == STAFF
    complete = slack.fake.of("files.completeUploadExternal")[-1]
    assert complete.body["channel_id"] == f"D{STAFF}"
    document = json.loads(slack.fake.of("upload.target")[-1].raw)
    tables = document["tables"]
    assert document["email"] == TARO.email
    # Every table whose rule says how rows relate to a person is in the file.
    assert set(tables) == {name for name in Base.metadata.tables if RULES[name].about}
    for name in (
        "accounts",
        "account_tokens",
        "support_id_contacts",
        "pending_contacts",
        "support_id_ccs",
        "terms_agreements",
        "throttle_failures",
        "slack_users",
        "inbound_mails",
        "requests",
        "request_messages",
        "mail_acks",
        "mail_address_states",
        "outbox",
        "audit_log",
        "inquiries",
        "inquiry_messages",
    ):
        assert tables[name], f"{name}: nothing exported"
    assert [a["id"] for a in tables["accounts"]] == [taro]
    assert all(m["author_account_id"] in (taro, None) for m in tables["inquiry_messages"])
    assert {m["kind"] for m in tables["inquiry_messages"]} == {"customer", "answer", "note"}
    flat = json.dumps(document, ensure_ascii=False)
    # The answer with Hanako in CC is Taro's too, without her address.
    assert any(o["recipients"] == [TARO.email, "<other address>"] for o in tables["outbox"])
    for value in HANAKO.values:
        assert value not in flat, value
    assert str(hanako) not in {str(a.get("account_id")) for a in tables["audit_log"]}
    # Secrets are never handed out.
    assert "password_hash" not in tables["accounts"][0]
    assert all("token_hash" not in t for t in tables["account_tokens"])
    assert all("sealed" not in o for o in tables["outbox"])
    assert "privacy.exported" in await audit_of(slack, taro)


async def test_export_of_an_unknown_address_says_nothing_is_held(
    slack: Slack, people: tuple[int, int]
) -> None:
    answer = await staff_command(slack, "account export nobody@customer-z.example.jp")
    assert "nobody@customer-z.example.jp について保存している個人情報はありません" in text_of(answer)
    assert "/support-admin find" in text_of(answer)
    assert not slack.fake.of("files.completeUploadExternal")


async def test_export_is_refused_to_a_customer(slack: Slack, people: tuple[int, int]) -> None:
    answer = await staff_command(slack, f"account export {HANAKO.email}", user="UTARO")
    assert text_of(answer) == "この操作はスタッフのみ行えます。"
    assert not slack.fake.of("files.getUploadURLExternal")


# ----------------------------------------------------------------------------- erase


async def test_erase_shows_what_will_go_and_changes_nothing_until_confirmed(
    slack: Slack, people: tuple[int, int]
) -> None:
    before = await every_text(slack)
    answer = await staff_command(slack, f"account erase {TARO.email}")
    assert "元に戻せません" in text_of(answer)
    assert "`accounts`：1 件" in text_of(answer)
    button = answer["blocks"][-1]["elements"][0]
    assert button["action_id"] == "staff_account_erase" and button["style"] == "danger"
    assert button["confirm"]["title"]["text"] == "元に戻せません"
    assert await every_text(slack) == before


async def test_after_erase_no_personal_value_of_the_person_is_left_anywhere(
    slack: Slack, people: tuple[int, int]
) -> None:
    taro, hanako = people
    assert holding(await every_text(slack), TARO.values)  # the search finds them before
    actions_before = await audit_of(slack, taro)
    answer = await staff_command(slack, f"account erase {TARO.email}")
    value = answer["blocks"][-1]["elements"][0]["value"]
    await slack.interaction(slack.block_action("staff_account_erase", value, user=STAFF, channel="D1"))
    texts = await every_text(slack)
    assert holding(texts, TARO.values) == []
    # The colleague keeps everything of theirs, their messages in Taro's thread too.
    assert holding(texts, (HANAKO.email,)) and holding(texts, ("佐藤です。",))
    async with slack.door.core.uow() as uow:
        account = await uow.session.get(Account, taro)
        other = await uow.session.get(Account, hanako)
    assert account is not None and account.last_name.startswith("erased-")
    assert account.email.endswith("@erased.invalid") and account.status == "erased"
    assert account.slack_user_id is None and account.password_hash is None
    assert other is not None and other.last_name == HANAKO.last_name
    # What happened is still counted, under the account's (pseudonymous) id.
    actions_after = await audit_of(slack, taro)
    assert actions_after[: len(actions_before)] == actions_before
    assert actions_after[len(actions_before) :] == ["privacy.erased"]
    said = slack.fake.of("response_url")[-1].body
    assert "消去しました" in json.dumps(said, ensure_ascii=False) and account.last_name in json.dumps(said)
    # Irreversible and not repeatable: the address names nobody now.
    again = await staff_command(slack, f"account erase {TARO.email}")
    assert "保存している個人情報はありません" in text_of(again)


async def test_erase_is_refused_to_a_customer_by_command_and_by_button(
    slack: Slack, people: tuple[int, int]
) -> None:
    before = await every_text(slack)
    answer = await staff_command(slack, f"account erase {HANAKO.email}", user="UTARO")
    assert text_of(answer) == "この操作はスタッフのみ行えます。"
    await slack.interaction(
        slack.block_action("staff_account_erase", HANAKO.email, user="UTARO", channel="D1")
    )
    refused = json.dumps(slack.fake.of("response_url")[-1].body, ensure_ascii=False)
    assert "スタッフのみ" in refused
    after = await every_text(slack)
    # Only the two refusals were added (audited, without the address).
    added = [t for t in after if t not in before]
    assert {t[0] for t in added} <= {"audit_log"}
    assert not holding(added, (HANAKO.email,))
    async with slack.door.core.uow() as uow:
        refusals = await uow.session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "staff.refused")
        )
    assert refusals == 2


async def test_erase_of_an_unknown_address_says_nothing_is_held(
    slack: Slack, people: tuple[int, int]
) -> None:
    before = await every_text(slack)
    answer = await staff_command(slack, "account erase nobody@customer-z.example.jp")
    assert "保存している個人情報はありません" in text_of(answer)
    await slack.interaction(
        slack.block_action("staff_account_erase", "nobody@customer-z.example.jp", user=STAFF, channel="D1")
    )
    assert "保存している個人情報はありません" in json.dumps(
        slack.fake.of("response_url")[-1].body, ensure_ascii=False
    )
    assert await every_text(slack) == before
