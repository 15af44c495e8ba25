"""Block Kit of the staff's account commands (SPEC §4.11): the ``account create`` modal
(callback_id ``staff_account_create``) and the ``account erase`` confirmation.

The modal's details are the registration modal's own inputs (``bot.views.registration``)
with the same block ids, so core validates them with the wizard's rules and an error
lands on the same field.
"""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.views.registration import DETAIL_TEXT_FIELDS, checkbox_input, text_input
from core.privacy import ErasurePlan

CREATE_CALLBACK = "staff_account_create"
COMPANY_BLOCK = "company"
COMPANY_ACTION = "staff_account_company"
ERASE_ACTION = "staff_account_erase"


def _pt(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit]}


def create_modal(locale: str) -> dict[str, Any]:
    t = bk.speaker(locale)
    company = {
        "type": "input",
        "block_id": COMPANY_BLOCK,
        "label": _pt(t("privacy.create.field.company"), 2000),
        "element": {"type": "external_select", "action_id": COMPANY_ACTION, "min_query_length": 1},
    }
    blocks: list[bk.Block] = [bk.context_block(t("privacy.create.hint")), company]
    blocks += [text_input(name, locale, optional=optional) for name, optional in DETAIL_TEXT_FIELDS]
    blocks.append(checkbox_input("marketing_opt_in", locale, False, optional=True))
    consent = checkbox_input("privacy_consent", locale, False, optional=False)
    consent["element"]["options"][0]["text"]["text"] = t("privacy.create.field.privacy_consent")
    blocks.append(consent)
    return {
        "type": "modal",
        "callback_id": CREATE_CALLBACK,
        "title": _pt(t("privacy.create.title"), 24),
        "submit": _pt(t("privacy.create.submit"), 24),
        "close": _pt(t("slack.modal.cancel"), 24),
        "blocks": blocks,
    }


def company_options(choices: list[Any]) -> list[dict[str, Any]]:
    """Menu options: the company's name and address (plain text, no markup to escape)."""
    return [{"text": _pt(f"{c.name}（{c.address}）"), "value": str(c.id)} for c in choices[:100]]


def erase_preview(plan: ErasurePlan, locale: str) -> list[bk.Block]:
    t = bk.speaker(locale)
    email = bk.esc(plan.email)
    lines = [t("privacy.erase.row_count", table=bk.code(n), count=c) for n, c in plan.counts.items()]
    blocks = [bk.section(t("privacy.erase.preview", email=email)), bk.section("\n".join(lines))]
    if plan.mentions:
        more = [t("privacy.erase.row_count", table=bk.code(n), count=c) for n, c in plan.mentions.items()]
        blocks += [bk.section(t("privacy.erase.mentions")), bk.section("\n".join(more))]
    confirm = bk.button(t("privacy.erase.confirm"), ERASE_ACTION, plan.email, style="danger")
    confirm["confirm"] = {
        "title": _pt(t("privacy.erase.confirm_title"), 100),
        "text": _pt(t("privacy.erase.confirm_text", email=plan.email), 300),
        "confirm": _pt(t("privacy.erase.confirm"), 30),
        "deny": _pt(t("privacy.erase.cancel"), 30),
        "style": "danger",
    }
    blocks.append(bk.actions(confirm))
    return blocks
