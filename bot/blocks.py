"""Block Kit builders. Every sentence comes from the catalog (``core.messages``); this
module only arranges it, escapes user data for mrkdwn and keeps within Slack's limits.

Escaping happens here and nowhere else. ``say`` is the door's one way to render a catalog
sentence: every parameter goes through ``esc``, so a customer's ``<!channel>``, ``<@U…>``
or ``<http://…|link>`` reaches Slack as text, whoever passed it. Markup the door means
(a mention of a user id it checked, a code span around a value it made) is ``Mrkdwn``,
which ``esc`` leaves alone, and so is text already escaped: nothing is escaped twice.
No other module of the door imports the catalog's ``render`` (tests/unit/
test_slack_door_structure.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from core.messages import render

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50

Block = dict[str, Any]


class Mrkdwn(str):
    """Text that is mrkdwn already: escaped data, or markup the door wrote on purpose."""

    __slots__ = ()


_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")


def esc(text: object) -> Mrkdwn:
    """Escape data for mrkdwn (Slack's three control characters); ``Mrkdwn`` as it is."""
    if isinstance(text, Mrkdwn):
        return text
    data = str(text)
    # Most data has none of the three: three scans cost about half of three replaces
    # (an answer of ten search hits escapes ~70 values).
    if "&" in data or "<" in data or ">" in data:
        data = data.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Mrkdwn(data)


def mention(user_id: str) -> Mrkdwn:
    """``<@U…>`` for a well-formed Slack user id; anything else stays text."""
    return Mrkdwn(f"<@{user_id}>") if _SLACK_ID.match(user_id) else esc(user_id)


def code(text: object) -> Mrkdwn:
    """A code span around a value (backticks inside cannot end it early)."""
    return Mrkdwn("`" + esc(text).replace("`", "ˋ") + "`")


def say(message_id: str, locale: str, /, **params: Any) -> Mrkdwn:
    """A catalog sentence with every parameter escaped: the door's only ``render``."""
    return Mrkdwn(render(message_id, locale, **{k: esc(v) for k, v in params.items()}))


@lru_cache(maxsize=256)
def sentence(message_id: str, locale: str, /) -> Callable[..., Mrkdwn]:
    """``say`` of one sentence, its catalog text looked up once: for a sentence an answer
    repeats (a search hit's meta line, ten times). ``sentence(m, loc)(**params)`` is
    ``say(m, loc, **params)``."""
    text = render(message_id, locale)  # without parameters: the text as written

    def fill(**params: Any) -> Mrkdwn:
        if not params:
            return Mrkdwn(text)
        return Mrkdwn(text.format(**{k: esc(v) for k, v in params.items()}))

    return fill


def speaker(locale: str) -> Callable[..., Mrkdwn]:
    """``say`` with the locale fixed: ``t = speaker(who.locale); t("slack.id.none")``."""

    def t(message_id: str, /, **params: Any) -> Mrkdwn:
        return say(message_id, locale, **params)

    return t


def link(url: str, text: object) -> Mrkdwn:
    """``<url|text>`` for a URL the door made (a signed download link); the text is data,
    escaped, with a ``|`` that could end it made a full-width one."""
    return Mrkdwn(f"<{url}|{esc(text).replace('|', '｜')}>")


def section(text: str, *, verbatim: bool = False) -> Block:
    """A mrkdwn section; ``verbatim`` for text that carries someone else's words (a
    customer's mail): Slack then links no bare URL, channel or name in it by itself."""
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    body: Block = {"type": "mrkdwn", "text": text}
    if verbatim:
        body["verbatim"] = True
    return {"type": "section", "text": body}


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
    return [section(say(message_id, locale, **params))]


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
