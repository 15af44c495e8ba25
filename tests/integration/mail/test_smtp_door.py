"""The SMTP conversation: what is accepted, refused, stored and answered."""

from __future__ import annotations

import asyncio
import smtplib
from typing import Any

import pytest

from core import contact_window
from core.contact_window import intake
from core.unit_of_work import Core
from mail.inbound import InboundProcessor, InboundStore
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import CONTACT, inbound_of, make_mail, outbox_of, requests_of, send


async def _raw_session(port: int, lines: list[bytes]) -> list[bytes]:
    """A bare client: write each chunk, collect every reply line until QUIT's 221."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = [await reader.readline()]
    try:
        for chunk in lines:
            writer.write(chunk)
            await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), 10)
            if not line:
                break
            replies.append(line)
            if line.startswith(b"221"):
                break
    finally:
        writer.close()
    return replies


async def test_mail_to_an_unknown_address_is_refused_at_rcpt_with_550(smtp: SMTPServer) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await send(smtp.port, make_mail(), to=["someone-else@support.example.com"])
    [(code, _msg)] = info.value.recipients.values()
    assert code == 550


async def test_reply_addresses_we_generated_are_accepted_and_forged_ones_refused(
    domain: Core, smtp: SMTPServer
) -> None:
    good = contact_window.reply_address(domain.settings, 42)
    assert await send(smtp.port, make_mail(), to=[good]) == {}
    forged = good.replace(good.split("-")[-1].split("@")[0], "0000000000")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await send(smtp.port, make_mail(), to=[forged])


async def test_a_message_over_the_size_limit_is_refused_with_552(domain: Core) -> None:
    domain.settings.smtp_max_message_size = 2000
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False)
    await server.start()
    try:
        with pytest.raises(smtplib.SMTPException) as info:
            await send(server.port, make_mail(body="あ" * 3000))
        assert "552" in str(info.value)
    finally:
        await server.stop()
    assert await inbound_of(domain) == []


async def test_raw_bytes_are_committed_before_250_and_kept_intact(domain: Core, smtp: SMTPServer) -> None:
    raw = make_mail(subject="原文のまま", body="本文\n.dot line\n")
    await send(smtp.port, raw)
    [row] = await inbound_of(domain)
    assert row.raw == raw
    assert row.state == "received"
    assert row.rcpt_tos == [CONTACT]


async def test_storage_failure_answers_451_and_the_retry_makes_exactly_one_request(
    domain: Core, smtp: SMTPServer
) -> None:
    real = smtp.store.store_many
    failures = [RuntimeError("database is locked: /secret/path")]

    async def flaky(items: list[tuple[bytes, str, list[str]]], committed: Any = None) -> list[bool]:
        if failures:
            raise failures.pop()
        return await real(items, committed)

    smtp.store.store_many = flaky  # type: ignore[method-assign]
    raw = make_mail()
    with pytest.raises(smtplib.SMTPDataError) as info:
        await send(smtp.port, raw)
    assert info.value.smtp_code == 451
    assert b"secret" not in info.value.smtp_error and b"locked" not in info.value.smtp_error
    await send(smtp.port, raw)
    await send(smtp.port, raw)  # and a client that retries once too often
    await smtp.processor.run_once()
    assert len(await inbound_of(domain)) == 1
    assert len(await requests_of(domain)) == 1


async def test_an_unexpected_error_answers_451_without_leaking_details(
    smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_args: object) -> bool:
        raise ValueError("internal detail 1234")

    monkeypatch.setattr(contact_window, "accepts_recipient", boom)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await send(smtp.port, make_mail())
    [(code, message)] = info.value.recipients.values()
    assert code == 451
    assert b"1234" not in message and b"ValueError" not in message


async def test_connections_over_the_session_cap_get_421(smtp: SMTPServer) -> None:
    held = [await asyncio.open_connection("127.0.0.1", smtp.port) for _ in range(smtp.handler.max_sessions)]
    try:
        for reader, _writer in held:
            assert (await reader.readline()).startswith(b"220")
        reader, writer = await asyncio.open_connection("127.0.0.1", smtp.port)
        assert (await reader.readline()).startswith(b"421")
        writer.close()
    finally:
        for _reader, writer in held:
            writer.close()


async def test_recipients_over_the_cap_get_452(smtp: SMTPServer) -> None:
    to = [CONTACT] * (smtp.handler.max_recipients + 1)
    result = await send(smtp.port, make_mail(), to=to)
    [(code, _m)] = result.values()
    assert code == 452


async def test_the_idle_timeout_is_well_under_aiosmtpds_300_seconds(smtp: SMTPServer) -> None:
    assert smtp.idle_timeout <= 60


@pytest.mark.parametrize(
    "smuggle",
    [b"\n.\r\n", b"\r\n.\n", b"\n.\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r"],
    ids=["lf-dot-crlf", "crlf-dot-lf", "lf-dot-lf", "cr-dot-crlf", "crlf-dot-cr", "lf-dot-cr"],
)
async def test_smuggling_sequences_stay_inside_the_message(
    domain: Core, smtp: SMTPServer, smuggle: bytes
) -> None:
    body = (
        b"From: a@customer.example\r\nTo: contact@support.example.com\r\nSubject: s\r\n\r\nhello"
        + smuggle
        + b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<contact@support.example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n"
    )
    replies = await _raw_session(
        smtp.port,
        [
            b"EHLO client\r\nMAIL FROM:<a@customer.example>\r\nRCPT TO:<contact@support.example.com>\r\nDATA\r\n",
            body + b".\r\nQUIT\r\n",
        ],
    )
    assert replies[-1].startswith(b"221")
    rows = await inbound_of(domain)
    assert len(rows) == 1
    assert b"MAIL FROM:<evil@example.net>" in rows[0].raw
    assert rows[0].mail_from == "a@customer.example"


async def test_the_same_message_twice_is_one_request(domain: Core, smtp: SMTPServer) -> None:
    raw = make_mail(message_id="<same@customer.example>")
    await send(smtp.port, raw)
    # A different hop adds a header: different bytes, same Message-ID.
    await send(smtp.port, b"Received: from relay2.example by mx\r\n" + raw)
    outcomes = await smtp.processor.run_once()
    assert sorted(o.kind for o in outcomes) == ["duplicate", "request"]
    assert len(await requests_of(domain)) == 1


async def test_a_crash_after_250_is_resumed_from_the_stored_record(domain: Core, smtp: SMTPServer) -> None:
    await send(smtp.port, make_mail(subject="before the crash"))
    # The process died before processing; a new one starts and finds the backlog.
    restarted = InboundProcessor(domain)
    outcomes = await restarted.run_once()
    assert [o.kind for o in outcomes] == ["request"]
    [request] = await requests_of(domain)
    assert request.subject == "before the crash"
    [row] = await inbound_of(domain)
    assert row.state == "processed" and row.request_id == request.id


async def test_a_malformed_message_is_stored_flagged_and_still_becomes_a_request(
    domain: Core, smtp: SMTPServer
) -> None:
    raw = (
        b"From: =?utf-8?B?broken\r\nSubject: =?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=\r\n"
        b'Content-Type: multipart/mixed; boundary="nope"\r\n\r\nno boundary here\r\n'
    )
    await send(smtp.port, raw, mail_from="user@customer.example")
    [outcome] = await smtp.processor.run_once()
    assert outcome.kind == "request"
    [row] = await inbound_of(domain)
    assert row.raw == raw and row.malformed
    [request] = await requests_of(domain)
    assert request.subject == "こんにちは"


async def test_stopping_says_421_to_idle_sessions_and_takes_no_new_mail(domain: Core) -> None:
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, drain_seconds=2)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert (await reader.readline()).startswith(b"220")
    writer.write(b"HELO client\r\n")
    assert (await reader.readline()).startswith(b"250")
    await server.stop()
    assert (await reader.readline()).startswith(b"421")
    writer.close()


async def test_a_mail_that_cannot_be_processed_is_flagged_alone_and_the_rest_of_its_batch_goes_through(
    domain: Core, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = intake._thread

    def thread(settings: object, state: object, mail: contact_window.IncomingMail, *rest: object) -> object:
        if mail.subject == "poison":
            raise RuntimeError("cannot process this one")
        return real(settings, state, mail, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(intake, "_thread", thread)
    for subject in ("first", "poison", "third"):
        await send(smtp.port, make_mail(subject=subject))
    outcomes = await smtp.processor.run_once()
    assert [o.kind for o in outcomes] == ["request", "failed", "request"]
    rows = await inbound_of(domain)
    assert [r.state for r in rows] == ["processed", "failed", "processed"]
    assert "RuntimeError" in rows[1].error and rows[1].raw
    assert [r.subject for r in await requests_of(domain)] == ["first", "third"]
    alerts = await outbox_of(domain, template="staff_alert")
    assert [a.context["message_id"] for a in alerts] == ["contact.alert.processing_failed"]
    assert await smtp.processor.run_once() == []  # the failed mail is not retried blindly


async def test_mails_processed_in_one_batch_see_each_other(domain: Core, smtp: SMTPServer) -> None:
    """Threading, duplicates and the per-sender limit work inside one batch exactly as
    they do across batches."""
    await send(smtp.port, make_mail(subject="最初", message_id="<first@customer.example>"))
    await send(smtp.port, make_mail(subject="Re: 最初", In_Reply_To="<first@customer.example>"))
    await send(
        smtp.port,
        b"Received: from relay2.example by mx\r\n" + make_mail(message_id="<first@customer.example>"),
    )
    await send(smtp.port, make_mail(subject="別件"))
    outcomes = await smtp.processor.run_once()
    assert [o.kind for o in outcomes] == ["request", "followup", "duplicate", "request"]
    assert outcomes[1].number == outcomes[0].number
    assert [o.acknowledged for o in outcomes] == [True, False, False, False]
    assert outcomes[3].ack_refused == "per-hour"
    rows = await inbound_of(domain)
    assert [r.request_id for r in rows[:3]] == [rows[0].request_id] * 3
    assert len(await requests_of(domain)) == 2
    assert len(await outbox_of(domain, template="request_ack")) == 1


async def test_mail_from_the_null_reverse_path_makes_a_request_and_no_acknowledgement(
    domain: Core, smtp: SMTPServer
) -> None:
    """``MAIL FROM:<>`` (RFC 5321 §4.5.5: bounces, other automatic mail) reaches aiosmtpd's
    handler as ``"<>"``; the door stores the null path as ``""``, so the contact window's
    never-answer-the-null-sender rule applies to mail that really comes through SMTP."""
    await send(smtp.port, make_mail(subject="ヌル送信者"), mail_from="")
    [row] = await inbound_of(domain)
    assert row.mail_from == ""
    [outcome] = await smtp.processor.run_once()
    assert outcome.kind == "request" and not outcome.acknowledged
    assert outcome.ack_refused == "null-sender"
    assert [r.subject for r in await requests_of(domain)] == ["ヌル送信者"]
    assert await outbox_of(domain, template="request_ack") == []


async def test_a_null_reverse_path_with_parameters_is_the_null_path_too(
    domain: Core, smtp: SMTPServer
) -> None:
    replies = await _raw_session(
        smtp.port,
        [
            b"EHLO client\r\nMAIL FROM:<> SIZE=400\r\nRCPT TO:<contact@support.example.com>\r\nDATA\r\n",
            make_mail() + b".\r\nQUIT\r\n",
        ],
    )
    assert [r[:3] for r in replies if not r.startswith(b"250-")] == [
        b"220",
        b"250",
        b"250",
        b"250",
        b"354",
        b"250",
        b"221",
    ]
    [row] = await inbound_of(domain)
    assert row.mail_from == ""


async def test_mail_arriving_during_a_commit_gets_its_own_transaction_on_postgresql_only(
    domain: Core, smtp: SMTPServer
) -> None:
    """PostgreSQL: a commit is a wait for the server, and the next mail's transaction
    starts meanwhile (its 250 does not wait for the first commit). SQLite: one writer, the
    next mail waits for the commit in progress. Each 250 still only after its commit."""
    real = smtp.store.store_many
    first_in, release = asyncio.Event(), asyncio.Event()
    groups: list[int] = []

    async def first_held(items: list[tuple[bytes, str, list[str]]], committed: Any = None) -> list[bool]:
        groups.append(len(items))
        if len(groups) == 1:
            first_in.set()
            await release.wait()
        return await real(items, committed)

    smtp.store.store_many = first_held  # type: ignore[method-assign]
    first = asyncio.create_task(send(smtp.port, make_mail(subject="first"), "a@customer.example"))
    await asyncio.wait_for(first_in.wait(), 10)
    second = asyncio.create_task(send(smtp.port, make_mail(subject="second"), "b@customer.example"))
    if domain.single_writer:
        assert smtp.store.flushers == 1
        await asyncio.sleep(0.3)
        assert not second.done()  # waits for the one writer
        assert await inbound_of(domain) == []
        release.set()
    else:
        assert smtp.store.flushers > 1
        await asyncio.wait_for(second, 10)  # answered while the first commit still waits
        assert not first.done()
        assert [row.mail_from for row in await inbound_of(domain)] == ["b@customer.example"]
        release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert groups == [1, 1]
    assert sorted(row.mail_from for row in await inbound_of(domain)) == [
        "a@customer.example",
        "b@customer.example",
    ]


async def test_the_same_bytes_in_two_transactions_at_once_are_stored_once(domain: Core) -> None:
    """Two group commits in flight with the same message (a client retrying while its
    first try is still being committed): one row, one ``250 … queued`` as new."""
    store = InboundStore(domain, flushers=2)
    raw = make_mail(subject="twice at once")
    results = await asyncio.gather(
        store.store(raw, "a@customer.example", [CONTACT]), store.store(raw, "a@customer.example", [CONTACT])
    )
    assert sorted(results) == [False, True]
    assert len(await inbound_of(domain)) == 1


async def test_the_250_goes_as_soon_as_the_commit_returns(domain: Core, smtp: SMTPServer) -> None:
    """The mail is durable once its commit returned: the client's 250 does not wait for
    the store's session to close (nor for the turn it keeps a moment longer)."""
    closing = asyncio.Event()
    core = smtp.store.core

    class HeldOpen:
        def __init__(self) -> None:
            self.unit = core.uow()

        async def __aenter__(self) -> Any:
            return await self.unit.__aenter__()

        async def __aexit__(self, *exc: Any) -> None:
            await closing.wait()
            await self.unit.__aexit__(*exc)

    class Stores:
        def uow(self, **kwargs: Any) -> Any:
            return HeldOpen() if not kwargs else core.uow(**kwargs)

    smtp.store.core = Stores()  # type: ignore[assignment]
    raw = make_mail(subject="answered at commit")
    try:
        await asyncio.wait_for(send(smtp.port, raw), 10)  # 250 while the session is still open
    finally:
        closing.set()
    await asyncio.sleep(0.1)
    [row] = await inbound_of(domain)
    assert row.raw == raw
