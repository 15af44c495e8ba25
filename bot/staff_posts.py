"""Posts to the staff channel for outbox rows of channel "slack" (SPEC §4.6).

The outbox worker (mail door) claims the row and calls ``deliver(template, locale,
context)``; this module renders it into Block Kit and posts it. A new request is a
channel message with reply/close(/resend activation) buttons; a follow-up is a reply in
that message's thread. Raising makes the worker retry with backoff; 429s are already
retried here by slack_sdk's rate-limit handler (Retry-After).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot import blocks as bk
from core.messages import in_locale, render
from core.models import SlackInstallation
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.slack")

SlackDeliver = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any] | None]]

ACTION_IDS = {
    "reply": "staff_request_reply",
    "close": "staff_request_close",
    "resend_activation": "staff_request_resend",
}


class RetryLater(RuntimeError):
    """Raised when a row cannot be posted yet (its parent post is not delivered)."""


def request_blocks(context: dict[str, Any], locale: str, *, followup: bool = False) -> list[bk.Block]:
    t = in_locale(locale)
    request = str(context.get("request", ""))
    category = str(context.get("category") or "")
    title = t("slack.staff.followup" if followup else "slack.staff.new_request", request=request)
    rows = [
        f"*{t('slack.staff.sender')}*: {bk.esc(context.get('sender', ''))}",
        f"*{t('slack.staff.subject')}*: {bk.esc(context.get('subject', '')) or '—'}",
    ]
    if category:
        try:
            rows.insert(0, f"*{t('slack.staff.category')}*: {t(f'contact.category.{category}')}")
        except KeyError:
            rows.insert(0, f"*{t('slack.staff.category')}*: {bk.esc(category)}")
    blocks: list[bk.Block] = [bk.section(f"*{bk.esc(title)}*"), bk.section("\n".join(rows))]
    excerpt = str(context.get("excerpt") or "").strip()
    if excerpt:
        blocks.append(bk.section("```" + bk.esc(excerpt[:1500]) + "```"))
    if not followup:
        buttons = [
            bk.button(t(f"slack.staff.action.{name}"), ACTION_IDS[name], request)
            for name in context.get("actions") or ["reply", "close"]
            if name in ACTION_IDS
        ]
        if buttons:
            blocks.append(bk.actions(*buttons, block_id="staff_request"))
    return blocks


class StaffPoster:
    def __init__(self, core: Core, client: AsyncWebClient | None = None) -> None:
        self.core = core
        # Set whenever this deliverer exists (build_deliver).
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
        async with self.core.uow() as uow:
            row = await uow.session.scalar(
                select(SlackInstallation).order_by(SlackInstallation.installed_at.desc()).limit(1)
            )
            if row is None:
                raise RetryLater("no Slack installation yet")
            self._token = str(uow.sealer.open(row.sealed_bot_token)["bot_token"])
        return self._token

    async def __call__(self, template: str, locale: str, context: dict[str, Any]) -> dict[str, Any] | None:
        token = await self.token()
        if template == "request_new":
            blocks = request_blocks(context, locale)
            answer = await self.client.chat_postMessage(
                token=token, channel=self.channel, text=bk.plain(blocks), blocks=blocks
            )
            return {"channel": answer["channel"], "ts": answer["ts"]}
        if template == "request_followup":
            channel, thread = context.get("channel"), context.get("thread_ts")
            if not channel or not thread:
                raise RetryLater("parent post not delivered yet")
            blocks = request_blocks(context, locale, followup=True)
            answer = await self.client.chat_postMessage(
                token=token, channel=channel, thread_ts=thread, text=bk.plain(blocks), blocks=blocks
            )
            return {"channel": answer["channel"], "ts": answer["ts"]}
        if template == "staff_alert":
            text = render(str(context["message_id"]), locale, **(context.get("params") or {}))
            blocks = [bk.section(f"⚠️ {text}")]
            answer = await self.client.chat_postMessage(
                token=token, channel=self.channel, text=bk.plain(blocks), blocks=blocks
            )
            return {"channel": answer["channel"], "ts": answer["ts"]}
        raise ValueError(f"unknown slack template {template!r}")


def build_deliver(core: Core, client: AsyncWebClient | None = None) -> SlackDeliver | None:
    """The outbox worker's Slack sender, or None when the staff channel cannot be reached."""
    s = core.settings
    if not s.staff_channel or not (s.slack_bot_token or (s.slack_client_id and s.slack_client_secret)):
        return None
    return StaffPoster(core, client)
