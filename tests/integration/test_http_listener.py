"""serve's HTTP listener (madoguchi/listener.py) against clients that hold it: a client
trickling its headers is cut off while a signed Slack command is answered; a body that
does not arrive gets 408; connections over the cap get 503, said once in the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest

from core.config import Settings
from madoguchi import listener
from madoguchi.serve import Server, slack_door
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import BOT_TOKEN, SIGNING_SECRET, sign

# Generous: the point is that the command is answered at all while the slow client
# holds its connection, not how fast on a busy test machine.
ANSWER_BOUND = 20.0


@pytest.fixture
async def server(
    settings: Settings, fake: FakeSlack, request: pytest.FixtureRequest
) -> AsyncIterator[Server]:
    limits = getattr(request, "param", {})
    configured = settings.model_copy(
        update={
            "http_port": 0,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.url,
            **limits,
        }
    )
    running = Server(configured, components=[slack_door], migrate=False)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def _slack_help(server: Server) -> str:
    body = urlencode({"command": "/support", "text": "help", "team_id": "T1", "user_id": "U1"})
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    url = f"http://127.0.0.1:{server.http_port}/slack/events"
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        assert resp.status == 200
        return await resp.text()


async def _trickle(writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    """A header byte every 100 ms, never the blank line that ends the headers."""
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    while not stop.is_set():
        try:
            writer.write(b"a")
            await writer.drain()
        except (ConnectionError, RuntimeError):
            return
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("server", [{"http_header_timeout_seconds": 1.0}], indirect=True)
async def test_a_client_trickling_headers_is_cut_off_while_slack_is_answered(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    stop = asyncio.Event()
    trickling = asyncio.create_task(_trickle(writer, stop))
    try:
        answer = await asyncio.wait_for(_slack_help(server), ANSWER_BOUND)
        assert "/support id list" in answer
        # The slow client gets no answer: its connection is closed (EOF), well within
        # the wait below although it kept sending.
        assert await asyncio.wait_for(reader.read(), 30) == b""
        assert not trickling.done() or trickling.exception() is None
    finally:
        stop.set()
        writer.close()
        await trickling


@pytest.mark.parametrize("server", [{"http_body_timeout_seconds": 0.5}], indirect=True)
async def test_a_body_that_does_not_arrive_gets_408(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        writer.write(
            b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ncommand=x"
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 30)
        assert status.startswith(b"HTTP/1.1 408")
    finally:
        writer.close()


async def _until(condition: object, what: str) -> None:
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


async def _kept_alive(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that has had its request answered and stays open (keep-alive)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    await _healthz_answer(reader)
    return reader, writer


async def _healthz_answer(reader: asyncio.StreamReader) -> None:
    """One whole 200 answer (headers and body) read off a kept-alive connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)


CAPPED = {"http_max_connections": 3, "http_header_timeout_seconds": 60.0}


@pytest.mark.parametrize("server", [CAPPED], indirect=True)
async def test_connections_over_the_cap_get_503_and_one_log_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="madoguchi.http")
    site = server.listener
    held = [await _kept_alive(server) for _ in range(3)]
    await _until(lambda: site.open_connections() == 3, "the three connections are not counted")
    refused = []
    for _ in range(4):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        refused.append(await asyncio.wait_for(reader.read(), 30))
        writer.close()
    assert all(answer.startswith(b"HTTP/1.1 503") for answer in refused), refused
    capped = [r for r in caplog.records if "connection cap reached" in r.getMessage()]
    assert len(capped) == 1 and getattr(capped[0], "max_connections", None) == 3

    for _, writer in held:
        writer.close()
    await _until(lambda: site.open_connections() == 0, "closed connections are still counted")
    assert "/support id list" in await _slack_help(server)
    again = [r for r in caplog.records if "below the connection cap again" in r.getMessage()]
    assert len(again) == 1 and getattr(again[0], "refused", None) == 4


@pytest.mark.parametrize("server", [CAPPED], indirect=True)
async def test_at_the_cap_a_silent_connection_makes_room_for_a_slack_command(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener, "SILENT_GRACE_SECONDS", 0.0)
    busy = await _kept_alive(server)
    silent = []
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        writer.write(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        silent.append((reader, writer))
    await _until(lambda: server.listener.open_connections() == 3, "the connections are not counted")

    assert "/support id list" in await asyncio.wait_for(_slack_help(server), ANSWER_BOUND)
    # The oldest silent connection was closed to make room; the kept-alive one was not.
    assert await asyncio.wait_for(silent[0][0].read(), 30) == b""
    busy[1].write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await _healthz_answer(busy[0])
    for _, writer in [busy, *silent]:
        writer.close()
