"""The outbox worker (core) with the mail door's transport against a real SMTP relay
stand-in (an aiosmtpd sink), and with a recording staff channel."""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Mapping
from datetime import timedelta
from email.policy import default
from typing import Any

import pytest

from core import contact_window
from core.clock import FrozenClock
from core.outbox import enqueue_mail, enqueue_slack
from core.ports import PostRef
from core.unit_of_work import Core
from mail.templates import MAIL_TEMPLATES, MailTemplates
from tests.integration.mail.conftest import Sink, outbox_of, start_sink, worker_for

_PERSON = {
    "username": "taro@customer.example",
    "company": "顧客A株式会社",
    "last_name": "山田",
    "first_name": "太郎",
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "account_welcome": {**_PERSON, "expires_at": "2026-12-03T10:00:00+09:00"},
    "activation_resent": {**_PERSON, "expires_at": "2026-12-03T10:00:00+09:00"},
    "password_reset": {**_PERSON, "expires_at": "2026-12-03T10:00:00+09:00"},
    "username_reminder": _PERSON,
    "email_change_confirm": {
        **_PERSON,
        "expires_at": "2026-11-27T10:00:00+09:00",
        "new_email": "new@customer.example",
    },
    "slack_linked": {**_PERSON, "linked_at": "2026-11-26T10:00:00+09:00"},
    "email_changed": {**_PERSON, "old_email": "taro@customer.example", "new_email": "new@customer.example"},
    "support_id_issued": {"support_id": "ACME_01", "description": "本番環境"},
    "contact_added": {"support_id": "ACME_01", "added_by": "山田 太郎"},
    "key_added": {
        "support_id": "ACME_01",
        "key": "****-9KPL",
        "contract_number": "K-0001",
        "by": "山田 太郎",
    },
    "key_removed": {
        "support_id": "ACME_01",
        "key": "****-9KPL",
        "contract_number": "K-0001",
        "by": "山田 太郎",
    },
    "terms_agreed": {"support_id": "ACME_01", "terms_version": "2024-04", "by": "山田 太郎"},
    "request_ack": {
        "request": "REQ-000123",
        "subject": "質問",
        "answer_by": "2026-12-01",
        "name": "山田 太郎",
        "category": "question",
    },
    "staff_reply": {"request": "REQ-000123", "subject": "質問", "body": "<b>回答</b>です。"},
    "inquiry_ack": {
        "inquiry": "INQ-000123",
        "tag": "[INQ-000123]",
        "subject": "帳票出力でエラーになる",
        "support_id": "ACME_A",
        "product": "製品Aファミリ",
        "name": "山田 太郎",
        "due_on": "2026-12-01",
        "inquiry_address": "inquiry@support.example.com",
        "body": "<script>x</script> 印刷できません。",
    },
    "inquiry_answer": {
        "inquiry": "INQ-000123",
        "tag": "[INQ-000123]",
        "subject": "帳票出力でエラーになる",
        "support_id": "",
        "product": "その他",
        "name": "山田 太郎",
        "due_on": "2026-12-01",
        "inquiry_address": "inquiry@support.example.com",
        "body": "<b>回答</b>です。",
        "autoclose_days": 10,
        "autoclose_on": "2026-12-10",
    },
}
SECRETS = {"account_welcome", "activation_resent", "password_reset", "email_change_confirm"}


async def _enqueue(
    core: Core, template: str = "username_reminder", to: str = "taro@customer.example", **kw: Any
) -> int:
    async with core.uow() as uow:
        row = enqueue_mail(
            uow,
            template,
            [to],
            CONTEXTS[template],
            locale=kw.pop("locale", "ja"),
            secrets={"link": "http://127.0.0.1:3000/password?token=SECRET123"}
            if template in SECRETS
            else None,
            **kw,
        )
        await uow.commit()
        return row.id


def _parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize("template", MAIL_TEMPLATES)
def test_every_template_renders_text_and_html_in_every_locale(
    settings: Any, template: str, locale: str
) -> None:
    templates = MailTemplates(settings)
    context = dict(CONTEXTS[template])
    if template in SECRETS:
        context["link"] = "http://127.0.0.1:3000/password?token=T&x=<y>"
    rendered = templates.render(template, locale, context)
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.text.strip() and rendered.html.strip()
    if template in SECRETS:
        assert "token=T&x=<y>" in rendered.text
        assert "token=T&amp;x=&lt;y&gt;" in rendered.html
    if template == "staff_reply":
        assert "&lt;b&gt;回答&lt;/b&gt;" in rendered.html
    if template.startswith("inquiry_"):
        assert "[INQ-000123]" in rendered.subject and "帳票出力でエラーになる" in rendered.subject
        assert rendered.subject.startswith(
            "【Example Solutions】" if locale == "ja" else "[Example Solutions]"
        )
        assert "<b>" not in rendered.html and "<script>" not in rendered.html
        ja_date, en_date = (
            ("2026年12月1日（火）", "Tue, December 1, 2026")
            if template == "inquiry_ack"
            else ("2026年12月10日（木）", "Thu, December 10, 2026")
        )
        day = ja_date if locale == "ja" else en_date
        assert day in rendered.text and day in rendered.html and "2026-12-" not in rendered.text
    if template == "inquiry_answer":
        # The template writes the date in its own language (the context carries ISO).
        assert ("2026年12月10日（木）" if locale == "ja" else "Thu, December 10, 2026") in rendered.text
        assert "10" in rendered.text
    if template == "request_ack":
        assert "質問" in rendered.text and "REQ-000123" in rendered.subject
        assert ("件名：質問" if locale == "ja" else "Subject: 質問") in rendered.text


def test_the_account_notification_subject_is_the_specs_in_japanese_brackets(settings: Any) -> None:
    rendered = MailTemplates(settings).render(
        "account_welcome", "ja", {**CONTEXTS["account_welcome"], "link": "x"}
    )
    assert rendered.subject == "【Example Solutions】サポート・お問い合わせにようこそ"
    assert "Example Solutions「サポート・お問い合わせ」に登録いたしました。" in rendered.text


def test_a_missing_context_key_fails_instead_of_mailing_a_blank(settings: Any) -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        MailTemplates(settings).render("username_reminder", "ja", {})


async def test_mail_goes_to_the_relay_with_headers_parts_and_encoded_japanese(
    domain: Core, sink: Sink
) -> None:
    row_id = await _enqueue(domain, "account_welcome")
    worker = worker_for(domain, sink)
    await worker.drain()
    [(mail_from, rcpts, raw)] = sink.messages
    # The envelope sender is the row's signed return path; the From header stays ours.
    assert mail_from == contact_window.return_path(domain.settings, row_id) and rcpts == [
        "taro@customer.example"
    ]
    assert raw.isascii(), "headers and bodies are 7-bit encoded for any relay"
    msg = _parsed(raw)
    assert domain.settings.mail_from in msg["From"]
    assert msg["Subject"] == "【Example Solutions】サポート・お問い合わせにようこそ"
    assert "=?" in raw.split(b"\r\n\r\n", 1)[0].decode()
    assert msg["Message-ID"] and msg["Date"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "SECRET123" in text and "SECRET123" in html
    [row] = await outbox_of(domain)
    assert row.id == row_id and row.status == "sent" and row.sealed == ""
    assert msg["Message-ID"] == row.message_id


async def test_without_a_relay_mail_is_written_as_eml_files(domain: Core) -> None:
    await _enqueue(domain, "username_reminder")
    await worker_for(domain).drain()
    [path] = list(domain.settings.outbox_dir.glob("*.eml"))
    msg = _parsed(path.read_bytes())
    assert msg["Subject"] == "【Example Solutions】ユーザー名のお知らせ"
    assert msg["To"] == "taro@customer.example"


async def test_a_relay_answering_4xx_then_250_is_retried_with_backoff(
    domain: Core, sink: Sink, clock: FrozenClock
) -> None:
    await _enqueue(domain)
    sink.data_replies = ["451 4.3.0 try later"]
    worker = worker_for(domain, sink)
    await worker.drain()
    [row] = await outbox_of(domain)
    assert row.status == "pending" and row.attempts == 1 and "451" in row.last_error
    assert sink.messages == []
    await worker.drain()  # not due yet: backoff
    assert sink.messages == []
    clock.advance(timedelta(minutes=2))
    await worker.drain()
    assert len(sink.messages) == 1
    [row] = await outbox_of(domain)
    assert row.status == "sent" and row.attempts == 2


async def test_a_5xx_stops_delivery_marks_the_address_and_alerts_staff(domain: Core, sink: Sink) -> None:
    await _enqueue(domain, to="gone@customer.example")
    sink.rcpt_replies["gone@customer.example"] = "550 5.1.1 User unknown"
    await worker_for(domain, sink).drain()
    [row] = await outbox_of(domain, channel="mail")
    assert row.status == "failed" and "550" in row.last_error
    [alert] = await outbox_of(domain, channel="slack")
    assert alert.context["message_id"] == "contact.alert.delivery_failed"
    assert alert.context["params"]["address"] == "gone@customer.example"


async def test_a_5xx_at_data_stops_too(domain: Core, sink: Sink) -> None:
    await _enqueue(domain)
    sink.data_replies = ["554 5.6.0 rejected"]
    await worker_for(domain, sink).drain()
    [row] = await outbox_of(domain, channel="mail")
    assert row.status == "failed"


async def test_a_partly_refused_mail_is_delivered_to_the_others_and_retried_for_the_deferred(
    domain: Core, sink: Sink
) -> None:
    async with domain.uow() as uow:
        enqueue_mail(
            uow,
            "username_reminder",
            ["ok@customer.example", "later@customer.example", "gone@customer.example"],
            CONTEXTS["username_reminder"],
        )
        await uow.commit()
    sink.rcpt_replies["later@customer.example"] = "450 4.2.1 Mailbox busy"
    sink.rcpt_replies["gone@customer.example"] = "550 5.1.1 User unknown"
    await worker_for(domain, sink).drain()
    assert [rcpts for _f, rcpts, _raw in sink.messages] == [["ok@customer.example"]]
    [row] = await outbox_of(domain, channel="mail")
    assert row.status == "pending" and row.recipients == ["later@customer.example"]
    assert "450" in row.last_error and "550" in row.last_error
    [alert] = await outbox_of(domain, channel="slack")
    assert alert.context["params"]["address"] == "gone@customer.example"


async def test_recipients_all_deferred_or_refused_retry_the_whole_mail(domain: Core, sink: Sink) -> None:
    await _enqueue(domain, to="later@customer.example")
    sink.rcpt_replies["later@customer.example"] = "450 4.2.1 Mailbox busy"
    await worker_for(domain, sink).drain()
    [row] = await outbox_of(domain, channel="mail")
    assert row.status == "pending" and row.recipients == ["later@customer.example"]
    assert "recipients deferred" in row.last_error
    assert await outbox_of(domain, channel="slack") == []


async def test_an_unreachable_relay_is_a_retry_not_a_failure(domain: Core) -> None:
    await _enqueue(domain)
    domain.settings.relay_url = "smtp://127.0.0.1:1"
    await worker_for(domain).drain()
    [row] = await outbox_of(domain)
    assert row.status == "pending" and row.attempts == 1


class _SlowSink(Sink):
    """Accepts the first message only after a long pause: the worker dies meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.block = True
        # Set once the first message's DATA is in: the worker is mid-send (the sink runs
        # on a thread of its own).
        self.mid_send = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.block:
            self.block = False
            self.mid_send.set()
            await asyncio.sleep(5)
            return "451 gone"
        return await super().handle_DATA(server, session, envelope)


async def test_a_worker_killed_mid_send_loses_nothing_after_a_restart(
    domain: Core, clock: FrozenClock
) -> None:
    handler = _SlowSink()
    controller = start_sink(handler)
    try:
        for n in range(5):
            await _enqueue(domain, to=f"user{n}@customer.example")
        doomed = worker_for(domain, handler, concurrency=1, batch=5)
        task = asyncio.create_task(doomed.run_once())
        while not handler.mid_send.is_set():  # not a fixed pause: a loaded machine is slower
            await asyncio.sleep(0.01)
        assert any(r.status == "sending" for r in await outbox_of(domain))
        task.cancel()  # the process dies with rows claimed and one mail half-sent
        with pytest.raises(asyncio.CancelledError):
            await task
        assert any(r.status == "sending" for r in await outbox_of(domain))
        clock.advance(timedelta(minutes=6))
        await worker_for(domain, handler).drain()
        rows = await outbox_of(domain)
        assert [r.status for r in rows] == ["sent"] * 5
        delivered = {rcpts[0] for _f, rcpts, _raw in handler.messages}
        assert delivered == {f"user{n}@customer.example" for n in range(5)}
    finally:
        controller.stop()


async def test_two_workers_never_send_the_same_row_twice(domain: Core, sink: Sink) -> None:
    for n in range(30):
        await _enqueue(domain, to=f"user{n}@customer.example")
    one, two = worker_for(domain, sink), worker_for(domain, sink)
    await asyncio.gather(one.drain(), two.drain())
    delivered = [rcpts[0] for _f, rcpts, _raw in sink.messages]
    assert sorted(delivered) == sorted(f"user{n}@customer.example" for n in range(30))


class RecordingStaff:
    """A staff channel that records what it was asked; ``down`` calls raise first."""

    def __init__(self, down: int = 0) -> None:
        self.calls: list[tuple[str, str, PostRef | None, dict[str, Any]]] = []
        self.down = down

    def _record(self, what: str, kind: str, where: PostRef | None, context: Mapping[str, Any]) -> PostRef:
        self.calls.append((what, kind, where, dict(context)))
        if self.down:
            self.down -= 1
            raise ConnectionError("slack is down")
        return PostRef("CSTAFF", f"1700000000.{len(self.calls):06d}")

    async def post(self, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        return self._record("post", kind, None, context)

    async def reply(self, parent: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        return self._record("reply", kind, parent, context)

    async def update(self, post: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        return self._record("update", kind, post, context)


async def _request_7(core: Core) -> None:
    async with core.uow() as uow:
        from core.models import Request

        uow.session.add(
            Request(number=7, sender="a@customer.example", subject="s", created_at=uow.clock.now())
        )
        await uow.commit()


NEW_7 = {"number": 7, "request": "REQ-000007"}
FOLLOWUP_7 = {"number": 7, "request": "REQ-000007", "channel": None, "thread_ts": None}


async def test_slack_rows_go_to_the_staff_channel_and_follow_ups_thread_under_the_post(domain: Core) -> None:
    await _request_7(domain)
    async with domain.uow() as uow:
        enqueue_slack(uow, "request_new", NEW_7)
        enqueue_slack(uow, "request_followup", FOLLOWUP_7)
        await uow.commit()
    staff = RecordingStaff()
    worker = worker_for(domain, staff=staff, concurrency=1, batch=1)
    await worker.drain()
    parent = PostRef("CSTAFF", "1700000000.000001")
    assert [(what, kind, where) for what, kind, where, _c in staff.calls] == [
        ("post", "request_new", None),
        ("reply", "request_followup", parent),
    ]
    async with domain.uow() as uow:
        assert await contact_window.slack_thread(uow, 7) == ("CSTAFF", "1700000000.000001")


async def test_a_follow_up_before_its_parent_is_posted_waits_for_it(domain: Core, clock: FrozenClock) -> None:
    await _request_7(domain)
    async with domain.uow() as uow:
        enqueue_slack(uow, "request_followup", FOLLOWUP_7)
        await uow.commit()
    clock.advance(timedelta(seconds=1))
    async with domain.uow() as uow:
        enqueue_slack(uow, "request_new", NEW_7)
        await uow.commit()
    staff = RecordingStaff()
    worker = worker_for(domain, staff=staff, concurrency=1, batch=1)
    await worker.drain()
    assert [(what, kind) for what, kind, _w, _c in staff.calls] == [("post", "request_new")]
    followup = next(r for r in await outbox_of(domain) if r.template == "request_followup")
    assert followup.status == "pending" and "ParentNotPosted" in followup.last_error
    clock.advance(timedelta(minutes=2))
    await worker.drain()
    assert staff.calls[-1][:3] == ("reply", "request_followup", PostRef("CSTAFF", "1700000000.000001"))
    assert [r.status for r in await outbox_of(domain)] == ["sent", "sent"]


async def test_without_a_staff_channel_staff_posts_wait_in_the_outbox(domain: Core) -> None:
    async with domain.uow() as uow:
        enqueue_slack(
            uow, "staff_alert", {"message_id": "contact.alert.processing_failed", "params": {"id": 1}}
        )
        await uow.commit()
    await worker_for(domain).drain()
    [row] = await outbox_of(domain)
    assert row.status == "pending" and row.attempts == 0


async def test_a_slack_outage_is_retried_and_loses_nothing(domain: Core, clock: FrozenClock) -> None:
    async with domain.uow() as uow:
        enqueue_slack(
            uow, "staff_alert", {"message_id": "contact.alert.processing_failed", "params": {"id": 1}}
        )
        await uow.commit()
    staff = RecordingStaff(down=1)
    worker = worker_for(domain, staff=staff)
    await worker.drain()
    clock.advance(timedelta(minutes=5))
    await worker.drain()
    assert [kind for _w, kind, _p, _c in staff.calls] == ["staff_alert", "staff_alert"]
    [row] = await outbox_of(domain)
    assert row.status == "sent"


def test_japanese_display_names_round_trip_through_the_from_header(settings: Any) -> None:
    from datetime import UTC, datetime

    from mail.templates import build_message

    settings.vendor_name = "株式会社サンプル"
    rendered = MailTemplates(settings).render("username_reminder", "ja", CONTEXTS["username_reminder"])
    msg = build_message(
        settings,
        rendered,
        to=["a@b.example"],
        message_id="<1@x>",
        template="x",
        headers={},
        date=datetime(2026, 11, 26, tzinfo=UTC),
    )
    raw = msg.as_bytes()
    assert raw.isascii()
    parsed = _parsed(raw)
    assert parsed["From"].addresses[0].display_name == "株式会社サンプル"
    assert parsed["Subject"] == "【株式会社サンプル】ユーザー名のお知らせ"


async def test_relay_credentials_from_the_url_are_used_for_smtp_auth(domain: Core) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.integration.mail.conftest import free_port

    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            seen.append((data.login, data.password))
            return AuthResult(success=data.login == b"mado" and data.password == b"p@ss:word")
        return AuthResult(success=False)

    handler = Sink()
    handler.port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=handler.port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        await _enqueue(domain)
        domain.settings.relay_url = f"smtp://mado:p%40ss%3Aword@127.0.0.1:{handler.port}"
        await worker_for(domain).drain()
    finally:
        controller.stop()
    assert seen == [(b"mado", b"p@ss:word")]
    assert len(handler.messages) == 1
