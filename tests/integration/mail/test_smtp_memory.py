"""Large mail does not pile up in memory: DATA is spooled to disk above a threshold, the
group commit reads back only a bounded number of bytes at a time, and the processor's
batches are bounded by bytes as well as by count."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

from core import contact_window
from core.unit_of_work import Core
from mail.inbound import InboundProcessor
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import CONTACT, inbound_of, make_mail, send

MIB = 1024 * 1024


def _large_mail(n: int, size: int) -> bytes:
    """A mail of about ``size`` bytes whose lines start with dots now and then (stuffed
    by the client, unstuffed by us, across chunk boundaries)."""
    head = make_mail(subject=f"large {n}", body="添付します。")
    lines = []
    total = len(head)
    i = 0
    while total < size:
        line = (b"." if i % 7 == 0 else b"") + (b"%08d " % i) + b"x" * 60 + b"\r\n"
        lines.append(line)
        total += len(line)
        i += 1
    return head + b"".join(lines)


async def _stream(port: int, n: int, size: int, block: bytes) -> bytes:
    """A client that writes its message in blocks, as a real MTA streams from disk, so the
    only copies of it in this process are the server's; returns the final reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.1.{n + 1}", 0))
    await reader.readline()
    writer.write(
        f"HELO c{n}\r\nMAIL FROM:<u{n}@customer.example>\r\nRCPT TO:<{CONTACT}>\r\nDATA\r\n".encode()
    )
    for _ in range(4):
        await reader.readline()
    writer.write(f"Subject: {n}\r\n\r\n".encode())
    for _ in range(size // len(block)):
        writer.write(block)
        await writer.drain()
    writer.write(b".\r\nQUIT\r\n")
    reply = await reader.readline()
    writer.close()
    return reply


async def test_a_large_message_is_spooled_to_disk_and_stored_byte_for_byte(domain: Core) -> None:
    domain.settings.smtp_spool_bytes = 64 * 1024
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False)
    await server.start()
    try:
        raw = _large_mail(1, 3 * MIB)
        assert await send(server.port, raw) == {}
    finally:
        await server.stop()
    [row] = await inbound_of(domain)
    assert row.raw == raw


async def test_concurrent_large_messages_are_never_all_in_memory_at_once(domain: Core) -> None:
    """Ten clients each stream a 2 MiB message at the same time. Held in memory, as the
    door did, that is 20 MiB of messages, and every one was copied twice more on its way
    to the database; spooled and committed a few MiB at a time, the door's own memory
    stays a fraction of that."""
    domain.settings.smtp_spool_bytes = 64 * 1024
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, max_sessions_per_client=0)
    server.store.max_batch_bytes = 2 * MIB
    await server.start()
    block = (b"y" * 1022 + b"\r\n") * 64  # 64 KiB of 1 KiB lines
    clients = 10
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        replies = await asyncio.gather(*(_stream(server.port, n, 2 * MIB, block) for n in range(clients)))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await server.stop()
    assert all(reply.startswith(b"250") for reply in replies), replies
    rows = await inbound_of(domain)
    assert len(rows) == clients and all(len(row.raw) > 2 * MIB for row in rows)
    assert peak < clients * 2 * MIB / 2, f"peak {peak / MIB:.1f} MiB"


async def test_the_processor_takes_a_batch_bounded_by_bytes(domain: Core, smtp: SMTPServer) -> None:
    for n in range(4):
        await send(smtp.port, _large_mail(n, 600 * 1024))
    await send(smtp.port, make_mail(subject="small"))
    ids = [row.id for row in await inbound_of(domain)]

    async def pending(limit: int, max_bytes: int) -> list[int]:
        async with domain.uow() as uow:
            return [r[0] for r in await contact_window.load_pending(uow, limit, 0, max_bytes=max_bytes)]

    assert await pending(50, 100 * 1024) == ids[:1]  # a mail larger than the budget comes alone
    assert await pending(50, MIB) == ids[:1]
    assert await pending(50, 2 * MIB) == ids[:3]
    assert await pending(2, 2 * MIB) == ids[:2]
    assert await pending(50, 10 * MIB) == ids
    processor = InboundProcessor(domain, batch_bytes=MIB, parse_processes=0)
    sizes = []
    while outcomes := await processor.run_once():
        sizes.append(len(outcomes))
    assert sizes == [1, 1, 1, 2]  # the fourth large mail and the small one fit together


async def test_a_batch_of_large_mail_is_processed_before_the_next_is_read(
    domain: Core, smtp: SMTPServer
) -> None:
    """Small mail: the next batch is read (and parsed) while one is processed. Large mail
    (over half the byte budget): never two batches in memory at once."""
    for n in range(3):
        await send(smtp.port, _large_mail(n, 700 * 1024))
    for n in range(4):
        await send(smtp.port, make_mail(subject=f"small {n}", sender=f"s{n}@customer.example"))
    ids = [row.id for row in await inbound_of(domain)]
    name = {inbound_id: f"L{n + 1}" if n < 3 else f"S{n - 2}" for n, inbound_id in enumerate(ids)}
    processor = InboundProcessor(domain, batch_bytes=MIB, batch_size=2, parse_processes=0, gather_seconds=0)
    events: list[str] = []
    load, process = processor._load, processor._process_batch

    async def spy_load(after: int, limit: int | None = None) -> list[tuple[int, bytes, str, list[str]]]:
        batch = await load(after, limit)
        events.append("read " + "+".join(name[row[0]] for row in batch))
        return batch

    async def spy_process(batch: Any, assessed: Any) -> list[contact_window.Outcome]:
        events.append("process " + "+".join(name[row[0]] for row in batch))
        return await process(batch, assessed)

    processor._load = spy_load  # type: ignore[method-assign]
    processor._process_batch = spy_process  # type: ignore[method-assign]
    assert await processor._pass() == 7
    assert events == [
        "read L1",
        "process L1",  # large: processed and let go before the next is read
        "read L2",
        "process L2",
        "read L3+S1",
        "process L3+S1",
        "read S2+S3",
        "read S4",  # small: read ahead while S2+S3 are processed
        "process S2+S3",
        "read ",
        "process S4",
    ]


async def test_a_slow_data_and_a_slow_store_are_not_idle(domain: Core) -> None:
    """aiosmtpd restarts its idle timer per command only: a DATA streaming longer than the
    idle timeout, or waiting longer than it for its turn at the store (a hundred 10 MiB
    messages at once), had its session closed unanswered. The timer now restarts with
    every chunk read (at most ``READ_LIMIT`` bytes) and waits while the store runs."""
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, idle_timeout=0.3)
    store_many = server.store.store_many

    async def slow_store(items: list[tuple[bytes, str, list[str]]], committed: Any = None) -> list[bool]:
        await asyncio.sleep(0.6)
        return await store_many(items, committed)

    server.store.store_many = slow_store  # type: ignore[method-assign]
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await reader.readline()
        writer.write(f"HELO c\r\nMAIL FROM:<u@customer.example>\r\nRCPT TO:<{CONTACT}>\r\nDATA\r\n".encode())
        for _ in range(4):
            await reader.readline()
        writer.write(b"Subject: slow\r\n\r\n")
        for n in range(6):  # 1.2 s of DATA, a chunk's worth (READ_LIMIT) every 0.2 s
            writer.write((b"x" * 998 + b"\r\n") * 40 + b"line %d\r\n" % n)
            await writer.drain()
            await asyncio.sleep(0.2)
        writer.write(b".\r\n")
        reply = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
    finally:
        await server.stop()
    assert reply.startswith(b"250"), reply
    [row] = await inbound_of(domain)
    assert row.raw.endswith(b"line 5\r\n")
