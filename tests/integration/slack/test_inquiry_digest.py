"""The staff channel's morning digest of overdue and due-today inquiries (SPEC §4.8):
decided and queued by core on the first housekeeping run of a business morning, once per
day however many instances run, rendered by the Slack door."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select

from bot.staff_posts import build_staff_channel
from core import housekeeping, inquiries
from core.clock import JST
from core.inquiries.digest import DIGEST, morning_digest
from core.models import OutboxMessage
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from mail.transport import build_transport
from tests.fakeslack import FakeSlack
from tests.integration.inquiries.conftest import STAFF, World, world

__all__ = ["world"]


def jst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JST)


async def _open(core: Core, w: World, subject: str) -> int:
    async with core.uow() as uow:
        opened = await inquiries.open_inquiry(
            uow, w.a, support_id="ACME_A", product="製品Aファミリ", subject=subject, body="本文"
        )
    return opened.number


async def _three(core: Core, w: World) -> None:
    """INQ-1 due Tue 1 Dec, INQ-2 due Wed 2 Dec, INQ-3 due Wed 2 Dec but answered."""
    core.clock.set(jst("2026-11-26T10:00"))  # type: ignore[attr-defined]
    await _open(core, w, "一件目 <!channel>")
    core.clock.set(jst("2026-11-27T10:00"))  # type: ignore[attr-defined]
    await _open(core, w, "二件目")
    third = await _open(core, w, "三件目")
    async with core.uow() as uow:
        await inquiries.answer(uow, STAFF, third, "回答しました。")


async def _digests(core: Core) -> list[OutboxMessage]:
    async with core.uow() as uow:
        found = await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.template == DIGEST))
        return list(found.all())


async def test_the_first_run_after_nine_on_a_business_day_posts_once(
    slack_core: Core, world: World, fake: FakeSlack
) -> None:
    await _three(slack_core, world)
    slack_core.clock.set(jst("2026-12-02T08:59"))  # type: ignore[attr-defined]
    assert not (await morning_digest(slack_core)).posted
    slack_core.clock.set(jst("2026-12-02T09:05"))  # type: ignore[attr-defined]
    first = await morning_digest(slack_core)
    assert first.posted and (first.overdue, first.due_today) == (1, 1)
    slack_core.clock.set(jst("2026-12-02T15:05"))  # type: ignore[attr-defined]
    assert not (await morning_digest(slack_core)).posted
    (row,) = await _digests(slack_core)
    assert row.context["channel"] == "CSTAFF"
    assert [i["inquiry"] for i in row.context["items"]] == ["INQ-000001", "INQ-000002"]

    channel = build_staff_channel(slack_core)
    assert channel is not None
    await OutboxWorker(slack_core, build_transport(slack_core.settings), staff=channel).drain()
    posts = [c.body for c in fake.of("chat.postMessage") if "本日期限" in str(c.body.get("blocks"))]
    (post,) = posts
    text = str(post["blocks"])
    assert post["channel"] == "CSTAFF"
    assert "期限超過 1件、本日期限 1件" in text
    assert "⚠️ 期限超過 *INQ-000001* 2026年12月1日（火）" in text and "本日期限 *INQ-000002*" in text
    assert "INQ-000003" not in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text


async def test_two_instances_racing_post_one_digest(slack_core: Core, world: World) -> None:
    await _three(slack_core, world)
    slack_core.clock.set(jst("2026-12-03T09:00"))  # type: ignore[attr-defined]
    other = Core(slack_core.sessions, slack_core.settings, slack_core.clock)
    results = await asyncio.gather(morning_digest(slack_core), morning_digest(other))
    assert sorted(r.posted for r in results) == [False, True]
    assert len(await _digests(slack_core)) == 1
    slack_core.clock.set(jst("2026-12-04T09:30"))  # type: ignore[attr-defined]
    assert (await morning_digest(slack_core)).posted
    assert len(await _digests(slack_core)) == 2


async def test_no_digest_on_a_closed_day_before_nine_without_a_staff_channel_or_with_nothing_due(
    slack_core: Core, world: World
) -> None:
    await _three(slack_core, world)
    slack_core.clock.set(jst("2026-12-05T10:00"))  # type: ignore[attr-defined]  # Saturday
    assert not (await morning_digest(slack_core)).posted
    slack_core.clock.set(jst("2026-11-30T10:00"))  # type: ignore[attr-defined]  # nothing due yet
    assert not (await morning_digest(slack_core)).posted
    slack_core.clock.set(jst("2026-12-02T10:00"))  # type: ignore[attr-defined]
    quiet = Core(
        slack_core.sessions, slack_core.settings.model_copy(update={"staff_channel": None}), slack_core.clock
    )
    assert not (await morning_digest(quiet)).posted
    for number in (1, 2):
        async with slack_core.uow() as uow:
            await inquiries.close(uow, STAFF, number)
    assert not (await morning_digest(slack_core)).posted
    assert await _digests(slack_core) == []


async def test_the_hourly_housekeeping_run_queues_it(slack_core: Core, world: World) -> None:
    await _three(slack_core, world)
    slack_core.clock.set(jst("2026-12-02T11:00"))  # type: ignore[attr-defined]
    assert (await housekeeping.purge(slack_core)).digest_posted
    assert not (await housekeeping.purge(slack_core)).digest_posted
    assert len(await _digests(slack_core)) == 1
