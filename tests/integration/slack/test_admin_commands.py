"""/support-admin through the real endpoint: staff only (refusals audited), and each
staff-desk subcommand."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core.models import Account, AuditRecord, OutboxMessage, SupportKey
from tests import factories
from tests.integration.slack.conftest import Slack

STAFF = "USTAFF1"


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


@pytest.fixture
async def desk(slack: Slack) -> str:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        contract = await factories.contract(uow, company, number="K-0001")
        key = await factories.key(uow, contract, "SK-ADMN-ADMN-4321")
        await factories.account(uow, company, "pending@customer-a.example.jp", status="pending")
        await factories.account(uow, company, "active@customer-a.example.jp")
        await uow.commit()
    return key


async def test_a_non_staff_user_is_refused_and_the_attempt_audited(slack: Slack, desk: str) -> None:
    answer = await slack.command("/support-admin", f"key revoke {desk}", user="U1")
    assert text_of(answer) == "この操作はスタッフのみ行えます。"
    async with slack.door.core.uow() as uow:
        rows = (
            await uow.session.scalars(select(AuditRecord).where(AuditRecord.action == "staff.refused"))
        ).all()
        revoked = await uow.session.scalar(select(SupportKey.revoked_at))
    assert len(rows) == 1 and rows[0].actor_id == "slack:T1:U1" and rows[0].door == "slack"
    assert desk not in str(rows[0].details)
    assert revoked is None


async def test_a_non_staff_user_is_refused_even_for_help(slack: Slack) -> None:
    assert (
        text_of(await slack.command("/support-admin", "help", user="U9"))
        == "この操作はスタッフのみ行えます。"
    )


async def test_staff_help_lists_every_subcommand(slack: Slack) -> None:
    text = text_of(await slack.command("/support-admin", "help", user=STAFF))
    for needle in (
        "find",
        "key issue",
        "key revoke",
        "account resend",
        "requests",
        "request assign",
        "reply",
        "audit EMAIL|ID",
        "attempts",
    ):
        assert needle in text


async def test_find_shows_companies_contracts_keys_and_accounts(slack: Slack, desk: str) -> None:
    text = text_of(await slack.command("/support-admin", "find 顧客A", user=STAFF))
    assert "顧客A株式会社" in text
    by_key = text_of(await slack.command("/support-admin", f"find {desk}", user=STAFF))
    assert "4321" in by_key and desk not in by_key
    by_contract = text_of(await slack.command("/support-admin", "find K-0001", user=STAFF))
    assert "K-0001" in by_contract
    nothing = text_of(await slack.command("/support-admin", "find 存在しない", user=STAFF))
    assert "該当するものは見つかりませんでした" in nothing


async def test_key_issue_shows_the_new_key_once_and_never_logs_it(
    slack: Slack, desk: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    text = text_of(await slack.command("/support-admin", "key issue K-0001", user=STAFF))
    assert "このキーが表示されるのは今回だけです" in text
    raw = text.split("`")[1]
    assert len(raw) >= 10
    assert raw not in "\n".join(r.getMessage() for r in caplog.records)
    unknown = text_of(await slack.command("/support-admin", "key issue K-9999", user=STAFF))
    assert "契約番号 K-9999 は見つかりません。" in unknown


async def test_key_revoke_revokes_and_answers_masked(slack: Slack, desk: str) -> None:
    text = text_of(await slack.command("/support-admin", f"key revoke {desk}", user=STAFF))
    assert "4321" in text and desk not in text
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(SupportKey.revoked_at)) is not None
    assert "該当するサポートキーは見つかりません" in text_of(
        await slack.command("/support-admin", "key revoke SK-NONE-NONE-0000", user=STAFF)
    )


async def test_account_resend_queues_a_new_link_by_mail(slack: Slack, desk: str) -> None:
    text = text_of(
        await slack.command("/support-admin", "account resend pending@customer-a.example.jp", user=STAFF)
    )
    assert "pending@customer-a.example.jp" in text
    async with slack.door.core.uow() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage))).all()
    assert [r.recipients for r in rows] == [["pending@customer-a.example.jp"]]
    assert "http" not in str(rows[0].context)
    active = text_of(
        await slack.command("/support-admin", "account resend active@customer-a.example.jp", user=STAFF)
    )
    assert "既に有効化されています" in active


async def test_account_disable_and_enable(slack: Slack, desk: str) -> None:
    assert "を無効にしました" in text_of(
        await slack.command("/support-admin", "account disable active@customer-a.example.jp", user=STAFF)
    )
    async with slack.door.core.uow() as uow:
        assert (
            await uow.session.scalar(
                select(Account.status).where(Account.email == "active@customer-a.example.jp")
            )
            == "disabled"
        )
    assert "を有効にしました" in text_of(
        await slack.command("/support-admin", "account enable active@customer-a.example.jp", user=STAFF)
    )


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("key issue", "`/support-admin key issue CONTRACT [mail]`"),
        ("account disable", "`/support-admin account disable EMAIL`"),
        ("request assign REQ-000001", "`/support-admin request assign REQ @user`"),
        ("reply REQ-000001", "`/support-admin reply REQ text…`"),
    ],
)
async def test_malformed_staff_input_gets_the_usage_line(slack: Slack, text: str, usage: str) -> None:
    assert text_of(await slack.command("/support-admin", text, user=STAFF)) == f"使い方: {usage}"


async def _customer_with_a_support_id(slack: Slack, key: str) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客B株式会社")
        await factories.account(
            uow, company, "me@customer-b.example.jp", slack_team_id="T1", slack_user_id="U7"
        )
        await uow.commit()
    answer = await slack.command("/support", f"id new {key} AUDIT_01 監査テスト", user="U7")
    assert "AUDIT_01" in text_of(answer)


async def test_audit_shows_the_trail_of_a_support_id_newest_first_with_masked_keys(
    slack: Slack, desk: str
) -> None:
    await _customer_with_a_support_id(slack, desk)
    assert "AUDIT_01" in text_of(await slack.command("/support", f"key remove AUDIT_01 {desk}", user="U7"))
    text = text_of(await slack.command("/support-admin", "audit audit_01", user=STAFF))
    assert text.startswith("*audit_01 の操作履歴*")
    assert text.index("support_id.key_removed") < text.index("support_id.issued")
    assert "· slack ·" in text and "2026-11-26" in text
    assert "4321" in text and desk not in text


async def test_audit_shows_the_trail_of_an_account_by_email(slack: Slack, desk: str) -> None:
    await slack.command("/support-admin", "account disable active@customer-a.example.jp", user=STAFF)
    text = text_of(await slack.command("/support-admin", "audit ACTIVE@customer-a.example.jp", user=STAFF))
    assert "`account.disable" in text and "staff" in text.lower()
    empty = text_of(await slack.command("/support-admin", "audit pending@customer-a.example.jp", user=STAFF))
    assert empty == "pending@customer-a.example.jp の操作履歴はありません。"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nobody@customer-a.example.jp", "該当するアカウントが見つかりません。"),
        ("NO_SUCH_ID", "サポートID NO_SUCH_ID は見つかりません。"),
    ],
)
async def test_audit_of_something_unknown_says_so(slack: Slack, desk: str, target: str, message: str) -> None:
    assert text_of(await slack.command("/support-admin", f"audit {target}", user=STAFF)) == message


async def test_attempts_lists_failed_key_checks_and_says_when_there_are_none(slack: Slack, desk: str) -> None:
    none = text_of(await slack.command("/support-admin", "attempts", user=STAFF))
    assert none == "最近の失敗した試行はありません。"
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客C株式会社")
        await factories.account(
            uow, company, "me@customer-c.example.jp", slack_team_id="T1", slack_user_id="U8"
        )
        await uow.commit()
    await slack.command("/support", "id new SK-WRNG-WRNG-0000 GUESS_01", user="U8")
    text = text_of(await slack.command("/support-admin", "attempts", user=STAFF))
    assert text.startswith("*最近の失敗した試行*")
    assert "`support_key`" in text and "U8" in text and "SK-WRNG" not in text


@pytest.mark.parametrize("text", ["audit audit_01", "attempts"])
async def test_audit_and_attempts_are_refused_to_customers_and_the_attempt_audited(
    slack: Slack, desk: str, text: str
) -> None:
    assert (
        text_of(await slack.command("/support-admin", text, user="U1")) == "この操作はスタッフのみ行えます。"
    )
    async with slack.door.core.uow() as uow:
        rows = (
            await uow.session.scalars(select(AuditRecord).where(AuditRecord.action == "staff.refused"))
        ).all()
    assert [r.details for r in rows] == [{"attempted": text.split()[0]}]


async def test_audit_without_a_target_gets_the_usage_line(slack: Slack) -> None:
    assert (
        text_of(await slack.command("/support-admin", "audit", user=STAFF))
        == "使い方: `/support-admin audit EMAIL|ID`"
    )
