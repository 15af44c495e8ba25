"""Pieces every answer shares: the terms notice (SPEC §4.5) and the ephemeral reply."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.who import Who
from core import terms
from core.messages import render
from core.snapshots import Snapshot
from core.unit_of_work import UnitOfWork

TERMS_AGREE_ACTION = "terms_agree_start"


async def terms_blocks(source: UnitOfWork | Snapshot, who: Who) -> list[bk.Block]:
    """The notice while any of the user's support IDs awaits agreement, else nothing."""
    if who.account_id is None:
        return []
    notice = await terms.notice_for_account(source, who.account_id)
    if notice is None:
        return []
    buttons = [
        bk.button(render("slack.terms.agree_button", who.locale, support_id=name), TERMS_AGREE_ACTION, name)
        for name in notice.support_ids[:5]
    ]
    return [bk.divider(), bk.section(terms.render_notice(notice, who.locale)), bk.actions(*buttons)]


def ephemeral(blocks: list[bk.Block]) -> dict[str, Any]:
    blocks = bk.clip(blocks)
    return {"response_type": "ephemeral", "text": bk.plain(blocks), "blocks": blocks}
