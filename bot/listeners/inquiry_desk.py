"""Staff work an inquiry from its post (SPEC §4.8): 回答する (a modal), 担当する, 完了,
and what they write in the post's thread.

Only staff get further than a refusal: ``core.staff.admit`` audits the attempt and the
clicker reads an ephemeral refusal; nothing changes. The modal's submission calls
``core.inquiries.answer`` — the only path from staff to a customer. The buttons answer
the clicker ephemerally; the thread line and the post's new status come from core
through the outbox (``core.inquiries.desk``), the same whether staff used a button or
``/support-admin``.

A message in the thread of an inquiry's post is staff talking among themselves: it is
kept as an internal note (``core.inquiries.chatter``) and never mailed. The listener
only matches such thread messages in channels, so direct messages still reach the
``message`` listener of ``bot.listeners.events``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot import slack_files, staff_gate
from bot.staff_gate import tell_ephemeral
from bot.views import inquiry_desk as views
from bot.views.errors import error_text
from bot.who import Who, identify
from core import attachments, inquiries, staff
from core.attachments import NewFile, Unread
from core.errors import Forbidden, ValidationFailed
from core.inquiries.attachments import MAX_ATTACHMENTS
from core.inquiries.chatter import note_from_thread
from core.snapshots import open_for

if TYPE_CHECKING:
    from bot.app import SlackDoor


def _value(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return dict(((view.get("state") or {}).get("values", {}).get(block_id, {}) or {}).get("value") or {})


async def submitted_files(door: SlackDoor, context: Any, view: dict[str, Any]) -> list[NewFile | Unread]:
    """The files put in the modal's ``attachments`` file_input, fetched with the bot
    token (``bot.slack_files``; one over MADOGUCHI_ATTACHMENT_MAX_BYTES is not downloaded
    but counted, and refused). More than a message may carry are not fetched at all,
    only counted (``core.attachments.refusal`` refuses them on the block)."""
    values = (view.get("state") or {}).get("values") or {}
    ids = slack_files.file_ids(values, views.FILES_BLOCK, "value")
    if len(ids) > MAX_ATTACHMENTS:
        return [Unread(file_id, 0) for file_id in ids]
    token = str(context.get("bot_token") or door.settings.slack_bot_token or "")
    limit = door.settings.attachment_max_bytes
    return [await slack_files.fetch(context["client"], token, file_id, limit) for file_id in ids]


async def in_a_thread(body: dict[str, Any]) -> bool:
    """A person's message in the thread of a channel post (not the post, not a DM)."""
    event = body.get("event") or {}
    thread = event.get("thread_ts")
    return (
        event.get("type") == "message"
        and event.get("channel_type") in ("channel", "group")
        and not event.get("subtype")
        and not event.get("bot_id")
        and bool(thread)
        and thread != event.get("ts")
    )


def register(door: SlackDoor) -> None:
    app = door.app

    async def staff_or_refuse(body: dict[str, Any], context: Any, attempted: str) -> Who | None:
        return await staff_gate.staff_or_refuse(door, body, context, attempted)

    @app.action(views.ASSIGN_ACTION)
    async def take(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        await ack()
        who = await staff_or_refuse(body, context, "inquiry assign")
        if who is None:
            return
        async with door.core.uow() as uow:
            found = await inquiries.assign(uow, who.actor, str(action.get("value", "")), who.actor.ref)
        text = bk.say(
            "inquiry_desk.assigned",
            who.locale,
            inquiry=inquiries.format_number(found.id),
            user=bk.mention(who.user_id),
        )
        tell_ephemeral(body, context, [bk.section(text)])

    @app.action(views.CLOSE_ACTION)
    async def close(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        await ack()
        who = await staff_or_refuse(body, context, "inquiry close")
        if who is None:
            return
        async with door.core.uow() as uow:
            found = await inquiries.close(uow, who.actor, str(action.get("value", "")))
        text = bk.say("inquiry_desk.closed", who.locale, inquiry=inquiries.format_number(found.id))
        tell_ephemeral(body, context, [bk.section(text)])

    @app.action(views.ANSWER_ACTION)
    async def answer_open(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        await ack()
        who = await staff_or_refuse(body, context, "inquiry answer")
        if who is None:
            return
        async with open_for(door.core, inquiries.show) as source:
            detail = await inquiries.show(source, who.actor, str(action.get("value", "")))
        view = views.answer_modal(detail, who.locale, detail.label)
        client = context["client"]
        trigger = body.get("trigger_id")

        async def show() -> None:
            await client.views_open(trigger_id=trigger, view=view)

        context["after_ack"](show)

    @app.view(views.ANSWER_CALLBACK)
    async def answer_submit(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        who = await staff_or_refuse(body, context, "inquiry answer")
        if who is None:
            refusal = error_text(Forbidden(staff.REFUSED), context.get("locale") or door.settings.locale)
            await ack(response_action="errors", errors={views.BODY_BLOCK: refusal})
            return
        number = str(view.get("private_metadata") or "")
        text = str(_value(view, views.BODY_BLOCK).get("value") or "")
        files = await submitted_files(door, context, view)
        refused = attachments.refusal(door.settings, files)
        if refused is not None:
            await ack(response_action="errors", errors={views.FILES_BLOCK: error_text(refused, who.locale)})
            return
        try:
            async with door.core.uow() as uow:
                found = await inquiries.answer(uow, who.actor, number, text, files)
                asker = found.asker_email
        except ValidationFailed as invalid:
            errors = {
                block: bk.say(message_id, who.locale, **invalid.params)
                for block, message_id in invalid.fields.items()
                if block in (views.BODY_BLOCK, views.FILES_BLOCK)
            }
            if not errors:
                raise
            await ack(response_action="errors", errors=errors)
            return
        await ack(response_action="clear")
        done = bk.say(
            "inquiry_desk.answered", who.locale, inquiry=inquiries.format_number(found.id), asker=asker
        )
        client = context["client"]
        user = who.user_id

        async def confirm() -> None:
            opened = await client.conversations_open(users=user)
            await client.chat_postMessage(
                channel=opened["channel"]["id"], text=done, blocks=[bk.section(done)]
            )

        context["after_ack"](confirm)

    @app.event("message", matchers=[in_a_thread])
    async def thread_chatter(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        # Staff talking in an inquiry's thread: an internal note, never mail.
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context, staff=True)
            await note_from_thread(
                uow,
                who.actor,
                str(event.get("channel") or ""),
                str(event.get("thread_ts") or ""),
                str(event.get("text") or ""),
            )
