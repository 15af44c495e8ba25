"""The staff channel in Slack (``core.ports.StaffChannel``, SPEC §4.6).

The outbox worker (``core.outbox_worker``) decides what goes where: a new request's post
first, its follow-ups in that post's thread (``core.delivery.post_for_staff``). This
module renders a kind of post (the outbox row's template: ``request_new``,
``request_followup``, ``staff_alert``, and an inquiry's ``inquiry_new`` /
``inquiry_followup`` / ``inquiry_digest``, drawn by ``bot.views.inquiry_desk``) into Block Kit and sends it with
``chat.postMessage`` / ``chat.update``. A new request is a channel message with
reply/close(/resend activation) buttons; a follow-up has no buttons. Every value from a
mail or an alert goes through ``bot.blocks.esc`` / ``say`` (a customer's ``<!channel>``
stays text), in sections Slack takes verbatim. Raising makes the
worker retry with backoff; 429s are already retried here by slack_sdk's rate-limit
handler (Retry-After).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks as bk
from bot.views import inquiry_desk
from core import attachments, workspaces
from core.ports import PostRef
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.slack")

ACTION_IDS = {
    "reply": "staff_request_reply",
    "close": "staff_request_close",
    "resend_activation": "staff_request_resend",
}


class RetryLater(RuntimeError):
    """Raised when nothing can be posted yet (no Slack installation): the worker retries."""


def post_blocks(kind: str, locale: str, context: Mapping[str, Any]) -> list[bk.Block]:
    """How each kind of staff post looks."""
    if kind == "request_new":
        return request_blocks(context, locale)
    if kind == "request_followup":
        return request_blocks(context, locale, followup=True)
    if kind in ("inquiry_new", "inquiry_status"):
        return inquiry_desk.post_blocks(context, locale)
    if kind == "inquiry_followup":
        return inquiry_desk.followup_blocks(context, locale)
    if kind == "inquiry_digest":
        return inquiry_desk.digest_blocks(context, locale)
    if kind == "staff_alert":
        text = bk.say(str(context["message_id"]), locale, **(context.get("params") or {}))
        return [bk.section(f"⚠️ {text}", verbatim=True)]
    raise ValueError(f"unknown slack template {kind!r}")


def request_blocks(context: Mapping[str, Any], locale: str, *, followup: bool = False) -> list[bk.Block]:
    t = bk.speaker(locale)
    request = str(context.get("request", ""))
    category = str(context.get("category") or "")
    title = t("slack.staff.followup" if followup else "slack.staff.new_request", request=request)
    rows = [
        t("slack.label", label=t("slack.staff.sender"), value=context.get("sender", "")),
        t("slack.label", label=t("slack.staff.subject"), value=context.get("subject", "") or "—"),
    ]
    if category:
        try:
            label = t(f"contact.category.{category}")
        except KeyError:
            label = bk.esc(category)
        rows.insert(0, t("slack.label", label=t("slack.staff.category"), value=label))
    blocks: list[bk.Block] = [bk.section(f"*{bk.esc(title)}*"), bk.section("\n".join(rows), verbatim=True)]
    notice = context.get("notice")
    if notice:
        # A notice this version does not know: the post goes out without it.
        with contextlib.suppress(KeyError):
            blocks.append(bk.context_block(t(f"slack.staff.notice.{notice}")))
    excerpt = str(context.get("excerpt") or "").strip()
    if excerpt:
        blocks.append(bk.section("```" + bk.esc(excerpt[:1500]) + "```", verbatim=True))
    blocks.extend(attachment_blocks(context, locale))
    if not followup:
        buttons = [
            bk.button(t(f"slack.staff.action.{name}"), ACTION_IDS[name], request)
            for name in context.get("actions") or ["reply", "close"]
            if name in ACTION_IDS
        ]
        if buttons:
            blocks.append(bk.actions(*buttons, block_id="staff_request"))
    return blocks


def attachment_blocks(context: Mapping[str, Any], locale: str) -> list[bk.Block]:
    """The files of the mail: name (a signed download link), size and how long the links
    work; or why none was kept, with the names and sizes of those refused."""
    t = bk.speaker(locale)
    listed = context.get("attachments")  # a list of files; other areas may put a count here
    files = [f for f in listed if isinstance(f, dict)] if isinstance(listed, list) else []
    refused = context.get("attachments_refused")
    lines: list[str] = []
    for entry in files[:10]:
        name = entry.get("name", "")
        shown = bk.link(str(entry["url"]), name) if entry.get("url") else bk.esc(name)
        lines.append(
            f"• {shown} ({entry.get('size_text') or attachments.size_text(int(entry.get('size', 0)))})"
        )
    if refused:
        message_id = str(refused.get("message_id", ""))
        with contextlib.suppress(KeyError):
            lines.append("⚠️ " + t(message_id, **(refused.get("params") or {})))
        lines.append(t("attachments.none_kept"))
        for name, size in (refused.get("files") or [])[:20]:
            lines.append(f"• {bk.esc(name)} ({attachments.size_text(int(size))})")
    if not lines:
        return []
    blocks = [bk.section(f"*{t('attachments.heading')}*\n" + "\n".join(lines), verbatim=True)]
    if files and context.get("attachments_until"):
        blocks.append(bk.context_block(t("attachments.link_note", until=context["attachments_until"])))
    return blocks


class StaffPoster:
    """Posts, thread replies and updates in ``MADOGUCHI_STAFF_CHANNEL``."""

    def __init__(self, core: Core, client: AsyncWebClient | None = None) -> None:
        self.core = core
        # Set whenever this poster exists (build_staff_channel).
        self.channel: str = core.settings.staff_channel or ""
        self.client = client or AsyncWebClient(
            base_url=core.settings.slack_api_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
            logger=logging.getLogger("madoguchi.slack.web"),
        )
        self._token: str | None = core.settings.slack_bot_token

    async def token(self) -> str:
        if self._token:
            return self._token
        # OAuth mode: the vendor's own workspace is the latest installation.
        async with self.core.uow(background=True) as uow:
            token = await workspaces.latest_bot_token(uow)
        if token is None:
            raise RetryLater("no Slack installation yet")
        self._token = token
        return token

    async def post(self, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        blocks = post_blocks(kind, locale, context)
        # A post may name its channel (an inquiry: its product's channel, SPEC §4.8).
        channel = str(context.get("channel") or self.channel)
        answer = await self.client.chat_postMessage(
            token=await self.token(), channel=channel, text=bk.plain(blocks), blocks=blocks
        )
        return PostRef(str(answer["channel"]), str(answer["ts"]))

    async def reply(self, parent: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        blocks = post_blocks(kind, locale, context)
        answer = await self.client.chat_postMessage(
            token=await self.token(),
            channel=parent.channel,
            thread_ts=parent.ts,
            text=bk.plain(blocks),
            blocks=blocks,
        )
        return PostRef(str(answer["channel"]), str(answer["ts"]))

    async def update(self, post: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        blocks = post_blocks(kind, locale, context)
        answer = await self.client.chat_update(
            token=await self.token(), channel=post.channel, ts=post.ts, text=bk.plain(blocks), blocks=blocks
        )
        return PostRef(str(answer["channel"]), str(answer["ts"]))


def build_staff_channel(core: Core, client: AsyncWebClient | None = None) -> StaffPoster | None:
    """The staff channel for the outbox worker, or None when it cannot be reached."""
    s = core.settings
    if not s.staff_channel or not (s.slack_bot_token or (s.slack_client_id and s.slack_client_secret)):
        return None
    return StaffPoster(core, client)
