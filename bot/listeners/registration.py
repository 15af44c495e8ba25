"""The registration modal's submissions and buttons (callback_id ``register``) over
``core.registration``; the modal itself is ``bot.views.registration``.

One modal walks the five steps of SPEC §4.2. A submission answers with
``response_action: update`` (the next step) or ``errors`` (on the offending block); a
button inside the modal (change company, pick, back) is answered by ``views.update``
after the ack. ``private_metadata`` holds the opaque conversation id and nothing else;
which step a submission belongs to is read from the view's first block id, and the core
refuses a stale one (``registration.wrong_step``), which re-renders the current step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.views.errors import error_text
from bot.views.registration import CALLBACK_ID, STEP_PREFIX, message_modal, modal, submitted_values
from bot.who import Who, identify
from core import accounts
from core import registration as reg
from core.errors import DomainError, ValidationFailed
from core.snapshots import open_for

if TYPE_CHECKING:
    from bot.app import SlackDoor


def submitted_step(view: dict[str, Any]) -> str:
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(STEP_PREFIX):
            return block_id[len(STEP_PREFIX) :]
    return ""


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
        # Who is asking changes nothing, so core answers it from a snapshot, cheaper
        # than the unit of work's ORM session (docs/performance.md).
        async with open_for(door.core, accounts.slack_identity) as source:
            who = await identify(door, source, body, context)
        context["who"] = who
        async with door.core.uow() as uow:
            try:
                result = await _step(uow, who, cid, step, values)
            except ValidationFailed as error:
                if "throttle.wait" in error.fields.values():
                    door.metrics.throttle_hit("slack", "support_key")
                errors = {
                    field: bk.say(mid, who.locale, **error.params)
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
            text = bk.say(result.message_id or "registration.done", who.locale, **result.params)
            username = str(result.values.get("username") or result.values.get("email") or "")
            dm = [
                bk.section(text),
                bk.section(f"*{bk.say('registration.field.username', who.locale)}*: {bk.esc(username)}"),
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
