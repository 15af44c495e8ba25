"""With ``MADOGUCHI_RELAY_PROCESS=true`` outbox mail is rendered and sent by a sender process of its
own (``mail.sender_process``), a batch per pipe message: the same mail, the same return
path, the same reading of the relay's replies as in the service, over persistent
sessions kept in the child; a child that dies loses no mail. Real SMTP into an aiosmtpd
sink throughout."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import threading
from datetime import timedelta
from email.policy import default
from typing import Any

from core import contact_window
from core.clock import FrozenClock
from core.outbox import enqueue_mail
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from mail.sender_process import SenderProcessTransport
from mail.transport import build_transport
from tests.integration.mail.conftest import Sink, outbox_of, start_sink

CONTEXT = {"username": "taro@customer.example", "company": "顧客A", "last_name": "山田", "first_name": "太郎"}


async def _queue(core: Core, *recipients: str) -> list[int]:
    async with core.uow() as uow:
        rows = [enqueue_mail(uow, "username_reminder", [to], CONTEXT) for to in recipients]
        await uow.commit()
        return [row.id for row in rows]


def _worker(core: Core, sink: Sink) -> tuple[OutboxWorker, SenderProcessTransport]:
    """The worker as ``madoguchi serve`` wires it to a relay with the sender process."""
    core.settings.relay_url = f"smtp://127.0.0.1:{sink.port}"
    transport = build_transport(core.settings, own_process=True)
    assert isinstance(transport, SenderProcessTransport)
    return OutboxWorker(core, transport), transport


async def test_a_batch_goes_out_from_the_sender_process_over_persistent_sessions(
    domain: Core, sink: Sink
) -> None:
    users = [f"user{i}@customer{i % 3}.example" for i in range(12)]
    ids = await _queue(domain, *users)
    domain.settings.relay_connections = 2
    worker, transport = _worker(domain, sink)
    try:
        await worker.run_once()
        child = transport.pid
        assert child is not None and child != os.getpid()
        assert await _queue(domain, "late@customer.example")
        await worker.run_once()
        assert transport.pid == child, "one child for every batch"
    finally:
        await worker.mail.close()
    assert transport.pid is None
    assert [r.status for r in await outbox_of(domain)] == ["sent"] * 13
    assert sink.connections <= 2, "sessions kept open in the child across batches"
    by_recipient = {rcpts[0]: (mail_from, raw) for mail_from, rcpts, raw in sink.messages}
    assert sorted(by_recipient) == sorted([*users, "late@customer.example"])
    for row_id, to in zip(ids, users, strict=True):
        mail_from, raw = by_recipient[to]
        assert mail_from == contact_window.return_path(domain.settings, row_id)
        message = email.message_from_bytes(raw, policy=default)
        assert message["To"] == to
        assert message["From"].addresses[0].addr_spec == domain.settings.mail_from
        assert "taro@customer.example" in message.get_body(("plain",)).get_content()


async def test_the_relays_refusals_reach_core_from_the_sender_process(
    domain: Core, sink: Sink, clock: FrozenClock
) -> None:
    sink.rcpt_replies = {
        "gone@customer.example": "550 5.1.1 no such user",
        "busy@customer.example": "450 4.2.1 try later",
    }
    ids = await _queue(domain, "gone@customer.example", "busy@customer.example", "ok@customer.example")
    worker, _transport = _worker(domain, sink)
    await worker.drain()
    rows = {r.id: r for r in await outbox_of(domain, channel="mail")}
    gone, busy, ok = (rows[i] for i in ids)
    assert gone.status == "failed" and "550" in gone.last_error
    assert busy.status == "pending" and "450" in busy.last_error
    assert ok.status == "sent"
    assert [rcpts for _f, rcpts, _raw in sink.messages] == [["ok@customer.example"]]
    assert await outbox_of(domain, channel="slack"), "staff told of the refusal, as in the service"


class _HeldSink(Sink):
    """Holds the first DATA until ``release`` is set (the test kills the sender meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.arrived.is_set():
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        return await super().handle_DATA(server, session, envelope)


async def test_a_sender_process_killed_mid_batch_loses_nothing_and_the_next_batch_starts_a_new_one(
    domain: Core, clock: FrozenClock
) -> None:
    handler = _HeldSink()
    controller = start_sink(handler)
    users = [f"user{i}@customer.example" for i in range(3)]
    try:
        await _queue(domain, *users)
        domain.settings.relay_connections = 1
        worker, transport = _worker(domain, handler)
        batch = asyncio.create_task(worker.run_once())
        assert await asyncio.to_thread(handler.arrived.wait, 60), "the first mail reached the relay"
        child = transport.pid
        assert child is not None
        os.kill(child, signal.SIGKILL)
        await batch
        handler.release.set()
        rows = await outbox_of(domain)
        assert [r.status for r in rows] == ["pending"] * 3, "the whole batch again later"
        assert all(r.attempts == 1 and r.last_error for r in rows)
        clock.advance(timedelta(minutes=2))
        await worker.drain()
        assert transport.pid is None
    finally:
        handler.release.set()
        controller.stop()
    assert [r.status for r in await outbox_of(domain)] == ["sent"] * 3
    assert sorted({rcpts[0] for _f, rcpts, _raw in handler.messages}) == users, "nothing lost"
