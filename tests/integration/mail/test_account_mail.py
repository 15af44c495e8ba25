"""SPEC §4.11: the account notification mail greets ``{company} {姓} {名} 様`` and states
the link's exact expiry, date and time in JST, in the reader's language — sent through
the outbox worker to a real SMTP relay on loopback."""

from __future__ import annotations

import email
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default

import pytest

from core import accounts
from core.actors import Actor
from core.clock import FrozenClock
from core.unit_of_work import Core
from tests import factories
from tests.integration.mail.conftest import Sink, worker_for

SLACK = Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1"))


async def _register(domain: Core, locale: str) -> None:
    async with domain.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        await accounts.create_account(uow, SLACK, factories.details(), company.id, locale)
        await uow.commit()


def _parts(raw: bytes) -> tuple[str, str]:
    msg: EmailMessage = email.message_from_bytes(raw, policy=default)  # type: ignore[assignment]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html


@pytest.mark.parametrize(
    ("locale", "greeting", "expiry"),
    [
        ("ja", "顧客A株式会社 山田 太郎 様", "2026年12月3日（木）10時00分まで有効です。"),
        ("en", "Dear 山田 太郎 (顧客A株式会社),", "valid until Thu 3 Dec 2026, 10:00 JST."),
    ],
)
async def test_the_welcome_mail_greets_company_and_name_and_states_the_exact_expiry_in_jst(
    domain: Core, sink: Sink, locale: str, greeting: str, expiry: str
) -> None:
    await _register(domain, locale)
    await worker_for(domain, sink).drain()
    [(_, rcpts, raw)] = sink.messages
    text, html = _parts(raw)
    assert rcpts == ["taro.yamada@customer-a.example.jp"]
    assert text.startswith(greeting) and greeting in html
    assert expiry in text and expiry in html
    assert "2026-12-03" not in text


async def test_a_resent_link_states_its_own_expiry(domain: Core, sink: Sink, clock: FrozenClock) -> None:
    await _register(domain, "ja")
    clock.advance(timedelta(hours=30, minutes=15))
    async with domain.uow() as uow:
        await accounts.resend_activation(uow, SLACK, "taro.yamada@customer-a.example.jp")
        await uow.commit()
    await worker_for(domain, sink).drain()
    texts = [_parts(raw)[0] for _, _, raw in sink.messages]
    [resent] = [t for t in texts if "再発行" in t]
    assert resent.startswith("顧客A株式会社 山田 太郎 様")
    assert "2026年12月4日（金）16時15分まで有効です。" in resent
