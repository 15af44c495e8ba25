"""Purging what is kept only for a while (core/housekeeping.py), its schedule in serve
and `madoguchi purge`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import audit, housekeeping
from core.actors import Actor
from core.clock import FrozenClock
from core.models import Account, AccountToken, AuditRecord, Conversation, OutboxMessage, ThrottleFailure
from core.unit_of_work import Core
from madoguchi import runtime
from madoguchi.housekeeping import Housekeeping
from tests import factories

DAY = timedelta(days=1)


async def _world(core: Core) -> dict[str, int]:
    """One row on each side of every period; returns the ids that must survive."""
    now = core.clock.now()
    async with core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        account = await factories.account(uow, company, "taro@customer-a.example.jp")
        tokens = {
            "old": AccountToken(
                account_id=account.id,
                purpose="activate",
                token_hash="a" * 64,
                created_at=now - 40 * DAY,
                expires_at=now - 31 * DAY,
                used_at=None,
            ),
            "recent": AccountToken(
                account_id=account.id,
                purpose="activate",
                token_hash="b" * 64,
                created_at=now - 36 * DAY,
                expires_at=now - 29 * DAY,
                used_at=now - 35 * DAY,
            ),
            "live": AccountToken(
                account_id=account.id,
                purpose="reset",
                token_hash="c" * 64,
                created_at=now,
                expires_at=now + 7 * DAY,
                used_at=None,
            ),
        }
        failures = {
            "old": ThrottleFailure(scope="support_key", actor="slack:T1:U1", at=now - 31 * DAY),
            "recent": ThrottleFailure(scope="support_key", actor="slack:T1:U1", at=now - 29 * DAY),
        }

        def outbox(n: int, status: str, age: timedelta) -> OutboxMessage:
            return OutboxMessage(
                template="ack",
                recipients=["a@example.jp"],
                message_id=f"<{n}@madoguchi.test>",
                status=status,
                next_attempt_at=now - age,
                created_at=now - age,
            )

        rows = {
            "sent_old": outbox(1, "sent", 31 * DAY),
            "failed_old": outbox(2, "failed", 31 * DAY),
            "sent_recent": outbox(3, "sent", 29 * DAY),
            "pending_old": outbox(4, "pending", 31 * DAY),  # never delivered: never purged
        }
        conversations = {
            "expired": Conversation(
                id="expired",
                actor="slack:T1:U1",
                step="details",
                data={"last_name": "山田"},
                created_at=now - 2 * DAY,
                updated_at=now - 2 * DAY,
                expires_at=now - DAY,
            ),
            "live": Conversation(
                id="live",
                actor="slack:T1:U2",
                step="key",
                data={},
                created_at=now,
                updated_at=now,
                expires_at=now + DAY,
            ),
        }
        uow.session.add_all([*tokens.values(), *failures.values(), *rows.values(), *conversations.values()])
        audit.record(uow, Actor(kind="system", ref="cli", door="cli"), "old.thing", account_id=account.id)
        await uow.commit()
        return {
            "token_recent": tokens["recent"].id,
            "token_live": tokens["live"].id,
            "failure_recent": failures["recent"].id,
            "sent_recent": rows["sent_recent"].id,
            "pending_old": rows["pending_old"].id,
        }


async def test_purge_deletes_what_is_past_its_period_and_keeps_the_rest(
    domain: Core, clock: FrozenClock
) -> None:
    keep = await _world(domain)
    clock.advance(timedelta(hours=1))
    purged = await housekeeping.purge(domain)
    assert (purged.conversations, purged.tokens, purged.failures, purged.outbox) == (1, 1, 1, 2)
    async with domain.uow() as uow:
        s = uow.session
        assert set((await s.scalars(select(AccountToken.id))).all()) == {
            keep["token_recent"],
            keep["token_live"],
        }
        assert (await s.scalars(select(ThrottleFailure.id))).all() == [keep["failure_recent"]]
        assert set((await s.scalars(select(OutboxMessage.id))).all()) == {
            keep["sent_recent"],
            keep["pending_old"],
        }
        assert (await s.scalars(select(Conversation.id))).all() == ["live"]
        # The record is never purged.
        assert await s.scalar(select(func.count()).select_from(Account)) == 1
        assert await s.scalar(select(func.count()).select_from(AuditRecord)) == 1
    again = await housekeeping.purge(domain)
    assert again.total == 0


async def test_purge_goes_in_chunks_until_nothing_is_left(
    domain: Core, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "CHUNK", 2)
    now = clock.now()
    async with domain.uow() as uow:
        uow.session.add_all(
            ThrottleFailure(scope="web.post", actor=f"ip:{n}", at=now - 40 * DAY) for n in range(5)
        )
        await uow.commit()
    assert (await housekeeping.purge(domain)).failures == 5
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(ThrottleFailure)) == 0


async def test_madoguchi_purge_prints_what_it_deleted(
    domain: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command reads the real clock: these rows are old whatever today is.
    async with domain.uow() as uow:
        uow.session.add(
            ThrottleFailure(scope="support_key", actor="slack:T1:U1", at=domain.clock.now() - 400 * DAY)
        )
        await uow.commit()
    assert await runtime.purge_command(domain.settings) == 0
    out = capsys.readouterr().out
    assert out.startswith("削除しました：") and "失敗記録 1 件" in out


async def test_serve_runs_the_purge_on_a_schedule_and_stops_cleanly(domain: Core, clock: FrozenClock) -> None:
    now = clock.now()
    async with domain.uow() as uow:
        uow.session.add(ThrottleFailure(scope="support_key", actor="slack:T1:U1", at=now - 40 * DAY))
        await uow.commit()
    job = Housekeeping(domain, interval=0.05, first_run_after=0)
    await job.start()
    for _ in range(200):
        if job.runs >= 2:
            break
        await asyncio.sleep(0.01)
    assert job.runs >= 2 and job.healthy()
    await asyncio.wait_for(job.stop(), timeout=5)
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(ThrottleFailure)) == 0
