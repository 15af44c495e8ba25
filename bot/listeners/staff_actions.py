"""The buttons on staff-channel posts: reply (a modal), close, resend activation.

Only staff may press them; anyone else is refused and the attempt audited
(``core.staff``). The outcome is noted in the request's thread so the channel shows who
did what.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot import staff_gate
from bot.who import Who
from core import contact_window, staff_desk

if TYPE_CHECKING:
    from bot.app import SlackDoor

REPLY_CALLBACK = "staff_reply"


def register(door: SlackDoor) -> None:
    app = door.app

    async def staff_or_refuse(body: dict[str, Any], context: Any, attempted: str) -> Who | None:
        return await staff_gate.staff_or_refuse(door, body, context, attempted)

    def note_in_thread(body: dict[str, Any], context: Any, text: str) -> None:
        channel = (body.get("channel") or {}).get("id")
        ts = (body.get("message") or {}).get("thread_ts") or (body.get("message") or {}).get("ts")
        if not channel or not ts:
            return
        client = context["client"]

        async def post() -> None:
            await client.chat_postMessage(channel=channel, thread_ts=ts, text=text)

        context["after_ack"](post)

    @app.action("staff_request_close")
    async def close(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        who = await staff_or_refuse(body, context, "request close")
        if who is None:
            await ack()
            return
        async with door.core.uow() as uow:
            summary = await contact_window.close(uow, who.actor, str(action.get("value", "")))
        await ack()
        note_in_thread(
            body,
            context,
            bk.say(
                "slack.staff.closed_by", who.locale, request=summary.request, user=bk.mention(who.user_id)
            ),
        )

    @app.action("staff_request_resend")
    async def resend(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        who = await staff_or_refuse(body, context, "account resend")
        if who is None:
            await ack()
            return
        async with door.core.uow() as uow:
            account = await staff_desk.resend_activation_for_request(
                uow, who.actor, str(action.get("value", ""))
            )
        await ack()
        note_in_thread(
            body,
            context,
            bk.say(
                "slack.staff.resent_by",
                who.locale,
                username=account.username,
                user=bk.mention(who.user_id),
            ),
        )

    @app.action("staff_request_reply")
    async def reply_open(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        who = await staff_or_refuse(body, context, "reply")
        await ack()
        if who is None:
            return
        request = str(action.get("value", ""))
        channel = (body.get("channel") or {}).get("id") or ""
        ts = (body.get("message") or {}).get("ts") or ""
        t = bk.speaker(who.locale)
        view = {
            "type": "modal",
            "callback_id": REPLY_CALLBACK,
            # The request number and where to note the outcome; no customer data.
            "private_metadata": f"{request}|{channel}|{ts}",
            "title": {"type": "plain_text", "text": t("slack.staff.reply_title")[:24]},
            "submit": {"type": "plain_text", "text": t("slack.staff.reply_submit")},
            "close": {"type": "plain_text", "text": t("slack.modal.cancel")},
            "blocks": [
                bk.section(f"*{bk.esc(request)}*"),
                {
                    "type": "input",
                    "block_id": "reply_text",
                    "label": {"type": "plain_text", "text": t("slack.staff.reply_label")},
                    "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
                },
            ],
        }
        client = context["client"]
        trigger = body.get("trigger_id")

        async def show() -> None:
            await client.views_open(trigger_id=trigger, view=view)

        context["after_ack"](show)

    @app.view(REPLY_CALLBACK)
    async def reply_submit(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        who = await staff_or_refuse(body, context, "reply")
        if who is None:
            await ack()
            return
        request, channel, ts = ([*str(view.get("private_metadata") or "").split("|"), "", ""])[:3]
        text = str(
            ((view.get("state") or {}).get("values", {}).get("reply_text", {}).get("value", {}) or {}).get(
                "value"
            )
            or ""
        )
        if not text.strip():
            await ack(
                response_action="errors", errors={"reply_text": bk.say("validation.required", who.locale)}
            )
            return
        async with door.core.uow() as uow:
            summary = await contact_window.reply(uow, who.actor, request, text)
        await ack(response_action="clear")
        if channel and ts:
            note = bk.say(
                "slack.staff.replied_by", who.locale, request=summary.request, user=bk.mention(who.user_id)
            )
            client = context["client"]

            async def post() -> None:
                await client.chat_postMessage(channel=channel, thread_ts=ts, text=note)

            context["after_ack"](post)
