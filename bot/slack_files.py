"""Files people attach in the modals (Block Kit ``file_input``), fetched for keeping.

A ``file_input`` hands the app file ids; the bytes stay in Slack until the app fetches
them with its bot token (scope ``files:read``): ``files.info`` for the name, size and
``url_private_download``, then a GET of that URL with ``Authorization: Bearer``. What
comes back is a ``core.attachments.NewFile`` for the modal's core service to store with
its message (``core.attachments.store``: names sanitised, type sniffed, all or none).

Guarded here, because it is about Slack: the token is only ever sent to Slack's file
host (or, in tests, the host of MADOGUCHI_SLACK_API_URL), redirects are not followed;
a file Slack says is larger than MADOGUCHI_ATTACHMENT_MAX_BYTES is not downloaded
(``Unread``, which the core refuses with its message), and a download is read at most
to the limit plus one byte; Slack's HTML sign-in page instead of the file (an expired
token) is an error, not a file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.attachments import NewFile, Unread

log = logging.getLogger("madoguchi.slack")

SLACK_FILE_HOSTS = frozenset({"files.slack.com"})
_CHUNK = 64 * 1024


class SlackFileUnavailable(RuntimeError):
    """Raised when Slack does not hand over a file (unknown, no access, not a download)."""


def file_ids(state_values: dict[str, Any], block_id: str, action_id: str) -> list[str]:
    """The ids a ``file_input`` in a submitted view carries (``view.state.values``)."""
    element = (state_values.get(block_id) or {}).get(action_id) or {}
    return [str(f["id"]) for f in element.get("files") or [] if isinstance(f, dict) and f.get("id")]


def _allowed(url: str, client: AsyncWebClient) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname in SLACK_FILE_HOSTS:
        return True
    api = urlsplit(client.base_url)  # a test's fake Slack serves its files itself
    return (parts.scheme, parts.netloc) == (api.scheme, api.netloc) and api.hostname in (
        "127.0.0.1",
        "localhost",
    )


async def fetch(client: AsyncWebClient, token: str, file_id: str, max_bytes: int) -> NewFile | Unread:
    """The file ``file_id`` as the core keeps it; ``Unread`` when over ``max_bytes``.

    Raises ``SlackFileUnavailable`` when Slack will not hand it over.
    """
    info = await client.files_info(token=token, file=file_id)
    file: dict[str, Any] = info.get("file") or {}
    name = str(file.get("name") or file.get("title") or "")
    size = int(file.get("size") or 0)
    if size > max_bytes:
        return Unread(name, size)
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    if not url or not _allowed(url, client):
        raise SlackFileUnavailable(f"file {file_id}: no download URL on Slack's file host")
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(url, headers=headers, allow_redirects=False) as response,
    ):
        if response.status != 200:
            raise SlackFileUnavailable(f"file {file_id}: HTTP {response.status}")
        declared = str(file.get("mimetype") or "")
        if response.content_type == "text/html" and declared != "text/html":
            raise SlackFileUnavailable(f"file {file_id}: Slack answered with a page, not the file")
        data = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > max_bytes:
                return Unread(name, max(size, len(data)))
    log.info("slack file fetched", extra={"slack_file": file_id, "size": len(data)})
    return NewFile(name, bytes(data))


# How long a modal's submission may spend fetching its files: Slack gives up on the
# submission's answer after 3 s, and the answer still needs a transaction after this.
FETCH_BUDGET_SECONDS = 2.0


async def fetch_all(
    client: AsyncWebClient,
    token: str,
    file_ids: Sequence[str],
    max_bytes: int,
    budget: float | None = None,
) -> list[NewFile | Unread]:
    """The files of a submitted ``file_input``, fetched at once (concurrently), in the
    order given, within ``budget`` seconds (``FETCH_BUDGET_SECONDS``). Raises ``SlackFileUnavailable`` when one
    cannot be had, ``TimeoutError`` when they take longer than the budget (the others
    are cancelled)."""
    if not file_ids:
        return []
    jobs = [fetch(client, token, file_id, max_bytes) for file_id in file_ids]
    try:
        timeout = FETCH_BUDGET_SECONDS if budget is None else budget
        return list(await asyncio.wait_for(asyncio.gather(*jobs), timeout=timeout))
    except SlackApiError as error:  # files.info: unknown file, no access
        raise SlackFileUnavailable(str(error.response.get("error") or "files.info failed")) from error
    except aiohttp.ClientError as error:
        raise SlackFileUnavailable(f"download failed: {type(error).__name__}") from error
