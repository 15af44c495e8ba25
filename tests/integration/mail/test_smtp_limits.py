"""Nobody holds the SMTP door: a cap on sessions per client, and a session's whole life
bounded however busy it keeps itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import inbound_of, make_mail


async def _connect(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A bare client from ``source`` (all of 127.0.0.0/8 is this machine)."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def test_one_client_gets_421_over_its_own_cap_while_others_are_still_served(domain: Core) -> None:
    server = SMTPServer(
        domain, host="127.0.0.1", port=0, process=False, max_sessions=50, max_sessions_per_client=3
    )
    await server.start()
    held = []
    try:
        for _ in range(3):
            reader, writer = await _connect(server.port)
            held.append(writer)
            assert (await reader.readline()).startswith(b"220")
        reader, writer = await _connect(server.port)
        held.append(writer)
        greeting = await reader.readline()
        assert greeting.startswith(b"421 4.7.0")
        assert await reader.read() == b""  # and closed
        # Another client is still served, though the first holds its whole share.
        reader, writer = await _connect(server.port, source="127.0.0.2")
        held.append(writer)
        assert (await reader.readline()).startswith(b"220")
        # A slot given back is a slot the first client may use again.
        held.pop(0).close()
        await asyncio.sleep(0.1)
        reader, writer = await _connect(server.port)
        held.append(writer)
        assert (await reader.readline()).startswith(b"220")
    finally:
        for writer in held:
            writer.close()
        await server.stop()
    assert server.handler.clients == {} and server.handler.sessions == 0


async def test_the_per_client_cap_comes_from_the_settings(domain: Core) -> None:
    domain.settings.smtp_max_sessions_per_client = 1
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False)
    await server.start()
    try:
        first = await _connect(server.port)
        assert (await first[0].readline()).startswith(b"220")
        second = await _connect(server.port)
        assert (await second[0].readline()).startswith(b"421")
        for _reader, writer in (first, second):
            writer.close()
    finally:
        await server.stop()


async def test_noop_does_not_keep_a_session_alive_past_its_lifetime(domain: Core) -> None:
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, session_seconds=1.0, idle_timeout=30)
    await server.start()
    try:
        reader, writer = await _connect(server.port)
        assert (await reader.readline()).startswith(b"220")
        started = time.monotonic()
        replies = []
        while time.monotonic() - started < 5:
            writer.write(b"NOOP\r\n")
            line = await asyncio.wait_for(reader.readline(), 5)
            if not line:
                break
            replies.append(line)
            if line.startswith(b"421"):
                assert await reader.read() == b""  # closed after the 421
                break
            await asyncio.sleep(0.1)
        writer.close()
        assert replies[0].startswith(b"250")
        assert replies[-1].startswith(b"421 4.4.2")
        assert (
            time.monotonic() - started > 0.9
        )  # the lifetime, not an early close (the loop bounds it at 5 s)
    finally:
        await server.stop()


async def test_a_session_over_its_lifetime_mid_store_gets_its_250_then_421(domain: Core) -> None:
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, session_seconds=0.5)
    real = server.store.store_many

    async def slow(items: list[tuple[bytes, str, list[str]]], committed: Any = None) -> list[bool]:
        await asyncio.sleep(1.0)  # the lifetime ends while the message is being committed
        return await real(items, committed)

    server.store.store_many = slow  # type: ignore[method-assign]
    await server.start()
    try:
        reader, writer = await _connect(server.port)
        await reader.readline()
        writer.write(
            b"HELO c\r\nMAIL FROM:<a@customer.example>\r\nRCPT TO:<contact@support.example.com>\r\nDATA\r\n"
            + make_mail()
            + b".\r\n"
        )
        lines = [await asyncio.wait_for(reader.readline(), 5) for _ in range(5)]
        assert [line[:3] for line in lines] == [b"250", b"250", b"250", b"354", b"250"]
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"421 4.4.2")
        writer.close()
    finally:
        await server.stop()
    assert len(await inbound_of(domain)) == 1
