"""The one queue that decides whether a transaction waits (core/storage/queue.py)."""

from __future__ import annotations

import asyncio

import pytest

from core.storage import queue as turns
from core.storage.queue import Priority, TurnQueue


async def _holders(q: TurnQueue, order: list[str], name: str, priority: Priority) -> None:
    await q.acquire(priority)
    order.append(name)
    await asyncio.sleep(0)
    q.release()


async def test_waiters_get_turns_in_arrival_order() -> None:
    q = TurnQueue(1)
    await q.acquire()
    order: list[str] = []
    tasks = [asyncio.create_task(_holders(q, order, n, Priority.INTERACTIVE)) for n in "abcd"]
    await asyncio.sleep(0)
    assert q.waiting() == 4
    q.release()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d"]


async def test_a_waiting_request_goes_before_background_work_that_came_first() -> None:
    q = TurnQueue(1)
    await q.acquire()
    order: list[str] = []
    tasks = [asyncio.create_task(_holders(q, order, "batch-1", Priority.BACKGROUND))]
    tasks.append(asyncio.create_task(_holders(q, order, "batch-2", Priority.BACKGROUND)))
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(_holders(q, order, "smtp-250", Priority.INTERACTIVE)))
    await asyncio.sleep(0)
    q.release()
    await asyncio.gather(*tasks)
    assert order == ["smtp-250", "batch-1", "batch-2"]


async def test_background_work_does_not_barge_past_waiting_requests_on_a_free_turn() -> None:
    q = TurnQueue(2)
    await q.acquire()
    await q.acquire()
    order: list[str] = []
    waiting = asyncio.create_task(_holders(q, order, "request", Priority.INTERACTIVE))
    await asyncio.sleep(0)
    q.release()  # handed straight to the waiting request, not left free
    late = asyncio.create_task(_holders(q, order, "background", Priority.BACKGROUND))
    await asyncio.gather(waiting, late)
    assert order == ["request", "background"]
    q.release()
    assert q.waiting() == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_loses_no_turn() -> None:
    q = TurnQueue(1)
    await q.acquire()
    gone = asyncio.create_task(q.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert q.waiting() == 0
    q.release()
    await asyncio.wait_for(q.acquire(), 1)  # the turn is free again
    q.release()


async def test_a_turn_waited_for_too_long_fails_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "TURN_TIMEOUT_SECONDS", 0.05)
    q = TurnQueue(1)
    await q.acquire()
    with pytest.raises(TimeoutError):
        await q.acquire()
    assert q.waiting() == 0
    q.release()
    await asyncio.wait_for(q.acquire(), 1)


async def test_background_work_lets_a_request_that_is_ready_ask_first() -> None:
    q = TurnQueue(1)
    order: list[str] = []
    background = asyncio.create_task(_holders(q, order, "background", Priority.BACKGROUND))
    request = asyncio.create_task(_holders(q, order, "request", Priority.INTERACTIVE))
    await asyncio.gather(background, request)
    assert order == ["request", "background"]


async def test_a_free_turn_waits_a_moment_for_a_request_before_background_work_takes_it() -> None:
    q = TurnQueue(1)
    await q.acquire()
    order: list[str] = []
    background = asyncio.create_task(_holders(q, order, "background", Priority.BACKGROUND))
    await asyncio.sleep(0.01)  # queued behind the holder
    q.release()  # nobody interactive is waiting: the turn is free for a moment ...
    await q.acquire()  # ... and the SMTP door's next group commit takes it at once
    order.append("store")
    q.release()
    await background
    assert order == ["store", "background"]
    assert q.waiting() == 0
