"""Acknowledgements rendered in the parser process (``madoguchi serve``): the same mail as
rendered in the service, a template error deferred with the same words, small batches
and a busy or absent parser rendered in the service, and parsing and rendering taking
turns in one process instead of starting a second. Real SMTP into an aiosmtpd sink."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from core.config import Settings
from core.ports import MailOutcome
from mail import parser_process
from mail.parser_process import ParserProcess, parse_in_process, render_in_process
from mail.relay import Relay
from mail.transport import Outgoing, RelayTransport
from tests.integration.mail.conftest import Sink

CONTEXT = {"username": "taro@customer.example", "company": "顧客A", "last_name": "山田", "first_name": "太郎"}
BOUNDARY = re.compile(rb"=_madoguchi_[0-9a-f]{32}")


def slow_pid(settings: Settings, seconds: float) -> int:
    """Work for the parser process that takes ``seconds`` and says where it ran."""
    time.sleep(seconds)
    return os.getpid()


def _rows(n: int, template: str = "username_reminder", locale: str = "ja") -> list[Outgoing]:
    return [
        Outgoing(
            id=i + 1,
            template=template,
            locale=locale,
            message_id=f"<m{i}@support.example.com>",
            recipients=[f"user{i}@customer.example"],
            context={**CONTEXT, "username": f"user{i}@customer.example"},
            secrets={},
            headers={"Auto-Submitted": "auto-replied", "In-Reply-To": f"<q{i}@customer.example>"},
            created_at=datetime(2026, 12, 2, 4, 30, tzinfo=UTC),
            return_path=f"bounce+{i + 1}@support.example.com",
            files=[],
        )
        for i in range(n)
    ]


def _transport(settings: Settings, sink: Sink, *, elsewhere: bool) -> RelayTransport:
    return RelayTransport(
        settings, Relay.from_url(f"smtp://127.0.0.1:{sink.port}"), render_elsewhere=elsewhere
    )


def _rendered_here(transport: RelayTransport) -> list[int]:
    """Count the rows ``transport`` renders in this process."""
    calls: list[int] = []
    render = transport.raw

    def counted(mail: Any) -> bytes:
        calls.append(mail.id)
        return render(mail)

    transport.raw = counted  # type: ignore[method-assign]
    return calls


@pytest.fixture
async def parser(settings: Settings) -> AsyncIterator[ParserProcess]:
    """One parser process, idle, as ``madoguchi serve`` starts it; the only one."""
    saved = list(parser_process._idle)
    parser_process._idle.clear()
    await parse_in_process(settings, [], 60)
    [process] = parser_process._idle
    try:
        yield process
    finally:
        for left in parser_process._idle:
            await left.kill()
        parser_process._idle[:] = saved


async def test_the_parser_process_renders_the_same_mail(settings: Settings, sink: Sink, parser: Any) -> None:
    rows = _rows(6)
    elsewhere = _transport(settings, sink, elsewhere=True)
    here = _rendered_here(elsewhere)
    try:
        outcomes = await elsewhere.send_many(rows, 2)
    finally:
        await elsewhere.close()
    assert outcomes == [MailOutcome("delivered")] * 6
    assert here == []  # none rendered in this process
    local = _transport(settings, sink, elsewhere=False)
    by_recipient = {rcpts[0]: raw for _from, rcpts, raw in sink.messages}
    for row in rows:
        sent = by_recipient[row.recipients[0]]
        assert BOUNDARY.sub(b"B", sent) == BOUNDARY.sub(b"B", local.raw(row))
    assert [m[0] for m in sorted(sink.messages, key=lambda m: m[1])] == [r.return_path for r in rows]


async def test_a_template_error_is_deferred_with_the_same_words(
    settings: Settings, sink: Sink, parser: Any
) -> None:
    rows = _rows(4)
    rows[3] = replace(rows[3], template="no_such_template")
    outcomes = {}
    for elsewhere in (True, False):
        transport = _transport(settings, sink, elsewhere=elsewhere)
        here = _rendered_here(transport)
        try:
            outcomes[elsewhere] = await transport.send_many(rows, 2)
        finally:
            await transport.close()
        assert len(here) == (0 if elsewhere else 4)
    assert outcomes[True] == outcomes[False]
    assert [o.status for o in outcomes[True]] == ["delivered"] * 3 + ["deferred"]
    assert outcomes[True][3].detail.startswith("TemplateNotFound: ")


async def test_a_small_batch_is_rendered_here(settings: Settings, sink: Sink, parser: Any) -> None:
    transport = _transport(settings, sink, elsewhere=True)
    here = _rendered_here(transport)
    try:
        assert await transport.send_many(_rows(3), 2) == [MailOutcome("delivered")] * 3
    finally:
        await transport.close()
    assert sorted(here) == [1, 2, 3]


async def test_without_a_parser_process_the_rows_are_rendered_here(
    settings: Settings, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parser_process, "_idle", [])
    transport = _transport(settings, sink, elsewhere=True)
    here = _rendered_here(transport)
    try:
        assert await transport.send_many(_rows(5), 2) == [MailOutcome("delivered")] * 5
    finally:
        await transport.close()
    assert sorted(here) == [1, 2, 3, 4, 5]
    assert parser_process._idle == []  # rendering never starts a process


async def test_a_parse_waits_for_a_render_in_the_same_process(settings: Settings, parser: Any) -> None:
    """Parsing and rendering take turns: a parse that finds the parser rendering waits for
    it rather than start a second process beside it."""
    finished: list[str] = []

    async def render() -> Any:
        pid = await render_in_process(settings, slow_pid, 0.5, 30)
        finished.append("render")
        return pid

    async def parse() -> Any:
        await asyncio.sleep(0.1)  # the render has the process by now
        assessed = await parse_in_process(settings, [], 30)
        finished.append("parse")
        return assessed

    pid, assessed = await asyncio.gather(render(), parse())
    assert pid == parser.pid and assessed == []
    assert finished == ["render", "parse"]
    assert parser_process._idle == [parser]  # still the one process


async def test_a_render_waits_only_briefly_for_a_busy_parser(
    settings: Settings, parser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parser_process, "RENDER_WAIT_SECONDS", 0.05)
    busy = asyncio.ensure_future(render_in_process(settings, slow_pid, 0.5, 30))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    assert await render_in_process(settings, slow_pid, 0, 30) is None  # rendered where it is
    assert time.monotonic() - started < 0.4
    assert await busy == parser.pid
    assert parser_process._idle == [parser]
