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
        ("key issue", "`/support-admin key issue CONTRACT`"),
        ("account disable", "`/support-admin account disable EMAIL`"),
        ("request assign REQ-000001", "`/support-admin request assign REQ @user`"),
        ("reply REQ-000001", "`/support-admin reply REQ text…`"),
    ],
)
async def test_malformed_staff_input_gets_the_usage_line(slack: Slack, text: str, usage: str) -> None:
    assert text_of(await slack.command("/support-admin", text, user=STAFF)) == f"使い方: {usage}"
