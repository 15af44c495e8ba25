"""The registration modal (callback_id ``register``) over ``core.registration``.

One modal walks the five steps of SPEC §4.2. A submission answers with
``response_action: update`` (the next step) or ``errors`` (on the offending block); a
button inside the modal (change company, pick, back) is answered by ``views.update``
after the ack. ``private_metadata`` holds the opaque conversation id and nothing else;
which step a submission belongs to is read from the view's first block id, and the core
refuses a stale one (``registration.wrong_step``), which re-renders the current step.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.listeners.errors import error_text
from bot.who import Who, identify
from core import contact_details
from core import registration as reg
from core.errors import DomainError, ValidationFailed
from core.messages import in_locale, render
from core.snapshots import snapshot

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
        "label": _pt(render(f"registration.field.{block_id}", locale), 2000),
        "element": element,
    }


def checkbox_input(block_id: str, locale: str, checked: bool, *, optional: bool) -> bk.Block:
    option = {
        "text": {"type": "mrkdwn", "text": render(f"registration.field.{block_id}", locale)},
        "value": "yes",
    }
    element: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": [option]}
    if checked:
        element["initial_options"] = [option]
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _pt(render(f"registration.field.{block_id}", locale), 2000),
        "element": element,
    }


def _company_lines(company: Any, locale: str) -> str:
    t = in_locale(locale)
    return (
        f"*{bk.esc(company.name)}*\n"
        f"{t('registration.field.company_postal_code')}: {bk.esc(company.postal_code)}\n"
        f"{t('registration.field.company_address')}: {bk.esc(company.address)}\n"
        f"{t('registration.field.company_phone')}: {bk.esc(company.phone)}"
    )


def modal(view: reg.View, locale: str) -> dict[str, Any]:
    """The Block Kit modal for one step of the conversation."""
    t = in_locale(locale)
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


def message_modal(locale: str, text: str, *, restart: bool = False) -> dict[str, Any]:
    blocks = [bk.section(text)]
    if restart:
        blocks.append(bk.actions(bk.button(render("registration.action.start", locale), "register_restart")))
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _pt(render("slack.modal.title", locale), 24),
        "close": _pt(render("slack.modal.close", locale)),
        "blocks": blocks,
    }


def submitted_values(view: dict[str, Any]) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        value = actions.get("value") or {}
        if value.get("type") == "checkboxes":
            out[block_id] = bool(value.get("selected_options"))
        else:
            out[block_id] = str(value.get("value") or "")
    return out


def submitted_step(view: dict[str, Any]) -> str:
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(STEP_PREFIX):
            return block_id[len(STEP_PREFIX) :]
    return ""


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


async def _step(uow: Any, who: Who, cid: str, step: str, values: dict[str, str | bool]) -> reg.View:
    actor = who.actor
    if step == "support_key":
        return await reg.submit_key(uow, actor, cid, str(values.get("support_key", "")))
    if step == "company":
        return await reg.confirm_company(uow, actor, cid)
    if step in ("company_search", "company_results"):
        return await reg.search_companies(
            uow, actor, cid, str(values.get("company_name", "")), str(values.get("company_area", ""))
        )
    if step == "details":
        return await reg.submit_details(uow, actor, cid, values)
    if step == "confirm":
        return await reg.submit(uow, actor, cid)
    return await reg.current(uow, actor, cid)


def register(door: SlackDoor) -> None:
    app = door.app

    async def recover(uow: Any, error: DomainError, who: Who, cid: str) -> dict[str, Any]:
        """The modal to show when the conversation cannot take this step. Runs in the
        caller's unit of work: on SQLite a second one would wait for the first."""
        if error.message_id == reg.WRONG_STEP:
            await uow.rollback()
            try:
                return modal(await reg.current(uow, who.actor, cid), who.locale)
            except DomainError as again:
                error = again
        restart = error.message_id == reg.EXPIRED
        return message_modal(who.locale, error_text(error, who.locale), restart=restart)

    @app.view(CALLBACK_ID)
    async def submission(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        cid = str(view.get("private_metadata") or "")
        step = submitted_step(view)
        values = submitted_values(view)
        # Who is asking changes nothing: read from a snapshot, cheaper than the unit of
        # work's ORM session (bench/slack.py).
        async with snapshot(door.core) as snap:
            who = await identify(door, snap, body, context)
        context["who"] = who
        async with door.core.uow() as uow:
            try:
                result = await _step(uow, who, cid, step, values)
            except ValidationFailed as error:
                if "throttle.wait" in error.fields.values() and door.metrics is not None:
                    door.metrics.throttle_hits.labels(door="slack", scope="support_key").inc()
                errors = {
                    field: render(mid, who.locale, **error.params)
                    for field, mid in error.fields.items()
                    if field in values
                }
                if errors:
                    await ack(response_action="errors", errors=errors)
                    return
                await ack(
                    response_action="update", view=message_modal(who.locale, error_text(error, who.locale))
                )
                return
            except DomainError as error:
                await ack(response_action="update", view=await recover(uow, error, who, cid))
                return
        await ack(response_action="update", view=modal(result, who.locale))
        if result.step == "done":
            text = render(result.message_id or "registration.done", who.locale, **result.params)
            username = str(result.values.get("username") or result.values.get("email") or "")
            dm = [
                bk.section(text),
                bk.section(f"*{render('registration.field.username', who.locale)}*: {bk.esc(username)}"),
            ]
            client = context["client"]

            async def tell() -> None:
                await client.chat_postMessage(channel=who.user_id, text=bk.plain(dm), blocks=dm)

            context["after_ack"](tell)

    @app.action({"type": "block_actions", "action_id": "register_change_company"})
    async def change_company(ack: Any, body: dict[str, Any], context: Any) -> None:
        await _button(ack, body, context, lambda uow, who, cid: reg.change_company(uow, who.actor, cid))

    @app.action({"type": "block_actions", "action_id": "register_back_company"})
    async def back_company(ack: Any, body: dict[str, Any], context: Any) -> None:
        await _button(ack, body, context, lambda uow, who, cid: reg.back(uow, who.actor, cid, "company"))

    @app.action({"type": "block_actions", "action_id": "register_back_details"})
    async def back_details(ack: Any, body: dict[str, Any], context: Any) -> None:
        await _button(ack, body, context, lambda uow, who, cid: reg.back(uow, who.actor, cid, "details"))

    @app.action({"type": "block_actions", "action_id": "register_pick"})
    async def pick(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        try:
            company_id = int(str(action.get("value", "")))
        except ValueError:
            company_id = -1
        await _button(
            ack, body, context, lambda uow, who, cid: reg.pick_company(uow, who.actor, cid, company_id)
        )

    @app.action({"type": "block_actions", "action_id": "register_restart"})
    async def restart(ack: Any, body: dict[str, Any], context: Any) -> None:
        await _button(ack, body, context, lambda uow, who, cid: reg.start(uow, who.actor))

    async def _button(ack: Any, body: dict[str, Any], context: Any, step: Any) -> None:
        view = body.get("view") or {}
        cid = str(view.get("private_metadata") or "")
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context)
            context["who"] = who
            try:
                payload = modal(await step(uow, who, cid), who.locale)
            except DomainError as error:
                payload = await recover(uow, error, who, cid)
        await ack()
        client = context["client"]
        view_id, view_hash = view.get("id"), view.get("hash")

        async def update() -> None:
            await client.views_update(view_id=view_id, hash=view_hash, view=payload)

        context["after_ack"](update)
