"""Who sees an inquiry (SPEC §4.8): every contact of its support ID, the asker always,
staff; anyone else gets exactly the answer a number that does not exist gets. And the
lists: a customer's (open unless all, newest first, paged) and staff's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete

from core import inquiries
from core.activation import AccountPending
from core.clock import FrozenClock
from core.errors import Forbidden, NotFound
from core.messages import render
from core.models import SupportIdContact
from core.unit_of_work import Core
from tests.integration.inquiries.conftest import STAFF, STAFF2, World


async def _open(core: Core, world: World, subject: str = "質問", **fields: object) -> int:
    values: dict[str, object] = {"support_id": "ACME_A", "product": "製品Aファミリ"}
    values.update(fields)
    actor = values.pop("actor", world.a)
    async with core.uow() as uow:
        opened = await inquiries.open_inquiry(uow, actor, subject=subject, body="本文", **values)  # type: ignore[arg-type]
    return opened.number


async def test_a_colleague_on_the_support_id_sees_the_whole_thread(domain: Core, world: World) -> None:
    number = await _open(domain, world)
    async with domain.uow() as uow:
        detail = await inquiries.show(uow, world.b, number)
        listed = await inquiries.list_for_user(uow, world.b)
    assert detail.label == "INQ-000001" and detail.summary.asker == "山田 太郎"
    assert detail.summary.support_id == "ACME_A" and detail.summary.status == "new"
    assert [m.body for m in detail.messages] == ["本文"]
    assert [i.number for i in listed.items] == [number]


async def test_an_outsider_gets_the_same_answer_as_for_a_number_that_does_not_exist(
    domain: Core, world: World
) -> None:
    number = await _open(domain, world)
    answers = []
    for target in (number, number + 1000):
        with pytest.raises(NotFound) as caught:
            async with domain.uow() as uow:
                await inquiries.show(uow, world.c, target)
        label = inquiries.format_number(target)
        answers.append(render(caught.value.message_id, "ja", **caught.value.params).replace(label, "#"))
    assert answers[0] == answers[1] and "#" in answers[0]
    async with domain.uow() as uow:
        assert (await inquiries.list_for_user(uow, world.c)).items == ()
        with pytest.raises(NotFound):
            await inquiries.list_for_user(uow, world.c, "ACME_A")


async def test_the_asker_still_sees_it_after_leaving_the_support_id(domain: Core, world: World) -> None:
    number = await _open(domain, world)
    async with domain.uow() as uow:
        await uow.session.execute(
            delete(SupportIdContact).where(SupportIdContact.account_id == world.alice.id)
        )
        await uow.commit()
    async with domain.uow() as uow:
        assert (await inquiries.show(uow, world.a, number)).number == number
        assert [i.number for i in (await inquiries.list_for_user(uow, world.a)).items] == [number]


async def test_an_other_inquiry_without_a_support_id_is_seen_by_its_asker_and_staff_only(
    domain: Core, world: World
) -> None:
    number = await _open(domain, world, support_id=None, product="その他")
    async with domain.uow() as uow:
        assert (await inquiries.show(uow, world.a, number)).summary.support_id is None
        assert (await inquiries.show(uow, STAFF, number)).number == number
        with pytest.raises(NotFound):
            await inquiries.show(uow, world.b, number)


async def test_a_pending_account_reads_nothing(domain: Core, world: World) -> None:
    number = await _open(domain, world)
    async with domain.uow() as uow:
        for call in (inquiries.show(uow, world.d, number), inquiries.list_for_user(uow, world.d)):
            with pytest.raises(AccountPending) as caught:
                await call
            assert caught.value.message_id == "accounts.pending"


async def test_the_list_is_open_ones_newest_first_unless_all_and_paged(
    domain: Core, world: World, clock: FrozenClock
) -> None:
    numbers = []
    for n in range(12):
        numbers.append(await _open(domain, world, subject=f"質問{n}"))
        clock.advance(timedelta(minutes=1))
    async with domain.uow() as uow:
        await inquiries.close(uow, world.a, numbers[0])
    async with domain.uow() as uow:
        first = await inquiries.list_for_user(uow, world.b)
        second = await inquiries.list_for_user(uow, world.b, page=2)
        everything = await inquiries.list_for_user(uow, world.b, include_closed=True, page=2)
        by_id = await inquiries.list_for_user(uow, world.b, "acme_a")
    assert [i.number for i in first.items] == numbers[:0:-1][:10] and first.has_more
    assert [i.number for i in second.items] == [numbers[1]] and not second.has_more
    # Closing counts as the newest change.
    assert [i.number for i in everything.items] == numbers[2:0:-1]
    assert by_id.items == first.items


async def test_staff_lists_open_overdue_mine_and_by_support_id(
    domain: Core, world: World, clock: FrozenClock
) -> None:
    a = await _open(domain, world, subject="A")
    b = await _open(domain, world, subject="B")
    c = await _open(domain, world, subject="C", actor=world.c, support_id="QUUX_Q", product="製品Bファミリ")
    async with domain.uow() as uow:
        await inquiries.assign(uow, STAFF, b, STAFF.ref)
        await inquiries.answer(uow, STAFF2, c, "回答")  # the answerer takes it
    clock.advance(timedelta(days=6))  # past the due date of all three
    async with domain.uow() as uow:
        opened = await inquiries.list_for_staff(uow, STAFF, "open")
        overdue = await inquiries.list_for_staff(uow, STAFF, "overdue")
        mine = await inquiries.list_for_staff(uow, STAFF, "mine")
        of_id = await inquiries.list_for_staff(uow, STAFF, "QUUX_Q")
        all_overdue = await inquiries.overdue(uow, STAFF)
        with pytest.raises(Forbidden):
            await inquiries.list_for_staff(uow, world.a, "open")
    assert sorted(i.number for i in opened.items) == [a, b, c]
    assert [i.number for i in overdue.items] == [a, b]  # answered: waiting for the customer
    assert all(i.overdue for i in overdue.items)
    assert [i.number for i in mine.items] == [b]
    assert [i.number for i in of_id.items] == [c]
    assert tuple(all_overdue) == overdue.items
