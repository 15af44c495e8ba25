"""Outbound at mail speed: the outbox worker sends batches over a few persistent relay
sessions from each mail's signed return path, settles a batch in one transaction, and
writes one log line per mail. Real SMTP into an aiosmtpd sink throughout."""

from __future__ import annotations

import asyncio
import email
import logging
from datetime import timedelta
from email.policy import default
from typing import Any

import pytest
from sqlalchemy import event

from core import contact_window
from core.clock import FrozenClock
from core.outbox import enqueue_mail
from core.unit_of_work import Core
from tests.integration.mail.conftest import Sink, outbox_of, start_sink, worker_for

CONTEXT = {"username": "taro@customer.example", "company": "顧客A", "last_name": "山田", "first_name": "太郎"}


async def _queue(core: Core, *recipients: str) -> list[int]:
    """One username reminder per recipient, queued in one transaction."""
    async with core.uow() as uow:
        rows = [enqueue_mail(uow, "username_reminder", [to], CONTEXT) for to in recipients]
        await uow.commit()
        return [row.id for row in rows]


def _users(n: int) -> list[str]:
    return [f"user{i}@customer{i % 3}.example" for i in range(n)]


async def test_several_mails_go_over_one_relay_connection(domain: Core, sink: Sink) -> None:
    await _queue(domain, *_users(12))
    domain.settings.relay_connections = 1
    await worker_for(domain, sink).drain()
    assert len(sink.messages) == 12
    assert sink.connections == 1 and len(set(sink.peers)) == 1
    assert [r.status for r in await outbox_of(domain)] == ["sent"] * 12


async def test_the_pool_opens_no_more_sessions_than_configured(domain: Core, sink: Sink) -> None:
    await _queue(domain, *_users(40))
    domain.settings.relay_connections = 3
    await worker_for(domain, sink).drain()
    assert len(sink.messages) == 40
    assert sink.connections <= 3


async def test_a_session_is_renewed_after_its_message_limit(domain: Core, sink: Sink) -> None:
    await _queue(domain, *_users(5))
    domain.settings.relay_connections = 1
    domain.settings.relay_messages_per_connection = 2
    await worker_for(domain, sink).drain()
    assert len(sink.messages) == 5 and sink.connections == 3


async def test_an_idle_session_is_hung_up_and_a_new_one_opened_later(domain: Core, sink: Sink) -> None:
    domain.settings.relay_connections = 1
    domain.settings.relay_idle_seconds = 0.1
    worker = worker_for(domain, sink)
    await _queue(domain, "a@customer.example")
    await worker.run_once()
    await asyncio.sleep(0.4)  # idle: QUIT
    await _queue(domain, "b@customer.example")
    await worker.run_once()
    await worker.mail.close()
    assert len(sink.messages) == 2 and sink.connections == 2


async def test_the_envelope_sender_is_the_mails_signed_return_path(domain: Core, sink: Sink) -> None:
    ids = await _queue(domain, "a@customer.example", "b@customer.example")
    await worker_for(domain, sink).drain()
    settings = domain.settings
    by_recipient = {rcpts[0]: (mail_from, raw) for mail_from, rcpts, raw in sink.messages}
    for row_id, to in zip(ids, ["a@customer.example", "b@customer.example"], strict=True):
        mail_from, raw = by_recipient[to]
        assert mail_from == contact_window.return_path(settings, row_id)
        assert contact_window.bounced_outbox_id(settings, mail_from) == row_id
        header = email.message_from_bytes(raw, policy=default)
        assert header["From"].addresses[0].addr_spec == settings.mail_from  # the header From stays


async def test_a_4xx_for_one_recipient_of_a_batch_retries_only_that_one_and_keeps_the_session(
    domain: Core, sink: Sink, clock: FrozenClock
) -> None:
    users = _users(6)
    ids = await _queue(domain, *users)
    sink.rcpt_replies[users[2]] = "450 4.2.1 Mailbox busy"
    domain.settings.relay_connections = 1
    worker = worker_for(domain, sink)
    await worker.drain()
    rows = {r.id: r for r in await outbox_of(domain)}
    assert [rows[i].status for i in ids] == ["sent", "sent", "pending", "sent", "sent", "sent"]
    assert rows[ids[2]].attempts == 1 and "450" in rows[ids[2]].last_error
    assert sorted(r[0] for _f, r, _raw in sink.messages) == sorted(u for u in users if u != users[2])
    assert sink.connections == 1, "a refused recipient is RSET, not a reason to hang up"
    del sink.rcpt_replies[users[2]]
    clock.advance(timedelta(minutes=2))
    await worker.drain()
    assert [r.status for r in await outbox_of(domain)] == ["sent"] * 6
    assert sorted(r[0] for _f, r, _raw in sink.messages) == sorted(users)


async def test_a_5xx_in_a_batch_gives_up_with_the_alert_and_the_others_go(domain: Core, sink: Sink) -> None:
    users = _users(4)
    ids = await _queue(domain, *users)
    sink.rcpt_replies[users[1]] = "550 5.1.1 User unknown"
    domain.settings.relay_connections = 1
    await worker_for(domain, sink).drain()
    rows = {r.id: r for r in await outbox_of(domain, channel="mail")}
    assert [rows[i].status for i in ids] == ["sent", "failed", "sent", "sent"]
    assert "550" in rows[ids[1]].last_error and rows[ids[1]].sealed == ""
    [alert] = await outbox_of(domain, channel="slack")
    assert alert.context["message_id"] == "contact.alert.delivery_failed"
    assert alert.context["params"]["address"] == users[1]
    assert len(sink.messages) == 3 and sink.connections == 1


async def test_a_refused_sender_is_retried_without_marking_anybody(domain: Core, sink: Sink) -> None:
    """A relay refusing our MAIL FROM is a relay matter: no customer is bouncing."""

    class RefusingSender(Sink):
        async def handle_MAIL(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            return "553 5.7.1 Sender address rejected"

    handler = RefusingSender()
    controller = start_sink(handler)
    try:
        await _queue(domain, "a@customer.example")
        await worker_for(domain, handler).drain()
    finally:
        controller.stop()
    [row] = await outbox_of(domain, channel="mail")
    assert row.status == "pending" and "553" in row.last_error
    assert await outbox_of(domain, channel="slack") == []


class _DroppingSink(Sink):
    """Takes the ``drop_at``-th message and hangs up before answering it (the reply is
    lost: the sender cannot know it arrived); answers ``421`` to the MAIL after every
    ``close_every`` messages of a session and hangs up (a relay ending sessions)."""

    def __init__(self, drop_at: int = 0, close_every: int = 0) -> None:
        super().__init__()
        self.drop_at = drop_at
        self.close_every = close_every
        self.per_session: dict[Any, int] = {}

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.close_every and self.per_session.get(session.peer) == self.close_every:
            asyncio.get_running_loop().call_later(0.01, server.transport.close)
            return "421 4.3.2 closing this session"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.per_session[session.peer] = self.per_session.get(session.peer, 0) + 1
        if len(self.messages) == self.drop_at:
            server.transport.abort()
        return answer


async def test_a_relay_dropping_the_connection_mid_batch_loses_nothing_and_repeats_only_that_mail(
    domain: Core, clock: FrozenClock
) -> None:
    handler = _DroppingSink(drop_at=4)
    controller = start_sink(handler)
    users = _users(10)
    try:
        ids = await _queue(domain, *users)
        domain.settings.relay_connections = 2
        worker = worker_for(domain, handler)
        await worker.drain()
        rows = {r.id: r for r in await outbox_of(domain)}
        retried = [i for i in ids if rows[i].status == "pending"]
        assert len(retried) == 1, "only the mail whose answer was lost is tried again"
        assert all(rows[i].status == "sent" for i in ids if i not in retried)
        clock.advance(timedelta(minutes=2))
        await worker.drain()
    finally:
        controller.stop()
    assert [r.status for r in await outbox_of(domain)] == ["sent"] * 10
    delivered = [rcpts[0] for _f, rcpts, _raw in handler.messages]
    assert sorted(set(delivered)) == sorted(users), "nothing lost"
    assert len(delivered) == 11, "one mail twice (at least once), no other"
    assert handler.connections <= 4


async def test_a_session_the_relay_closed_between_messages_is_replaced_without_a_retry(domain: Core) -> None:
    handler = _DroppingSink(close_every=3)
    controller = start_sink(handler)
    try:
        await _queue(domain, *_users(9))
        domain.settings.relay_connections = 1
        await worker_for(domain, handler).drain()
    finally:
        controller.stop()
    rows = await outbox_of(domain)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1)] * 9
    assert len(handler.messages) == 9 and handler.connections == 3


async def test_a_batch_is_settled_in_one_transaction(domain: Core, sink: Sink) -> None:
    await _queue(domain, *_users(30))
    commits: list[int] = []
    listener = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(domain.engine.sync_engine, "commit", listener)
    try:
        await worker_for(domain, sink, batch=30).drain()
    finally:
        event.remove(domain.engine.sync_engine, "commit", listener)
    assert len(sink.messages) == 30
    # Re-queue stale rows, claim, settle, and the claim that finds nothing: not one per mail.
    assert len(commits) <= 5, commits


async def test_a_queued_mail_wakes_the_worker_at_once(domain: Core, sink: Sink) -> None:
    worker = worker_for(domain, sink, poll_seconds=60)
    await worker.start()
    try:
        await asyncio.sleep(0.1)  # the first pass found nothing: the worker waits
        await _queue(domain, "a@customer.example")
        for _ in range(100):
            if sink.messages:
                break
            await asyncio.sleep(0.02)
        assert len(sink.messages) == 1, "not left waiting for the next poll"
    finally:
        await worker.stop()


async def test_one_log_line_per_outbound_mail_without_addresses(
    domain: Core, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _queue(
        domain, "taro@customer-a.example", "hanako@customer-b.example", "jiro@customer-c.example"
    )
    sink.rcpt_replies["hanako@customer-b.example"] = "450 4.2.1 Mailbox busy for hanako@customer-b.example"
    sink.rcpt_replies["jiro@customer-c.example"] = "550 5.1.1 jiro@customer-c.example unknown"
    with caplog.at_level(logging.INFO, logger="madoguchi.outbox"):
        await worker_for(domain, sink).drain()
    lines = [r for r in caplog.records if r.name == "madoguchi.outbox"]
    assert sorted((r.outbox, r.result) for r in lines) == [  # type: ignore[attr-defined]
        (ids[0], "sent"),
        (ids[1], "retry"),
        (ids[2], "failed"),
    ]
    for record in lines:
        assert record.template == "username_reminder"  # type: ignore[attr-defined]
        text = record.getMessage() + repr(record.__dict__)
        for local in ("taro@", "hanako@", "jiro@"):
            assert local not in text
    assert [r.domains for r in sorted(lines, key=lambda r: r.outbox)] == [  # type: ignore[attr-defined]
        ["customer-a.example"],
        ["customer-b.example"],
        ["customer-c.example"],
    ]


async def test_without_a_relay_eml_files_name_the_return_path(domain: Core) -> None:
    [row_id] = await _queue(domain, "a@customer.example")
    await worker_for(domain).drain()
    [path] = list(domain.settings.outbox_dir.glob("*.eml"))
    msg = email.message_from_bytes(path.read_bytes(), policy=default)
    assert msg["Return-Path"] == f"<{contact_window.return_path(domain.settings, row_id)}>"
    assert msg["From"].addresses[0].addr_spec == domain.settings.mail_from


async def test_a_relay_that_stops_answering_costs_one_retry_and_the_session(domain: Core) -> None:
    class Silent(Sink):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if not self.messages and not getattr(self, "stalled", False):
                self.stalled = True
                await asyncio.sleep(3)
            return await super().handle_DATA(server, session, envelope)

    handler = Silent()
    controller = start_sink(handler)
    try:
        await _queue(domain, *_users(3))
        domain.settings.relay_connections = 1
        domain.settings.relay_timeout_seconds = 0.5
        await worker_for(domain, handler).drain()
    finally:
        controller.stop()
    rows = await outbox_of(domain)
    assert sorted(r.status for r in rows) == ["pending", "sent", "sent"]
    [stalled] = [r for r in rows if r.status == "pending"]
    assert "TimeoutError" in stalled.last_error
    assert handler.connections == 2, "the stalled session is dropped, a new one carries the rest"
