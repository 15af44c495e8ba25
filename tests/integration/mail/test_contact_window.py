"""Processing stored mail: threading, loop suppression, limits, bounces, self-service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import contact_window
from core.actors import Actor
from core.clock import FrozenClock
from core.contact_window import self_service
from core.errors import Forbidden, NotFound
from core.models import MailAddressState, OutboxMessage
from core.outbox import enqueue_mail
from core.unit_of_work import Core
from mail.inbound import InboundProcessor
from mail.smtp import SMTPServer
from tests import factories
from tests.integration.mail.conftest import CONTACT, make_mail, outbox_of, requests_of, send

STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")


async def deliver(
    core: Core, raw: bytes, mail_from: str = "user@customer.example", to: list[str] | None = None
) -> contact_window.Outcome:
    """Store as the SMTP handler does, then process as the processor does."""
    async with core.uow() as uow:
        await contact_window.store_inbound(uow, raw, mail_from, to or [CONTACT])
    outcomes = await InboundProcessor(core).run_once()
    return outcomes[-1] if outcomes else contact_window.Outcome("skipped")


async def test_an_acknowledgement_carries_the_number_answer_date_and_loop_headers(domain: Core) -> None:
    outcome = await deliver(domain, make_mail(message_id="<q1@customer.example>"))
    [ack] = await outbox_of(domain, template="request_ack")
    assert ack.context["request"] == f"REQ-{outcome.number:06d}"
    # Thursday 2026-11-26 + 3 business days = Tuesday 2026-12-01.
    assert ack.context["answer_by"] == "2026-12-01"
    assert ack.headers["Auto-Submitted"] == "auto-replied"
    assert ack.headers["X-Auto-Response-Suppress"] == "All"
    assert ack.headers["In-Reply-To"] == "<q1@customer.example>"
    assert "<q1@customer.example>" in ack.headers["References"]
    assert ack.headers[contact_window.LOOP_HEADER]
    assert ack.recipients == ["user@customer.example"]


async def test_a_new_request_is_posted_to_staff_with_its_summary_and_actions(domain: Core) -> None:
    await deliver(domain, make_mail(subject="登録メールが届かない", body="有効化のメールが届きません。"))
    [post] = await outbox_of(domain, channel="slack", template="request_new")
    assert post.context["category"] == "activation"
    assert post.context["sender"] == "user@customer.example"
    assert post.context["subject"] == "登録メールが届かない"
    assert "有効化のメールが届きません。" in post.context["excerpt"]
    assert post.context["actions"] == ["reply", "close", "resend_activation"]


async def test_a_reply_to_the_acknowledgement_threads_by_in_reply_to(domain: Core) -> None:
    first = await deliver(domain, make_mail())
    [ack] = await outbox_of(domain, template="request_ack")
    reply = make_mail(subject="Re: お問い合わせ", body="追記です", In_Reply_To=ack.message_id)
    outcome = await deliver(domain, reply)
    assert outcome.kind == "followup" and outcome.number == first.number
    assert len(await requests_of(domain)) == 1
    assert len(await outbox_of(domain, template="request_ack")) == 1  # never for follow-ups
    [followup] = await outbox_of(domain, channel="slack", template="request_followup")
    assert followup.context["request"] == f"REQ-{first.number:06d}"


async def test_references_alone_thread_a_follow_up(domain: Core) -> None:
    first = await deliver(domain, make_mail(message_id="<root@customer.example>"))
    outcome = await deliver(domain, make_mail(References="<other@x.example> <root@customer.example>"))
    assert outcome.number == first.number


async def test_the_subject_tag_threads_mail_from_the_same_sender_only(domain: Core) -> None:
    first = await deliver(domain, make_mail())
    tag = f"[REQ-{first.number:06d}]"
    same = await deliver(domain, make_mail(subject=f"Re: {tag} 追加の質問"))
    assert same.kind == "followup" and same.number == first.number
    other = await deliver(
        domain,
        make_mail(subject=f"{tag} hijack", sender="x@elsewhere.example"),
        mail_from="x@elsewhere.example",
    )
    assert other.kind == "request" and other.number != first.number


async def test_mail_to_a_signed_reply_address_threads_without_headers(domain: Core) -> None:
    first = await deliver(domain, make_mail())
    address = contact_window.reply_address(domain.settings, first.number or 0)
    outcome = await deliver(domain, make_mail(subject="no headers"), to=[address])
    assert outcome.kind == "followup" and outcome.number == first.number


async def test_a_follow_up_reopens_a_closed_request(domain: Core) -> None:
    first = await deliver(domain, make_mail(message_id="<r1@customer.example>"))
    async with domain.uow() as uow:
        await contact_window.close(uow, STAFF, first.number or 0)
    await deliver(domain, make_mail(In_Reply_To="<r1@customer.example>"))
    [request] = await requests_of(domain)
    assert request.status == "open"


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto_Submitted": "auto-replied"}, "user@customer.example"),
        ({"Auto_Submitted": "auto-generated"}, "user@customer.example"),
        ({"Precedence": "bulk"}, "user@customer.example"),
        ({"Precedence": "list"}, "user@customer.example"),
        ({"Precedence": "junk"}, "user@customer.example"),
        ({"List_Id": "<users.lists.example>"}, "user@customer.example"),
        ({"List_Unsubscribe": "<mailto:leave@lists.example>"}, "user@customer.example"),
        ({"X_Autoreply": "yes"}, "user@customer.example"),
        ({"X_Auto_Response_Suppress": "All"}, "user@customer.example"),
        ({"X_Madoguchi_Loop": "contact@support.example.com"}, "user@customer.example"),
        ({}, "MAILER-DAEMON@mx.customer.example"),
        ({}, "postmaster@customer.example"),
        ({}, "noreply@customer.example"),
        ({}, "no-reply@customer.example"),
        ({}, "contact@support.example.com"),
        ({}, "support@support.example.com"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()) or "plain",
)
async def test_automatic_mail_becomes_a_request_but_is_never_answered(
    domain: Core, headers: dict[str, str], sender: str
) -> None:
    outcome = await deliver(domain, make_mail(sender=sender, **headers), mail_from=sender)
    assert outcome.kind == "request"
    assert not outcome.acknowledged
    assert await outbox_of(domain, template="request_ack") == []


async def test_mail_with_a_null_envelope_sender_is_never_answered(domain: Core) -> None:
    outcome = await deliver(domain, make_mail(), mail_from="")
    assert outcome.ack_refused == "null-sender"


async def test_ten_mails_in_ten_minutes_make_ten_requests_and_one_acknowledgement(
    domain: Core, clock: FrozenClock, smtp: SMTPServer
) -> None:
    for n in range(10):
        await send(smtp.port, make_mail(subject=f"質問 {n}"))
        await smtp.processor.run_once()
        clock.advance(timedelta(minutes=1))
    assert len(await requests_of(domain)) == 10
    assert len(await outbox_of(domain, template="request_ack")) == 1


async def test_a_sender_gets_at_most_five_acknowledgements_a_day(domain: Core, clock: FrozenClock) -> None:
    for n in range(7):
        await deliver(domain, make_mail(subject=f"質問 {n}"))
        clock.advance(timedelta(minutes=61))
    assert len(await outbox_of(domain, template="request_ack")) == 5


async def test_the_global_breaker_stops_acknowledgements_and_alerts_staff_once(domain: Core) -> None:
    domain.settings.ack_breaker_limit = 3
    for n in range(6):
        sender = f"person{n}@customer.example"
        await deliver(domain, make_mail(sender=sender), mail_from=sender)
    assert len(await outbox_of(domain, template="request_ack")) == 3
    alerts = [
        r
        for r in await outbox_of(domain, template="staff_alert")
        if r.context["message_id"] == "contact.alert.ack_breaker"
    ]
    assert len(alerts) == 1


@pytest.mark.parametrize("sender", ["info@customer.example", "user@support.example.com", "bad address@x"])
async def test_role_own_and_invalid_addresses_are_not_acknowledged(domain: Core, sender: str) -> None:
    outcome = await deliver(domain, make_mail(sender=f"<{sender}>"), mail_from="someone@customer.example")
    assert not outcome.acknowledged


def _dsn(recipient: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.customer.example\r\n"
        "To: support@support.example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        "--B--\r\n"
    ).encode()


async def _sent_to(core: Core, address: str) -> str:
    """The signed return path of a mail we sent to ``address`` (delivery reports about it
    come back there, and only there are they believed)."""
    async with core.uow() as uow:
        row = enqueue_mail(
            uow,
            "username_reminder",
            [address],
            {"username": address, "company": "顧客A", "last_name": "山田", "first_name": "太郎"},
        )
        await uow.commit()
    return contact_window.return_path(core.settings, row.id)


async def test_a_bounce_marks_the_address_alerts_staff_and_stops_acks_for_60_days(
    domain: Core, clock: FrozenClock
) -> None:
    return_path = await _sent_to(domain, "gone@customer.example")
    outcome = await deliver(domain, _dsn("gone@customer.example"), mail_from="", to=[return_path])
    assert outcome.kind == "bounce"
    assert await requests_of(domain) == []
    async with domain.uow() as uow:
        state = await uow.session.get(MailAddressState, "gone@customer.example")
    assert state is not None and state.bounced_at is not None
    alerts = await outbox_of(domain, template="staff_alert")
    assert [a.context["message_id"] for a in alerts] == ["contact.alert.bounce"]

    clock.advance(timedelta(days=59))
    later = await deliver(
        domain, make_mail(sender="gone@customer.example"), mail_from="gone@customer.example"
    )
    assert later.ack_refused == "bounced"
    clock.advance(timedelta(days=2))
    again = await deliver(
        domain, make_mail(sender="gone@customer.example", subject="x"), mail_from="gone@customer.example"
    )
    assert again.acknowledged


async def test_a_vendor_bounce_without_a_report_is_recognised(domain: Core) -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        b"Subject: Mail delivery failed: returning message to sender\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\n"
        b"  gone@customer.example\r\n    SMTP error from remote mail server after RCPT TO:<gone@customer.example>:\r\n"
        b"    550 5.1.1 User unknown\r\n"
    )
    outcome = await deliver(domain, raw, mail_from="", to=[await _sent_to(domain, "gone@customer.example")])
    assert outcome.kind == "bounce" and outcome.marked == 1


def _fake_accounts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record, instead of run, the accounts area's self-service use cases (by name)."""
    calls: list[tuple[str, str]] = []

    def recorder(name: str) -> Any:
        async def function(uow: Any, actor: Actor, email: str) -> None:
            calls.append((name, email))

        return function

    for category, use_case in list(self_service.SELF_SERVICE.items()):
        monkeypatch.setitem(self_service.SELF_SERVICE, category, recorder(use_case.__name__))
    return calls


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("ユーザー名を忘れました", "ログインに使うユーザー名がわかりません。", "send_username_reminder"),
        ("Forgot my username", "I forgot my username, please help.", "send_username_reminder"),
        ("パスワードを忘れました", "パスワードを再設定したいです。", "request_password_reset"),
        ("Password reset", "I forgot my password.", "request_password_reset"),
        ("登録メール", "有効化のメールが届きません。", "resend_activation"),
        ("Activation link expired", "My activation link has expired.", "resend_activation"),
    ],
)
async def test_registered_senders_are_served_by_themselves_at_their_registered_address(
    domain: Core, monkeypatch: pytest.MonkeyPatch, subject: str, body: str, expected: str
) -> None:
    calls = _fake_accounts(monkeypatch)
    async with domain.uow() as uow:
        company = await factories.company(uow)
        await factories.account(uow, company, email="taro@customer-a.example.jp")
        await uow.commit()
    await deliver(
        domain,
        make_mail(subject=subject, body=body, sender="taro@customer-a.example.jp"),
        mail_from="taro@customer-a.example.jp",
    )
    assert calls == [(expected, "taro@customer-a.example.jp")]


async def test_the_acknowledgement_does_not_reveal_whether_an_account_exists(
    domain: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_accounts(monkeypatch)
    async with domain.uow() as uow:
        company = await factories.company(uow)
        await factories.account(uow, company, email="taro@customer-a.example.jp")
        await uow.commit()
    for sender in ("taro@customer-a.example.jp", "stranger@customer-b.example.jp"):
        await deliver(
            domain,
            make_mail(subject="パスワードを忘れました", body="再設定したい", sender=sender),
            mail_from=sender,
        )
    assert calls == [("request_password_reset", "taro@customer-a.example.jp")]
    from mail.templates import MailTemplates

    templates = MailTemplates(domain.settings)
    acks = await outbox_of(domain, template="request_ack")
    texts = [
        templates.render("request_ack", a.locale, {**a.context, "request": "REQ-000000"}).text for a in acks
    ]
    assert len(texts) == 2 and texts[0] == texts[1]
    # The same keys for both (the inquiry hint is off for mail to the contact address).
    assert {frozenset(a.context) for a in acks} == {
        frozenset({"request", "subject", "answer_by", "name", "category", "inquiry_hint", "inquiry_address"})
    }
    assert [a.context["inquiry_hint"] for a in acks] == [False, False]


async def test_unregistered_senders_get_no_self_service(
    domain: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_accounts(monkeypatch)
    await deliver(domain, make_mail(subject="ユーザー名を忘れました", body="ユーザー名がわかりません"))
    assert calls == []


async def test_staff_list_show_assign_reply_and_close_a_request(domain: Core) -> None:
    first = await deliver(domain, make_mail(subject="質問です", message_id="<m1@customer.example>"))
    number = first.number or 0
    async with domain.uow() as uow:
        [summary] = await contact_window.list_open(uow, STAFF)
    assert summary.request == f"REQ-{number:06d}"
    async with domain.uow() as uow:
        assigned = await contact_window.assign(uow, STAFF, summary.request, "USTAFF1")
    assert assigned.assignee == "USTAFF1"
    async with domain.uow() as uow:
        await contact_window.reply(uow, STAFF, str(number), "回答です。")
    [mail] = await outbox_of(domain, template="staff_reply")
    assert mail.recipients == ["user@customer.example"]
    assert mail.headers["In-Reply-To"] == "<m1@customer.example>"
    assert "<m1@customer.example>" in mail.headers["References"]
    assert mail.context["request"] == f"REQ-{number:06d}"
    # The customer's answer to the staff reply threads back.
    back = await deliver(domain, make_mail(In_Reply_To=mail.message_id))
    assert back.number == number
    async with domain.uow() as uow:
        detail = await contact_window.show(uow, STAFF, number)
    assert [m.direction for m in detail.messages] == ["in", "out", "in"]
    async with domain.uow() as uow:
        closed = await contact_window.close(uow, STAFF, number)
    assert closed.status == "closed"
    async with domain.uow() as uow:
        assert await contact_window.list_open(uow, STAFF) == []


async def test_only_staff_may_work_requests(domain: Core) -> None:
    customer = Actor(kind="account", ref="slack:T1:U9", door="slack", account_id=1)
    async with domain.uow() as uow:
        with pytest.raises(Forbidden):
            await contact_window.list_open(uow, customer)
        with pytest.raises(NotFound):
            await contact_window.show(uow, STAFF, "REQ-999999")


async def test_outbox_rows_for_staff_reply_use_the_requests_locale(domain: Core) -> None:
    first = await deliver(domain, make_mail(subject="A question", body="How do I add a key?"))
    async with domain.uow() as uow:
        await contact_window.reply(uow, STAFF, first.number or 0, "Like this.")
        rows = (
            await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.template == "staff_reply"))
        ).all()
    assert [r.locale for r in rows] == ["en"]


@pytest.mark.parametrize(
    ("subject", "status", "template"),
    [
        ("パスワードを忘れました", "active", "password_reset"),
        ("ユーザー名を忘れました", "active", "username_reminder"),
        ("登録メールが届かない", "pending", "activation_resent"),
    ],
)
async def test_self_service_with_the_real_accounts_area_mails_only_the_registered_address(
    domain: Core, subject: str, status: str, template: str
) -> None:
    async with domain.uow() as uow:
        company = await factories.company(uow)
        await factories.account(uow, company, email="taro@customer-a.example.jp", status=status)
        await uow.commit()
    await deliver(
        domain,
        make_mail(subject=subject, body=subject, sender="taro@customer-a.example.jp"),
        mail_from="taro@customer-a.example.jp",
    )
    [row] = await outbox_of(domain, template=template)
    assert row.recipients == ["taro@customer-a.example.jp"]
    assert "link" not in row.context  # a link travels sealed, never in the clear
    # A stranger asking the same gets the same acknowledgement and nothing else.
    await deliver(
        domain,
        make_mail(subject=subject, body=subject, sender="x@customer-b.example.jp"),
        mail_from="x@customer-b.example.jp",
    )
    assert len(await outbox_of(domain, template=template)) == 1
