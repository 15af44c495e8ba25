"""The account lifecycle in Block Kit (SPEC §4.11): the pending answer's resend button,
``/support profile`` and its edit modal (callback_id ``profile``), the sign-in link.

The modal reuses the registration modal's inputs (``bot.views.registration``): the same
block ids (SPEC §5's field names) and labels, so the same core rules answer on the same
blocks.
"""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.views.registration import checkbox_input, text_input
from core import profile as profiles
from core.clock import JST
from core.dates import day_text, moment_text

RESEND_ACTION = "account_resend_link"
EDIT_ACTION = "profile_edit"
OPT_IN_ACTION = "profile_opt_in"
OPT_OUT_ACTION = "profile_opt_out"
PROFILE_CALLBACK = "profile"
# The modal's text inputs: §4.2 step 3 as the registration modal shows it.
MODAL_FIELDS = (
    ("last_name", False),
    ("first_name", False),
    ("last_name_kana", False),
    ("first_name_kana", False),
    ("email", False),
    ("phone", False),
    ("postal_code", False),
    ("prefecture", False),
    ("city", False),
    ("street", False),
    ("department", True),
    ("title", True),
)


def resend_button(locale: str) -> bk.Block:
    return bk.actions(
        bk.button(bk.say("slack.accounts.resend_button", locale), RESEND_ACTION, style="primary")
    )


def _row(label: str, value: str, locale: str) -> str:
    """One ``label：value`` line (full-width colon in Japanese); both already mrkdwn."""
    return bk.say("profile.row", locale, label=bk.Mrkdwn(label), value=bk.Mrkdwn(value or "—"))


def profile_blocks(found: profiles.Profile, locale: str) -> list[bk.Block]:
    t = bk.speaker(locale)
    rows = [_row(t("profile.field.company"), bk.esc(found.company), locale)]
    rows += [
        _row(t(f"registration.field.{name}"), bk.esc(found.values.get(name, "")), locale)
        for name, _ in MODAL_FIELDS
    ]
    choice = t("profile.marketing.on") if found.marketing_opt_in else t("profile.marketing.off")
    rows.append(_row(t("profile.field.marketing"), choice, locale))
    changed = found.password_changed_at
    when = day_text(changed.astimezone(JST).date(), locale) if changed else t("profile.never")
    rows.append(_row(t("profile.field.password_changed"), when, locale))
    if found.pending_email:
        rows.append(_row(t("profile.field.pending_email"), bk.esc(found.pending_email), locale))
    marketing = (
        bk.button(t("profile.opt_out_button"), OPT_OUT_ACTION)
        if found.marketing_opt_in
        else bk.button(t("profile.opt_in_button"), OPT_IN_ACTION)
    )
    return [
        bk.header(t("profile.title")),
        bk.section("\n".join(rows)),
        bk.actions(bk.button(t("profile.edit_button"), EDIT_ACTION, style="primary"), marketing),
    ]


def profile_modal(found: profiles.Profile, locale: str) -> dict[str, Any]:
    t = bk.speaker(locale)
    blocks: list[bk.Block] = [bk.context_block(t("profile.modal_hint"))]
    for name, optional in MODAL_FIELDS:
        blocks.append(text_input(name, locale, found.values.get(name, ""), optional=optional))
    blocks.append(checkbox_input("marketing_opt_in", locale, found.marketing_opt_in, optional=True))
    return {
        "type": "modal",
        "callback_id": PROFILE_CALLBACK,
        "title": {"type": "plain_text", "text": t("profile.modal_title")[:24]},
        "submit": {"type": "plain_text", "text": t("profile.save")[:24]},
        "close": {"type": "plain_text", "text": t("slack.modal.cancel")[:24]},
        "blocks": blocks,
    }


def updated_blocks(result: profiles.Updated, locale: str) -> list[bk.Block]:
    blocks = [bk.section(bk.say("profile.updated", locale))]
    if result.pending_email and result.expires_at is not None:
        blocks.append(
            bk.section(
                bk.say(
                    "profile.email_pending",
                    locale,
                    email=result.pending_email,
                    current=result.current_email,
                    expires=moment_text(result.expires_at, locale),
                )
            )
        )
    return blocks


def done_modal(blocks: list[bk.Block], locale: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": PROFILE_CALLBACK,
        "title": {"type": "plain_text", "text": bk.say("profile.modal_title", locale)[:24]},
        "close": {"type": "plain_text", "text": bk.say("slack.modal.close", locale)[:24]},
        "blocks": blocks,
    }
