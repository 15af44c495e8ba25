"""Backscatter over real SMTP (issue 16, item 7): what the trusted MTA in front says about
a sender (Authentication-Results, spam verdicts) withholds the acknowledgement but never
the request; and one sender cannot open more than MADOGUCHI_REQUESTS_PER_SENDER_HOUR
requests an hour (the rest kept, staff told once)."""

from __future__ import annotations

from datetime import timedelta

from core.clock import FrozenClock
from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.fakeslack import FakeSlack
from tests.integration.mail.conftest import inbound_of, make_mail, outbox_of, requests_of, send
from tests.integration.mail.staff_room import LIVE_MARKUP, deliver_outbox, fake, posted

__all__ = ["fake"]

MX = "mx.support.example.com"


def _mail(n: int, *trace: tuple[str, str]) -> bytes:
    """Mail from its own sender (no per-sender limit interferes), trace headers on top."""
    sender = f"person{n}@bank.example"
    head = "".join(f"{name}: {value}\r\n" for name, value in trace).encode()
    return head + make_mail(subject=f"お問い合わせ {n}", sender=sender)


CASES = [
    # (trace headers top first, acknowledged?)
    (
        [
            (
                "Authentication-Results",
                f"{MX}; spf=fail smtp.mailfrom=bank.example; dmarc=fail (p=reject) header.from=bank.example",
            )
        ],
        False,
    ),
    # The sender's own header below ours cannot overrule it …
    (
        [
            ("Authentication-Results", f"{MX}; dmarc=fail header.from=bank.example"),
            ("Authentication-Results", f"{MX}; dmarc=pass header.from=bank.example"),
        ],
        False,
    ),
    # … nor can a forged "fail" below our "pass" silence a genuine sender.
    (
        [
            ("Authentication-Results", f"{MX.upper()} 1; dkim=pass; dmarc=pass header.from=bank.example"),
            ("Authentication-Results", f"{MX}; dmarc=fail"),
        ],
        True,
    ),
    # Another authserv-id is nobody we trust.
    ([("Authentication-Results", "mx.evil.example; dmarc=fail")], True),
    # Comments and quoted strings are not results.
    (
        [
            (
                "Authentication-Results",
                f'{MX}; dmarc=pass (was "dmarc=fail"; really) header.from="a;dmarc=fail"',
            )
        ],
        True,
    ),
    ([("X-Spam-Flag", "YES"), ("X-Spam-Status", "Yes, score=12.3 required=5.0")], False),
    ([("X-Spam-Flag", "NO")], True),
    ([], True),
]


async def test_the_trusted_mtas_verdicts_withhold_the_acknowledgement_but_not_the_request(
    domain: Core, smtp: SMTPServer, fake: FakeSlack
) -> None:
    domain.settings.trusted_authserv_ids = frozenset({MX})
    for n, (trace, _acked) in enumerate(CASES):
        await send(smtp.port, _mail(n, *trace), mail_from=f"person{n}@bank.example")
    outcomes = await smtp.processor.run_once()
    assert [o.kind for o in outcomes] == ["request"] * len(CASES)
    assert [o.acknowledged for o in outcomes] == [acked for _t, acked in CASES]
    assert outcomes[0].ack_refused == "dmarc_fail" and outcomes[5].ack_refused == "spam"
    assert len(await outbox_of(domain, template="request_ack")) == sum(acked for _t, acked in CASES)

    posts = await deliver_outbox(domain, fake)
    assert len(posts) == len(CASES)  # staff see every one
    assert "送信元の認証（DMARC）に失敗" in posted(posts[0])
    assert "スパムと判定" in posted(posts[5])


async def test_without_trusted_authserv_ids_nothing_is_believed(domain: Core, smtp: SMTPServer) -> None:
    trace = ("Authentication-Results", f"{MX}; dmarc=fail")
    await send(smtp.port, _mail(1, trace, ("X-Spam-Flag", "YES")), mail_from="person1@bank.example")
    [outcome] = await smtp.processor.run_once()
    assert outcome.acknowledged


async def test_a_sender_over_the_cap_is_kept_without_requests_and_staff_are_told_once(
    domain: Core, smtp: SMTPServer, fake: FakeSlack, clock: FrozenClock
) -> None:
    """Before: 100 mails from one sender in 0.1 s made 100 requests and 100 staff posts."""
    sender = "Flood <flood@customer.example>"
    for n in range(14):
        await send(
            smtp.port,
            make_mail(subject=f"<!channel> 件名 {n}", sender=sender),
            mail_from="x@customer.example",
        )
    outcomes = [o for _ in range(3) for o in await smtp.processor.run_once()]
    assert [o.kind for o in outcomes] == ["request"] * 10 + ["capped"] * 4
    assert domain.settings.requests_per_sender_hour == 10  # the default
    assert len(await requests_of(domain)) == 10
    stored = await inbound_of(domain)
    assert len(stored) == 14 and all(r.raw for r in stored)  # never lost
    assert [r.error.startswith("capped:") for r in stored] == [False] * 10 + [True] * 4
    alerts = await outbox_of(domain, template="staff_alert")
    assert [a.context["message_id"] for a in alerts] == ["contact.alert.sender_capped"]
    assert alerts[0].context["params"]["sender"] == "flood@customer.example"

    posts = await deliver_outbox(domain, fake)
    assert len(posts) == 11  # ten requests and one alert
    assert not any(LIVE_MARKUP.search(posted(p)) for p in posts)

    # Still capped later in the hour: no request, no second alert.
    clock.advance(timedelta(minutes=30))
    await send(smtp.port, make_mail(subject="まだ", sender=sender), mail_from="x@customer.example")
    [still] = await smtp.processor.run_once()
    assert still.kind == "capped"
    assert len(await outbox_of(domain, template="staff_alert")) == 1
    # Other senders are not affected.
    await send(smtp.port, make_mail(subject="別の方"), mail_from="user@customer.example")
    [other] = await smtp.processor.run_once()
    assert other.kind == "request"

    # An hour after the flood, the sender's next mail is a request again.
    clock.advance(timedelta(minutes=31))
    await send(smtp.port, make_mail(subject="一時間後", sender=sender), mail_from="x@customer.example")
    [again] = await smtp.processor.run_once()
    assert again.kind == "request"


async def test_a_cap_of_zero_caps_nothing(domain: Core, smtp: SMTPServer) -> None:
    domain.settings.requests_per_sender_hour = 0
    for n in range(12):
        await send(smtp.port, make_mail(subject=f"件名 {n}"))
    outcomes = [o for _ in range(2) for o in await smtp.processor.run_once()]
    assert [o.kind for o in outcomes] == ["request"] * 12
