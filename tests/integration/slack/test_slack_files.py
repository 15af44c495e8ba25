"""bot/slack_files.py against the fake Slack: a ``file_input`` file fetched with the bot
token and kept through core.attachments, and what is not fetched."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_files import SlackFileUnavailable, fetch, file_ids
from core import attachments
from core.attachments import NewFile, Unread
from core.unit_of_work import Core
from tests.fakeslack import FakeSlack

TOKEN = "xoxb-test"


def _client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(base_url=fake.url)


async def test_a_file_input_file_is_fetched_with_the_bot_token_and_kept(
    fake: FakeSlack, domain: Core
) -> None:
    data = b"%PDF-1.5\n" + bytes(2000)
    fake.files["F123"] = ("../仕様書.pdf", data, "application/pdf")
    values = {"files": {"files": {"type": "file_input", "files": [{"id": "F123", "name": "仕様書.pdf"}]}}}
    [file_id] = file_ids(values, "files", "files")

    found = await fetch(_client(fake), TOKEN, file_id, max_bytes=10_000)
    assert found == NewFile("../仕様書.pdf", data)
    [download] = fake.downloads
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"

    async with domain.uow() as uow:
        [kept] = await attachments.store(uow, "inquiry_message", 1, [found])
        await uow.commit()
    assert (kept.name, kept.content_type, kept.size) == ("仕様書.pdf", "application/pdf", len(data))


async def test_a_file_over_the_limit_is_not_downloaded_and_the_core_refuses_it(
    fake: FakeSlack, domain: Core
) -> None:
    fake.files["FBIG"] = ("big.zip", bytes(20_000), "application/zip")
    found = await fetch(_client(fake), TOKEN, "FBIG", max_bytes=10_000)
    assert found == Unread("big.zip", 20_000)
    assert fake.downloads == []
    async with domain.uow() as uow:
        with pytest.raises(attachments.AttachmentsRefused):
            await attachments.store(uow, "inquiry_message", 1, [found])


async def test_slacks_sign_in_page_is_not_kept_as_the_file(fake: FakeSlack) -> None:
    fake.files["FX"] = ("a.pdf", b"%PDF-1.4\n", "application/pdf")
    with pytest.raises(SlackFileUnavailable):
        await fetch(_client(fake), "xoxp-not-a-bot-token", "FX", max_bytes=10_000)


async def test_an_unknown_file_is_an_error(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError):
        await fetch(_client(fake), TOKEN, "FNONE", max_bytes=10_000)


async def test_the_token_never_goes_to_another_host(fake: FakeSlack) -> None:
    fake.answers["files.info"] = lambda call: {
        "ok": True,
        "file": {
            "id": "F1",
            "name": "a.pdf",
            "size": 10,
            "url_private_download": "https://evil.example/a.pdf",
        },
    }
    with pytest.raises(SlackFileUnavailable):
        await fetch(_client(fake), TOKEN, "F1", max_bytes=10_000)
