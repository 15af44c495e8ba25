"""The registration modal in Block Kit (callback_id ``register``): one rendering per step
of ``core.registration``'s conversation (SPEC §4.2), and opening it — ``/support
register`` and the App Home's button both start a conversation here.

The step a submission belongs to is the id of the view's first block (``step_<name>``);
``private_metadata`` holds the opaque conversation id and nothing else.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.who import identify
from core import contact_details
from core import registration as reg

if TYPE_CHECKING:
    from bot.app import SlackDoor

CALLBACK_ID = "register"
STEP_PREFIX = "step_"
# The submit button of each step; other actions are buttons inside the modal.
SUBMITS = {
    "support_key": "submit_key",
    "company": "confirm_company",
    "company_search": "search",
    "company_results": "search",
    "details": "submit_details",
    "confirm": "submit",
}
BUTTON_ACTIONS = ("change_company", "back_company", "back_details")
DETAIL_TEXT_FIELDS = (
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
# The text fields in the order core validates them; the two checkboxes are shown apart.
CONFIRM_FIELDS = tuple(name for name in contact_details.FIELDS if name not in contact_details.CHECKBOXES)


def _pt(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit]}


def text_input(block_id: str, locale: str, value: str = "", *, optional: bool = False) -> bk.Block:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value"}
    if value:
        element["initial_value"] = value
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _pt(bk.say(f"registration.field.{block_id}", locale), 2000),
        "element": element,
    }


def checkbox_input(block_id: str, locale: str, checked: bool, *, optional: bool) -> bk.Block:
    option = {
        "text": {"type": "mrkdwn", "text": bk.say(f"registration.field.{block_id}", locale)},
        "value": "yes",
    }
    element: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": [option]}
    if checked:
        element["initial_options"] = [option]
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _pt(bk.say(f"registration.field.{block_id}", locale), 2000),
        "element": element,
    }


def _company_lines(company: Any, locale: str) -> str:
    t = bk.speaker(locale)
    return (
        f"*{bk.esc(company.name)}*\n"
        f"{t('registration.field.company_postal_code')}: {bk.esc(company.postal_code)}\n"
        f"{t('registration.field.company_address')}: {bk.esc(company.address)}\n"
        f"{t('registration.field.company_phone')}: {bk.esc(company.phone)}"
    )


def modal(view: reg.View, locale: str) -> dict[str, Any]:
    """The Block Kit modal for one step of the conversation."""
    t = bk.speaker(locale)
    step = view.step
    params = {k: bk.esc(v) for k, v in view.params.items()}
    blocks: list[bk.Block] = []
    if view.message_id:
        blocks.append(bk.section(t(view.message_id, **params)))
    if view.hint_id:
        with contextlib.suppress(KeyError):
            blocks.append(bk.context_block(t(view.hint_id, **params)))
    values = view.values
    if step == "support_key":
        blocks.append(text_input("support_key", locale))
    elif step == "company" and view.company is not None:
        blocks.append(bk.section(_company_lines(view.company, locale)))
    elif step in ("company_search", "company_results"):
        blocks.append(text_input("company_name", locale, str(values.get("company_name", ""))))
        blocks.append(text_input("company_area", locale, str(values.get("company_area", "")), optional=True))
        for company in view.results[:20]:
            blocks.append(
                {
                    **bk.section(_company_lines(company, locale)),
                    "accessory": bk.button(t("registration.action.pick"), "register_pick", str(company.id)),
                }
            )
    elif step == "details":
        for name, optional in DETAIL_TEXT_FIELDS:
            blocks.append(text_input(name, locale, str(values.get(name, "") or ""), optional=optional))
        blocks.append(
            checkbox_input("marketing_opt_in", locale, bool(values.get("marketing_opt_in")), optional=True)
        )
        if view.privacy_url:
            # The operator's own URL (settings), escaped like any value all the same.
            link = bk.Mrkdwn(f"<{bk.esc(view.privacy_url)}|{t('registration.privacy_link_label')}>")
            blocks.append(bk.context_block(t("registration.privacy_link", link=link)))
        blocks.append(
            checkbox_input("privacy_consent", locale, bool(values.get("privacy_consent")), optional=False)
        )
    elif step == "confirm":
        if view.company is not None:
            blocks.append(bk.section(_company_lines(view.company, locale)))
        rows = [
            f"*{t(f'registration.field.{name}')}*: {bk.esc(values.get(name, '') or '—')}"
            for name in CONFIRM_FIELDS
        ]
        yes, no = t("slack.modal.yes"), t("slack.modal.no")
        rows.append(
            f"*{t('registration.field.marketing_opt_in')}*: {yes if values.get('marketing_opt_in') else no}"
        )
        rows.append(
            f"*{t('registration.field.privacy_consent')}*: {yes if values.get('privacy_consent') else no}"
        )
        blocks.append(bk.section("\n".join(rows)))
    elif step == "done":
        username = str(values.get("username") or values.get("email") or "")
        blocks.insert(0, bk.section(f"*{t('registration.field.username')}*: {bk.esc(username)}"))
    buttons = [
        bk.button(t(f"registration.action.{a}"), f"register_{a}") for a in view.actions if a in BUTTON_ACTIONS
    ]
    if buttons:
        blocks.append(bk.actions(*buttons))
    # The step marker: the first block's id (a view_submission carries the view's blocks).
    if blocks and blocks[0]["type"] != "input":
        blocks[0] = {**blocks[0], "block_id": f"{STEP_PREFIX}{step}"}
    else:
        blocks.insert(
            0, {**bk.context_block(t(f"registration.step.{step}")), "block_id": f"{STEP_PREFIX}{step}"}
        )
    out: dict[str, Any] = {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": view.conversation_id,
        "title": _pt(t(f"registration.step.{step}"), 24),
        "close": _pt(
            t("slack.modal.close" if step in ("done", "company_not_found") else "slack.modal.cancel")
        ),
        "blocks": bk.clip(blocks),
    }
    submit = SUBMITS.get(step)
    if submit:
        out["submit"] = _pt(t(f"registration.action.{submit}"))
    return out


def submitted_values(view: dict[str, Any]) -> dict[str, str | bool]:
    """A modal's input values by block id (``value`` actions): text, or a checkbox's state."""
    out: dict[str, str | bool] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        value = actions.get("value") or {}
        if value.get("type") == "checkboxes":
            out[block_id] = bool(value.get("selected_options"))
        else:
            out[block_id] = str(value.get("value") or "")
    return out


def message_modal(locale: str, text: str, *, restart: bool = False) -> dict[str, Any]:
    blocks = [bk.section(text)]
    if restart:
        blocks.append(bk.actions(bk.button(bk.say("registration.action.start", locale), "register_restart")))
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _pt(bk.say("slack.modal.title", locale), 24),
        "close": _pt(bk.say("slack.modal.close", locale)),
        "blocks": blocks,
    }


async def open_registration(door: SlackDoor, ack: Any, body: dict[str, Any], context: Any) -> None:
    """``/support register`` and the App Home button: start a conversation, ack, then
    ``views.open`` with the trigger (a Web API call, so after the ack)."""
    async with door.core.uow() as uow:
        who = await identify(door, uow, body, context)
        context["who"] = who
        view = await reg.start(uow, who.actor)
    await ack()
    client = context["client"]
    trigger = body.get("trigger_id")
    payload = modal(view, who.locale)

    async def show() -> None:
        await client.views_open(trigger_id=trigger, view=payload)

    context["after_ack"](show)
