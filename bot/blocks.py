"""Block Kit builders. Every sentence comes from the catalog (``core.messages``); this
module only arranges it, escapes user data for mrkdwn and keeps within Slack's limits."""

from __future__ import annotations

from typing import Any

from core.messages import render

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50

Block = dict[str, Any]


def esc(text: object) -> str:
    """Escape user data for mrkdwn (Slack's three control characters)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> Block:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


def divider() -> Block:
    return {"type": "divider"}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None) -> Block:
    b: Block = {"type": "button", "text": {"type": "plain_text", "text": text[:75]}, "action_id": action_id}
    if value:
        b["value"] = value[:2000]
    if style:
        b["style"] = style
    return b


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def message(locale: str, message_id: str, **params: Any) -> list[Block]:
    return [section(render(message_id, locale, **params))]


def fields_table(rows: list[tuple[str, str]]) -> Block:
    """A two-column section; rows are (label, value), both already mrkdwn-safe."""
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value or '—'}"} for label, value in rows[:10]],
    }


def plain(blocks: list[Block]) -> str:
    """The notification fallback text Slack shows where blocks cannot be."""
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            return str(text["text"])[:300]
    return "madoguchi"


def clip(blocks: list[Block]) -> list[Block]:
    return blocks[:BLOCK_LIMIT]


def ephemeral(blocks: list[Block]) -> dict[str, Any]:
    """An answer only the user who asked sees (a command's ack, a ``response_url`` post)."""
    blocks = clip(blocks)
    return {"response_type": "ephemeral", "text": plain(blocks), "blocks": blocks}
