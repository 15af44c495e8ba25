"""The life of an inquiry (SPEC §4.8): answers mailed threaded to the asker with the CC
addresses in Cc, notes never sent, customer messages reopening it, the 30-day reopen
window, auto-close after the configured business days, assignment."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core import housekeeping, inquiries
from core.clock import FrozenClock
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.unit_of_work import Core
from mail.templates import MailTemplates
from tests.integration.inquiries.conftest import STAFF, World, actions, at, inquiry, outbox


async def _opened(core: Core, world: World) -> int:
    async with core.uow() as uow:
        opened = await inquiries.open_inquiry(
            uow,
            world.a,
            support_id="ACME_A",
            product="製品Aファミリ",
            subject="帳票出力",
            body="エラーです。",
        )
    return opened.number


async def _answer(core: Core, number: int, body: str = "設定を見直してください。") -> None:
    async with core.uow() as uow:
        await inquiries.answer(uow, STAFF, number, body)


async def test_a_staff_answer_is_mailed_to_the_asker_with_cc_threaded_and_marks_it_answered(
    domain: Core, world: World
) -> None:
    number = await _opened(domain, world)
    await _answer(domain, number)
    row = await inquiry(domain, number)
    assert row.status == "answered" and row.assignee == STAFF.ref
    # Answered Thursday 26 Nov: ten business days later is Thursday 10 Dec.
    assert row.autoclose_on == date(2026, 12, 10)
    [answer] = await outbox(domain, "inquiry_answer")
    assert answer.recipients == ["alice@customer-a.example.jp", "cc@customer-a.example.jp"]
    assert answer.headers["Cc"] == "cc@customer-a.example.jp"
    assert answer.headers["In-Reply-To"] == row.thread_id
    assert answer.headers["References"] == row.thread_id
    assert answer.context["body"] == "設定を見直してください。"
    assert answer.context["autoclose_days"] == 10 and answer.context["autoclose_on"] == "2026-12-10"
    rendered = MailTemplates(domain.settings).render("inquiry_answer", "ja", answer.context)
    assert "10営業日（2026年12月10日（木）まで）" in rendered.text and "2026-12-10" not in rendered.text


async def test_a_second_answer_names_the_whole_thread(domain: Core, world: World) -> None:
    number = await _opened(domain, world)
    await _answer(domain, number, "一回目")
    async with domain.uow() as uow:
        await inquiries.reply(uow, world.a, number, "まだ出ます。", message_id="<r1@customer-a.example.jp>")
    await _answer(domain, number, "二回目")
    first, second = await outbox(domain, "inquiry_answer")
    row = await inquiry(domain, number)
    assert second.headers["In-Reply-To"] == "<r1@customer-a.example.jp>"
    assert second.headers["References"].split() == [
        row.thread_id,
        first.message_id,
        "<r1@customer-a.example.jp>",
    ]


async def test_only_staff_answer_and_a_note_is_never_sent_nor_shown_to_customers(
    domain: Core, world: World
) -> None:
    number = await _opened(domain, world)
    with pytest.raises(Forbidden):
        async with domain.uow() as uow:
            await inquiries.answer(uow, world.a, number, "自分で回答")
    async with domain.uow() as uow:
        await inquiries.note(uow, STAFF, number, "社内メモ：再現手順を確認中")
    assert await outbox(domain, "inquiry_answer") == []
    async with domain.uow() as uow:
        seen_by_customer = await inquiries.show(uow, world.b, number)
        seen_by_staff = await inquiries.show(uow, STAFF, number)
    assert [m.kind for m in seen_by_customer.messages] == ["customer"]
    assert [m.kind for m in seen_by_staff.messages] == ["customer", "note"]


async def test_an_empty_answer_is_refused_and_sends_nothing(domain: Core, world: World) -> None:
    number = await _opened(domain, world)
    with pytest.raises(ValidationFailed) as caught:
        await _answer(domain, number, "  ")
    assert caught.value.fields == {"body": "inquiry.body_required"}
    assert await outbox(domain, "inquiry_answer") == []
    assert (await inquiry(domain, number)).status == "new"


async def test_assigning_moves_a_new_inquiry_to_in_progress(domain: Core, world: World) -> None:
    number = await _opened(domain, world)
    async with domain.uow() as uow:
        await inquiries.assign(uow, STAFF, number, "slack:T1:USTAFF2")
    row = await inquiry(domain, number)
    assert (row.status, row.assignee) == ("in_progress", "slack:T1:USTAFF2")
    with pytest.raises(Forbidden):
        async with domain.uow() as uow:
            await inquiries.assign(uow, world.a, number, "slack:T1:U1")


async def test_a_customer_message_reopens_an_answered_inquiry_and_reaches_the_staff_thread(
    domain: Core, world: World, clock: FrozenClock
) -> None:
    number = await _opened(domain, world)
    await _answer(domain, number)
    clock.set(at("2026-11-30T11:00"))
    async with domain.uow() as uow:
        replied = await inquiries.reply(uow, world.b, number, "まだエラーになります。")
    assert replied.reopened and replied.opened is None
    row = await inquiry(domain, number)
    assert (row.status, row.autoclose_on) == ("in_progress", None)
    assert row.due_on == date(2026, 12, 3)  # due again, from Monday 30 Nov
    [followup] = [p for p in await outbox(domain, "inquiry_followup") if p.context["kind"] == "customer"]
    assert followup.context["excerpt"] == "まだエラーになります。"
    assert followup.context["author"] == "山田 太郎"


async def test_closing_and_reopening_within_thirty_days(
    domain: Core, world: World, clock: FrozenClock
) -> None:
    number = await _opened(domain, world)
    async with domain.uow() as uow:
        await inquiries.close(uow, world.b, number)
    assert (await inquiry(domain, number)).status == "closed"
    with pytest.raises(Conflict):
        async with domain.uow() as uow:
            await inquiries.close(uow, world.a, number)
    clock.advance(timedelta(days=30))
    async with domain.uow() as uow:
        replied = await inquiries.reply(uow, world.a, number, "再発しました。")
    assert replied.reopened and replied.number == number
    assert (await inquiry(domain, number)).status == "in_progress"


async def test_after_thirty_days_a_follow_up_opens_a_new_inquiry_linking_the_old(
    domain: Core, world: World, clock: FrozenClock
) -> None:
    number = await _opened(domain, world)
    async with domain.uow() as uow:
        await inquiries.close(uow, STAFF, number)
    clock.advance(timedelta(days=31))
    async with domain.uow() as uow:
        replied = await inquiries.reply(uow, world.a, number, "同じ件で再度質問です。")
    assert replied.opened is not None and replied.opened.previous == number
    assert replied.label == inquiries.format_number(replied.opened.number)
    old, new = await inquiry(domain, number), await inquiry(domain, replied.opened.number)
    assert old.status == "closed"
    assert (new.status, new.previous_id, new.subject, new.support_id_id) == (
        "new",
        number,
        old.subject,
        old.support_id_id,
    )
    assert len(await outbox(domain, "inquiry_ack")) == 2


async def test_an_answered_inquiry_closes_itself_after_the_business_days_by_housekeeping(
    domain: Core, world: World, clock: FrozenClock
) -> None:
    number = await _opened(domain, world)
    await _answer(domain, number)
    clock.set(at("2026-12-09T23:00"))  # the day before its auto-close day
    assert (await housekeeping.purge(domain)).inquiries_closed == 0
    assert (await inquiry(domain, number)).status == "answered"
    clock.set(at("2026-12-10T00:30"))
    assert (await housekeeping.purge(domain)).inquiries_closed == 1
    row = await inquiry(domain, number)
    assert (row.status, row.autoclose_on) == ("closed", None)
    assert "inquiry.auto_closed" in await actions(domain)
    assert await inquiries.auto_close(domain) == 0


async def test_a_customer_message_stops_the_auto_close(
    domain: Core, world: World, clock: FrozenClock
) -> None:
    number = await _opened(domain, world)
    await _answer(domain, number)
    async with domain.uow() as uow:
        await inquiries.reply(uow, world.a, number, "追加の質問です。")
    clock.set(at("2026-12-20T12:00"))
    assert await inquiries.auto_close(domain) == 0
    assert (await inquiry(domain, number)).status == "in_progress"


async def test_an_outsider_cannot_reply_or_close_and_learns_nothing(domain: Core, world: World) -> None:
    number = await _opened(domain, world)
    for call in (inquiries.reply, inquiries.close):
        for target in (number, 999):
            with pytest.raises(NotFound) as caught:
                async with domain.uow() as uow:
                    if call is inquiries.reply:
                        await inquiries.reply(uow, world.c, target, "横から失礼します。")
                    else:
                        await inquiries.close(uow, world.c, target)
            assert caught.value.message_id == "inquiry.not_found"
    assert (await inquiry(domain, number)).status == "new"


async def test_every_change_is_audited(domain: Core, world: World) -> None:
    number = await _opened(domain, world)
    async with domain.uow() as uow:
        await inquiries.assign(uow, STAFF, number, STAFF.ref)
    await _answer(domain, number)
    async with domain.uow() as uow:
        await inquiries.reply(uow, world.a, number, "ありがとうございます。")
    async with domain.uow() as uow:
        await inquiries.close(uow, world.a, number)
    assert await actions(domain) == [
        "inquiry.opened",
        "inquiry.assigned",
        "inquiry.answered",
        "inquiry.reopened",
        "inquiry.closed",
    ]


async def test_a_mail_finds_its_inquiry_by_our_message_ids_or_its_own(domain: Core, world: World) -> None:
    number = await _opened(domain, world)
    await _answer(domain, number)
    async with domain.uow() as uow:
        await inquiries.reply(uow, world.a, number, "返信", message_id="<r9@customer-a.example.jp>")
    row = await inquiry(domain, number)
    [answer] = await outbox(domain, "inquiry_answer")
    async with domain.uow() as uow:
        assert await inquiries.threaded(uow, ["<other@x.example>", row.thread_id]) == number
        assert await inquiries.threaded(uow, [answer.message_id]) == number
        assert await inquiries.threaded(uow, ["<r9@customer-a.example.jp>"]) == number
        assert await inquiries.threaded(uow, ["<unknown@x.example>"]) is None
        assert await inquiries.threaded(uow, []) is None


async def test_a_closed_inquiry_takes_no_answer(domain: Core, world: World) -> None:
    number = await _opened(domain, world)
    async with domain.uow() as uow:
        await inquiries.close(uow, world.a, number)
    with pytest.raises(Conflict) as caught:
        await _answer(domain, number)
    assert caught.value.message_id == "inquiry.answer_closed"
    assert await outbox(domain, "inquiry_answer") == []
