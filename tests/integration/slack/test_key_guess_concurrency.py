"""Key guesses by one Slack user, signed requests to /slack/events: concurrent guesses
are evaluated exactly up to the limit (core.throttle), on SQLite and PostgreSQL; and
``id new`` answers a key held by another customer exactly as an unknown key, counted."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from core import support_keys, throttle
from core.models import SupportId, ThrottleFailure
from tests import factories
from tests.integration.slack.conftest import Slack
from tests.integration.slack.test_support_commands import text_of

GUESSES = 30
INVALID = "無効なサポートキーです。"
WAIT = "分後にもう一度お試しください"


async def _failures(slack: Slack, actor_like: str = "%U1%") -> int:
    async with slack.door.core.uow() as uow:
        count = await uow.session.scalar(
            select(func.count()).where(
                ThrottleFailure.scope == support_keys.THROTTLE_SCOPE, ThrottleFailure.actor.like(actor_like)
            )
        )
    return int(count or 0)


async def _customer(slack: Slack, email: str, user: str, company_name: str = "顧客A株式会社") -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, company_name)
        await factories.account(uow, company, email, slack_team_id="T1", slack_user_id=user)
        await uow.commit()


async def test_concurrent_key_guesses_of_one_user_are_evaluated_up_to_the_limit(slack: Slack) -> None:
    await _customer(slack, "me@customer-a.example.jp", "U1")
    answers = await asyncio.gather(
        *(slack.command("/support", f"id new SK-GUES-{n:04d}-XXXX GUESS_{n}") for n in range(GUESSES))
    )
    texts = [text_of(answer) for answer in answers]
    assert sum(INVALID in t for t in texts) == throttle.MAX_FAILURES
    assert sum(WAIT in t for t in texts) == GUESSES - throttle.MAX_FAILURES
    assert await _failures(slack) == throttle.MAX_FAILURES


async def test_a_key_held_by_another_customer_answers_as_an_unknown_key_whatever_the_name(
    slack: Slack,
) -> None:
    await _customer(slack, "owner@customer-b.example.jp", "U9", "顧客B株式会社")
    await _customer(slack, "me@customer-a.example.jp", "U1")
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客B株式会社")
        contract = await factories.contract(uow, company, number="K-0009")
        held = await factories.key(uow, contract, "SK-HELD-HELD-9999")
        await uow.commit()
    assert "ACME_09" in text_of(await slack.command("/support", f"id new {held} ACME_09", user="U9"))

    # The name is taken too: still the one invalid-key answer, and it counts.
    taken = text_of(await slack.command("/support", f"id new {held} ACME_09"))
    unknown = text_of(await slack.command("/support", "id new SK-NONE-NONE-0000 ACME_09"))
    assert INVALID in taken and INVALID in unknown
    assert "ACME_09" not in taken
    assert await _failures(slack) == 2
    async with slack.door.core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(SupportId)) == 1
