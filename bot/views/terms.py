"""The terms agreement in Block Kit (SPEC §4.5): the notice every answer carries while a
support ID awaits agreement, and the declaration shown before the agreement is recorded."""

from __future__ import annotations

from bot import blocks as bk
from bot.who import Who
from core import terms
from core.snapshots import Reader

# The notice's buttons open the declaration; the declaration's button records the agreement.
TERMS_AGREE_ACTION = "terms_agree_start"
TERMS_CONFIRM_ACTION = "terms_agree"


async def terms_blocks(source: Reader, who: Who) -> list[bk.Block]:
    """The notice while any of the user's support IDs awaits agreement, else nothing."""
    if who.account_id is None:
        return []
    notice = await terms.notice_for_account(source, who.account_id)
    if notice is None:
        return []
    buttons = [
        bk.button(bk.say("slack.terms.agree_button", who.locale, support_id=name), TERMS_AGREE_ACTION, name)
        for name in notice.support_ids[:5]
    ]
    # The notice's catalog texts in the door's own rendering (core.terms.render_notice
    # is the same text unescaped).
    t = bk.speaker(who.locale)
    text = "\n".join(
        [
            t("terms.notice.title"),
            t("terms.notice.body", support_ids=", ".join(notice.support_ids), url=notice.terms_url),
            t("terms.notice.agree_hint", support_id=notice.support_ids[0]),
        ]
    )
    return [bk.divider(), bk.section(text), bk.actions(*buttons)]


def declaration_blocks(support_id: str, locale: str) -> list[bk.Block]:
    """The declaration that the user may bind the customer, with the button that agrees."""
    declaration: str
    try:
        declaration = bk.say("terms.declaration", locale, support_id=support_id)
    except KeyError:
        declaration = ""
    return [
        bk.section(declaration),
        bk.actions(
            bk.button(
                bk.say("slack.terms.confirm_button", locale),
                TERMS_CONFIRM_ACTION,
                support_id,
                style="primary",
            )
        ),
    ]
