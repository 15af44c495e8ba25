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
    listed = bk.Mrkdwn(
        "\n".join(terms.notice_entry(name, text, who.locale, bk.say) for name, text in notice.entries)
    )
    text = "\n".join(
        [
            t("terms.notice.title"),
            t("terms.notice.body", support_ids=listed, url=notice.terms_url),
            t("terms.notice.agree_hint", support_id=notice.support_ids[0]),
        ]
    )
    return [bk.divider(), bk.section(text), bk.actions(*buttons)]


def declaration_blocks(declaration: terms.Declaration, locale: str) -> list[bk.Block]:
    """The declaration (SPEC §4.11: entitled to bind the customer, or approved by someone
    who is), whom to ask about the terms, and the button that agrees."""
    t = bk.speaker(locale)
    described = (
        t("terms.declaration_description", description=declaration.description)
        if declaration.description.strip()
        else bk.Mrkdwn("")
    )
    text = t(
        "terms.declaration",
        support_id=declaration.support_id,
        description=described,
        version=declaration.terms_version,
        url=declaration.terms_url,
    )
    return [
        bk.section(text),
        bk.context_block(t("terms.declaration_questions", contact=declaration.contact_address)),
        bk.actions(
            bk.button(
                t("slack.terms.confirm_button"),
                TERMS_CONFIRM_ACTION,
                declaration.support_id,
                style="primary",
            )
        ),
    ]
