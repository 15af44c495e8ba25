"""SPEC §4.11: a pending account (its mailed link not used yet) is refused everything but
help, with a button that resends the link; after activation the same commands work.
Through signed Slack requests, the resend through its real button."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from core import accounts
from core.actors import Actor
from core.models import AccountToken, AuditRecord, OutboxMessage, SupportId, SupportIdCc, SupportKey
from tests import factories
from tests.integration.slack.conftest import Slack

PENDING = "アカウントはまだ有効になっていません。"
EMAIL = "taro.yamada@customer-a.example.jp"
PASSWORD = "Kumquat-2026x"


@dataclass
class World:
    key: str
    other_key: str


@pytest.fixture
async def world(slack: Slack) -> World:
    """U1 registered (pending, linked to its Slack user); U2 an active colleague with a
    support ID ACME_01 holding a key, so every command has something to act on."""
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        contract = await factories.contract(uow, company, number="K-0001", requires_terms=True)
        other = await factories.contract(uow, company, number="K-0002")
        key = await factories.key(uow, contract, "SK-AAAA-BBBB-1111")
        other_key = await factories.key(uow, other, "SK-CCCC-DDDD-2222")
        await factories.account(
            uow, company, "colleague@customer-a.example.jp", slack_team_id="T1", slack_user_id="U2"
        )
        actor = Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1"))
        await accounts.create_account(uow, actor, factories.details(EMAIL), company.id, "ja")
        await uow.commit()
    await slack.command("/support", f"id new {key} ACME_01", user="U2")
    return World(key, other_key)


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


def resend_buttons(answer: dict) -> list[str]:
    return [
        e["action_id"]
        for b in answer.get("blocks", [])
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == "account_resend_link"
    ]


async def state(slack: Slack) -> tuple[int, int, int, int]:
    """Support IDs, keys in a support ID, CC addresses, audit records: what a refused
    command must leave as it was."""
    async with slack.door.core.uow() as uow:
        return (
            int(await uow.session.scalar(select(func.count()).select_from(SupportId)) or 0),
            int(
                await uow.session.scalar(
                    select(func.count()).select_from(SupportKey).where(SupportKey.support_id_id.is_not(None))
                )
                or 0
            ),
            int(await uow.session.scalar(select(func.count()).select_from(SupportIdCc)) or 0),
            int(await uow.session.scalar(select(func.count()).select_from(AuditRecord)) or 0),
        )


async def activation_mails(slack: Slack) -> list[OutboxMessage]:
    async with slack.door.core.uow() as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template.in_(("account_welcome", "activation_resent")))
            .order_by(OutboxMessage.id)
        )
        return list(rows.all())


COMMANDS = [
    "id list",
    "id show ACME_01",
    "id new {other_key} ACME_02",
    "key add ACME_01 {other_key}",
    "key remove ACME_01 1111",
    "contact add ACME_01 colleague@customer-a.example.jp",
    "contact remove ACME_01 colleague@customer-a.example.jp",
    "cc add ACME_01 audit@customer-a.example.jp",
    "cc remove ACME_01 audit@customer-a.example.jp",
    "agree ACME_01",
    "profile",
]


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_pending_account_is_refused_with_the_resend_button_and_nothing_changes(
    slack: Slack, world: World, command: str
) -> None:
    before = await state(slack)
    answer = await slack.command("/support", command.format(other_key=world.other_key))
    assert answer["response_type"] == "ephemeral"
    assert PENDING in text_of(answer)
    assert resend_buttons(answer) == ["account_resend_link"]
    assert "1111" not in text_of(answer) and "ACME_01" not in text_of(answer)
    assert await state(slack) == before


async def test_the_agree_button_of_a_pending_account_is_refused_too(slack: Slack, world: World) -> None:
    before = await state(slack)
    await slack.interaction(slack.block_action("terms_agree", "ACME_01", channel="C1"))
    told = slack.fake.of("response_url")[-1].body
    assert PENDING in str(told)
    assert await state(slack) == before


async def test_help_still_answers_a_pending_account(slack: Slack, world: World) -> None:
    answer = await slack.command("/support", "help")
    assert "/support register" in text_of(answer) and PENDING not in text_of(answer)


async def test_the_app_home_of_a_pending_account_offers_the_resend(slack: Slack, world: World) -> None:
    await slack.event({"type": "app_home_opened", "user": "U1", "tab": "home"})
    view = slack.fake.of("views.publish")[-1].body["view"]
    assert PENDING in str(view) and "account_resend_link" in str(view)


async def test_the_resend_button_mails_a_new_link_within_the_hourly_limit(slack: Slack, world: World) -> None:
    answer = await slack.command("/support", "id list")
    assert resend_buttons(answer)
    for _ in range(6):
        await slack.interaction(slack.block_action("account_resend_link", channel="C1"))
    told = str(slack.fake.of("response_url")[-1].body)
    assert "パスワード設定用のリンクを taro.yamada@customer-a.example.jp 宛てにお送りしました。" in told
    mails = await activation_mails(slack)
    # The welcome mail and four resends: five link mails an hour at most (accounts.MAX_LINKS_PER_HOUR).
    assert [m.template for m in mails] == ["account_welcome"] + ["activation_resent"] * 4
    assert all(m.recipients == [EMAIL] for m in mails)
    async with slack.door.core.uow() as uow:
        actions = list(await uow.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))
        live = await uow.session.scalar(
            select(func.count()).select_from(AccountToken).where(AccountToken.expires_at > uow.clock.now())
        )
    assert actions.count("account.link_suppressed") == 2
    assert live == 1, "only the newest link works"


async def test_after_the_mailed_link_sets_the_password_everything_is_allowed(
    slack: Slack, world: World
) -> None:
    await slack.interaction(slack.block_action("account_resend_link", channel="C1"))
    link = (await activation_mails(slack))[-1]
    async with slack.door.core.uow() as uow:
        token = str(uow.sealer.open(link.sealed)["link"]).rsplit("/", 1)[1]
        web = Actor(kind="anonymous", ref="ip:192.0.2.1", door="web")
        await accounts.set_password_with_token(uow, token, PASSWORD, web)
    issued = await slack.command("/support", f"id new {world.other_key} ACME_02")
    assert "サポートID「ACME_02」を発行しました。" in text_of(issued)
    assert "ACME_02" in text_of(await slack.command("/support", "id list"))
    added = await slack.command("/support", "cc add ACME_02 audit@customer-a.example.jp")
    assert PENDING not in text_of(added) and "audit@customer-a.example.jp" in text_of(added)
    assert "アカウント情報" in text_of(await slack.command("/support", "profile"))
    again = await slack.interaction(slack.block_action("account_resend_link", channel="C1"))
    assert again == {} and "アカウントは有効になっています。" in str(slack.fake.of("response_url")[-1].body)
