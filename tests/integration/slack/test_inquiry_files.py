"""Inquiry attachments through the real protocols (SPEC §4.8): files chosen in the ask
modal are fetched from (fake) Slack with the bot token and kept with the message, or
refused on the ``attachments`` block with nothing stored; a 9 MiB PDF mailed over SMTP
to the inquiry address is shown to a colleague in ``/support inquiry show`` with a link
that the web door answers with the identical bytes; a stranger never gets a link."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot import slack_files
from core.attachments.tables import Attachment, AttachmentBlob
from core.clock import FrozenClock
from core.inquiries.tables import Inquiry, InquiryMessage
from core.unit_of_work import Core
from madoguchi.serve import Server, web_pages
from mail.smtp import SMTPServer
from tests.fakeslack import FakeSlack
from tests.integration.mail.conftest import send
from tests.integration.slack.conftest import BOT_TOKEN, SIGNING_SECRET, Slack
from tests.integration.slack.test_inquiries import ask, submission, text_of, world

__all__ = ["world"]

MIB = 1024 * 1024
LINK = re.compile(r"https?://[^|>\s\"]+/files/([0-9]+\.[0-9]+\.[0-9a-f]{32})")


@pytest.fixture
def slack_core(domain: Core, fake: FakeSlack) -> Core:
    """The Slack door's core, taking mail up to 16 MiB (a 9 MiB file is ~12.2 MiB in
    base64; docs/attachments.md "Message size")."""
    settings = domain.settings.model_copy(
        update={
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.url,
            "smtp_max_message_size": 16 * MIB,
        }
    )
    return Core(domain.sessions, settings, domain.clock)


async def stored(core: Core) -> tuple[int, int, int, int]:
    """Inquiries, messages, attachment rows, blobs: what a refusal leaves untouched."""
    async with core.uow() as uow:
        found = []
        for table in (Inquiry, InquiryMessage, Attachment, AttachmentBlob):
            found.append(int(await uow.session.scalar(select(func.count()).select_from(table)) or 0))
    return found[0], found[1], found[2], found[3]


def values(files: list[str]) -> dict[str, Any]:
    return {
        "support_id": "ACME_A",
        "product": "製品Aファミリ",
        "subject": "帳票出力でエラーになる",
        "body": "画面の写しを添付します。",
        "attachments": files,
    }


async def test_files_chosen_in_the_ask_modal_are_fetched_with_the_bot_token_and_kept(
    slack: Slack, world: Any
) -> None:
    pdf = b"%PDF-1.5\n" + bytes(5000)
    slack.fake.files["F1"] = ("画面.pdf", pdf, "application/pdf")
    slack.fake.files["F2"] = ("../メモ.txt", b"memo", "text/plain")
    view = await ask(slack)
    done = await slack.interaction(submission(view, values(["F1", "F2"])))
    assert "INQ-000001" in text_of(done["view"])
    assert {d.headers["Authorization"] for d in slack.fake.downloads} == {f"Bearer {BOT_TOKEN}"}
    assert await stored(slack.door.core) == (1, 1, 2, 2)
    shown = await slack.command("/support", "inquiry show INQ-000001", user="U2")
    text = json.dumps(shown, ensure_ascii=False)
    assert "画面.pdf" in text and "メモ.txt" in text and len(LINK.findall(text)) == 2


async def test_an_over_size_file_in_the_ask_modal_is_refused_on_its_block_and_nothing_is_stored(
    slack: Slack, world: Any
) -> None:
    limit = slack.door.core.settings.attachment_max_bytes
    slack.fake.files["FOK"] = ("memo.txt", b"fine", "text/plain")
    slack.fake.files["FBIG"] = ("巨大な図面.pdf", bytes(limit + 1), "application/pdf")
    view = await ask(slack)
    answer = await slack.interaction(submission(view, values(["FOK", "FBIG"])))
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"attachments"}
    assert answer["errors"]["attachments"] == (
        "添付ファイル「巨大な図面.pdf」は10 MiBを超えているため、お受けできませんでした。"
        "10 MiB以下に分けるか圧縮して、あらためてお送りください。"
    )
    assert [d.body["id"] for d in slack.fake.downloads] in ([], ["FOK"])  # never the big one
    assert await stored(slack.door.core) == (0, 0, 0, 0)


async def test_a_file_slack_will_not_hand_over_is_an_error_on_the_block(slack: Slack, world: Any) -> None:
    view = await ask(slack)
    answer = await slack.interaction(submission(view, values(["FGONE"])))
    assert answer["response_action"] == "errors"
    assert "ファイルを選び直して、もう一度「送信」を押してください。" in answer["errors"]["attachments"]
    assert await stored(slack.door.core) == (0, 0, 0, 0)


async def test_files_slack_is_too_slow_to_hand_over_are_an_error_that_says_what_to_do(
    slack: Slack, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_files, "FETCH_BUDGET_SECONDS", 0.0)
    slack.fake.files["F1"] = ("a.pdf", b"%PDF-1.4\n", "application/pdf")
    view = await ask(slack)
    answer = await slack.interaction(submission(view, values(["F1"])))
    assert answer["response_action"] == "errors"
    message = answer["errors"]["attachments"]
    assert "もう一度「送信」を押してください" in message and "inquiry@support.example.com" in message
    assert await stored(slack.door.core) == (0, 0, 0, 0)


# -- by mail, to a colleague --------------------------------------------------------------


@pytest.fixture
async def smtp(slack: Slack) -> AsyncIterator[SMTPServer]:
    server = SMTPServer(slack.door.core, host="127.0.0.1", port=0, process=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def web(slack: Slack, clock: FrozenClock) -> AsyncIterator[str]:
    """The web door on the same database: where the links lead."""
    settings = slack.door.core.settings.model_copy(update={"http_port": 0})
    server = Server(settings, components=[web_pages], migrate=False, clock=clock)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.http_port}"
    finally:
        await server.stop()


def pdf(size: int) -> bytes:
    head, tail = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


async def test_a_9_mib_pdf_mailed_to_the_inquiry_address_reaches_a_colleague_through_its_link(
    slack: Slack, world: Any, smtp: SMTPServer, web: str
) -> None:
    data = pdf(9 * MIB)
    sender, to = "alice@customer-a.example.jp", "inquiry+ACME_A@support.example.com"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, "見積書の件"
    msg["Message-ID"] = make_msgid(domain="customer-a.example.jp")
    msg.set_content("見積書を添付します。")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="見積書 2026年度.pdf")
    await send(smtp.port, msg.as_bytes(policy=SMTP), mail_from=sender, to=[to])
    await smtp.processor.run_once()

    # Bob (U2), a contact of ACME_A who did not send it, sees it with its link.
    shown = await slack.command("/support", "inquiry show INQ-000001", user="U2")
    text = json.dumps(shown, ensure_ascii=False)
    assert "見積書 2026年度.pdf" in text and "9.0 MiB" in text
    [token] = LINK.findall(text)
    async with aiohttp.ClientSession() as http, http.get(f"{web}/files/{token}") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/pdf"
        assert await response.read() == data

    # Carol (U3, another company) learns nothing, and no link.
    stranger = await slack.command("/support", "inquiry show INQ-000001", user="U3")
    assert "見つからないか" in json.dumps(stranger, ensure_ascii=False)
    assert not LINK.findall(json.dumps(stranger))
    listed = await slack.command("/support", "inquiries", user="U3")
    assert not LINK.findall(json.dumps(listed)) and "INQ-000001" not in json.dumps(listed)
