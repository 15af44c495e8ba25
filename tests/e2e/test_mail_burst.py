"""Nothing accepted is ever lost (SPEC §4.6, §9), with real ``serve`` processes.

A burst of 500 contact-window mails over 8 SMTP connections; one process is stopped
(SIGTERM) or killed in the middle. The senders behave like MTAs: a message that did not
get ``250`` is sent again later (to the restarted or the surviving instance). In the end
every message is one request and got exactly one acknowledgement.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from core.models import InboundMail, OutboxMessage, Request
from core.storage import create_engine
from madoguchi.serve import COMPONENTS, smtp_door
from tests.e2e.serving import Burst, ServeProcess, acks_in, base_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        smtp_door not in COMPONENTS,
        reason="the mail door is not wired into serve",
    ),
]

TOTAL = 500
ACK = "request_ack"


async def _counts(url: str) -> tuple[int, int, int, set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            inbound = await conn.scalar(select(func.count()).select_from(InboundMail))
            requests = await conn.scalar(select(func.count()).select_from(Request))
            acks = await conn.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.template == ACK)
            )
            raws = (await conn.execute(select(InboundMail.raw))).scalars().all()
    finally:
        await engine.dispose()
    ids = {str(message_from_bytes(raw)["Message-ID"]) for raw in raws}
    return int(inbound or 0), int(requests or 0), int(acks or 0), ids


async def _wait_for_acks(outbox: Path, expected: int, timeout: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = await asyncio.to_thread(acks_in, outbox)
        if len(counts) >= expected:
            await asyncio.sleep(2)  # anything sent twice would show up now
            return await asyncio.to_thread(acks_in, outbox)
        await asyncio.sleep(0.5)
    return counts


def _all_ids() -> set[str]:
    return {f"<burst-{n:04d}@customer.example.jp>" for n in range(TOTAL)}


async def _interrupted_burst(target: dict[int, int] | int, at: int, interrupt: object) -> Burst:
    burst = Burst()
    reached = threading.Event()
    sender = threading.Thread(
        target=burst.send, args=(target, range(TOTAL)), kwargs={"on_accept": reached, "at": at}
    )
    sender.start()
    assert await asyncio.to_thread(reached.wait, 120), "the burst never got going"
    await asyncio.to_thread(interrupt)  # type: ignore[arg-type]
    await asyncio.to_thread(sender.join, 120)
    return burst


async def test_sigterm_mid_burst_loses_no_accepted_mail_and_acknowledges_each_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'madoguchi.db'}"
    env = base_env(tmp_path, url)
    first = ServeProcess(tmp_path, env, "first")
    second = ServeProcess(tmp_path, env, "second")
    exit_codes: list[int] = []
    try:
        await asyncio.to_thread(first.start)
        burst = await _interrupted_burst(first.smtp_port, 150, lambda: exit_codes.append(first.terminate()))
        assert exit_codes == [0]
        accepted_before = set(burst.accepted)
        assert 150 <= len(accepted_before) < TOTAL, "SIGTERM came too late to interrupt anything"

        await asyncio.to_thread(second.start)
        _, _, _, stored = await _counts(url)
        assert {f"<burst-{n:04d}@customer.example.jp>" for n in accepted_before} <= stored

        retry = Burst()
        await asyncio.to_thread(retry.send, second.smtp_port, sorted(set(range(TOTAL)) - accepted_before))
        assert accepted_before | retry.accepted == set(range(TOTAL))

        acks = await _wait_for_acks(tmp_path / "var" / "outbox", TOTAL)
        assert set(acks) == _all_ids()
        assert set(acks.values()) == {1}
        inbound, requests, ack_rows, _ = await _counts(url)
        assert (inbound, requests, ack_rows) == (TOTAL, TOTAL, TOTAL)
        status, metrics = await asyncio.to_thread(second.get, "/metrics")
        assert status == 200
        assert re.search(rb'madoguchi_mails_in_total\{result="accepted"\} [1-9]', metrics)
        assert re.search(rb'madoguchi_mails_out_total\{channel="mail",result="sent"\} [1-9]', metrics)
        assert await asyncio.to_thread(second.terminate) == 0
    finally:
        first.ensure_stopped()
        second.ensure_stopped()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.skip("TEST_DATABASE_URL is not set: two instances need PostgreSQL")
    import asyncpg

    parsed = make_url(admin)
    name = f"madoguchi_e2e_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password,
            database=parsed.database or "postgres",
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await run(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        await run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _age_claims_of(url: str, pid: int) -> None:
    """What five minutes would do: the dead instance's claims become stale."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE outbox SET claimed_at = claimed_at - interval '1 hour' "
                    "WHERE status = 'sending' AND claimed_by LIKE :pattern"
                ),
                {"pattern": f"%:{pid}:%"},
            )
    finally:
        await engine.dispose()


async def test_two_instances_share_a_burst_and_a_killed_one_loses_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    env = base_env(tmp_path, pg_url)
    a = ServeProcess(tmp_path, env, "a")
    b = ServeProcess(tmp_path, env, "b")
    try:
        # Started together: both migrate, one waits for the other on the advisory lock.
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        burst = await _interrupted_burst({0: a.smtp_port, 1: b.smtp_port}, 200, b.kill)
        assert 200 <= len(burst.accepted) < TOTAL
        await _age_claims_of(pg_url, b.pid)

        retry = Burst()
        await asyncio.to_thread(retry.send, a.smtp_port, sorted(set(range(TOTAL)) - burst.accepted))
        assert burst.accepted | retry.accepted == set(range(TOTAL))

        acks = await _wait_for_acks(tmp_path / "var" / "outbox", TOTAL)
        assert set(acks) == _all_ids()
        assert set(acks.values()) == {1}
        inbound, requests, ack_rows, _ = await _counts(pg_url)
        assert (inbound, requests, ack_rows) == (TOTAL, TOTAL, TOTAL)
        assert await asyncio.to_thread(a.terminate) == 0
    finally:
        a.ensure_stopped()
        b.ensure_stopped()
