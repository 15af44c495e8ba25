"""The inquiry modals and buttons (SPEC §4.8, §5): the ask modal's submission (callback_id
``inquiry``) and its support-ID choice, the reply modal, and the buttons 返信する /
完了にする / next page / ask (from a DM or the App Home); the views are
``bot.views.inquiries``.

A submission answers within the ack: ``response_action: errors`` on the offending block
for a ``ValidationFailed``, else ``update`` to a modal that says what happened. Every
Web API call (``views.open``, ``views.update``, ``response_url``) runs after the ack.
Attached files are passed to core as their Slack file ids; downloading them with the
bot token comes with the attachment store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bot import blocks as bk
from bot import slack_files
from bot.subcommands.inquiries import ask_view, replied_blocks
from bot.views.errors import error_text
from bot.views.inquiries import (
    CALLBACK_ID,
    CLOSE_ACTION,
    FROM_MESSAGE_ACTION,
    PAGE_ACTION,
    REPLY_ACTION,
    REPLY_CALLBACK_ID,
    ask_modal,
    inquiry_list,
    message_modal,
    reply_modal,
)
from bot.views.knowledge import suggested, with_suggestions
from bot.who import Who, identify
from core import accounts, inquiries, support_ids
from core.attachments import NewFile, Unread
from core.dates import long_date
from core.errors import DomainError, ValidationFailed
from core.snapshots import open_for

if TYPE_CHECKING:
    from bot.app import SlackDoor
    from core.inquiries import Opened, Replied
    from core.unit_of_work import UnitOfWork

T = TypeVar("T")


def form_values(view: dict[str, Any]) -> dict[str, Any]:
    """block id → the value of its ``value`` element: text, a selected option's value,
    or a list of file ids."""
    out: dict[str, Any] = {}
    for block_id, elements in (view.get("state") or {}).get("values", {}).items():
        element = elements.get("value") or {}
        kind = element.get("type")
        if kind == "static_select":
            out[block_id] = str((element.get("selected_option") or {}).get("value") or "")
        elif kind == "file_input":
            out[block_id] = [
                str(f.get("id") or "") for f in element.get("files") or [] if isinstance(f, dict)
            ]
        else:
            out[block_id] = str(element.get("value") or "")
    return out


def block_ids(view: dict[str, Any]) -> set[str]:
    return {str(b.get("block_id")) for b in view.get("blocks") or [] if b.get("block_id")}


def field_errors(error: ValidationFailed, view: dict[str, Any], locale: str) -> dict[str, str]:
    """Each refusal on its block; one about a block the modal does not show (no support
    IDs to choose from) goes on ``product``."""
    shown = block_ids(view)
    errors: dict[str, str] = {}
    for field, message_id in error.fields.items():
        target = field if field in shown else "product"
        text = bk.say(message_id, locale, **error.params)
        errors[target] = f"{errors[target]}\n{text}" if target in errors else text
    return errors


log = logging.getLogger("madoguchi.slack")


async def fetched_files(
    door: SlackDoor, context: Any, values: dict[str, Any], locale: str
) -> list[NewFile | Unread] | dict[str, str]:
    """The submission's files as core keeps them, or the error for the ``attachments``
    block when Slack would not hand them over in time."""
    ids = [i for i in values.get("attachments") or [] if i]
    if not ids:
        return []
    client = context["client"]
    token = str(context.get("bot_token") or client.token or "")
    try:
        return await slack_files.fetch_all(client, token, ids, door.settings.attachment_max_bytes)
    except TimeoutError:
        log.warning("slack files too slow", extra={"files": len(ids)})
        message = "inquiry_files.slow"
    except slack_files.SlackFileUnavailable as error:
        log.warning("slack file unavailable", extra={"error": str(error)[:200]})
        message = "inquiry_files.unavailable"
    return {"attachments": bk.say(message, locale, inquiry_address=door.settings.inquiry_address)}


def register(door: SlackDoor) -> None:
    app = door.app

    async def who_is(body: dict[str, Any], context: Any) -> Who:
        async with open_for(door.core, accounts.slack_identity) as source:
            who = await identify(door, source, body, context)
        context["who"] = who
        return who

    async def submitted(
        ack: Any,
        body: dict[str, Any],
        context: Any,
        view: dict[str, Any],
        act: Callable[[UnitOfWork, Who, dict[str, Any], list[NewFile | Unread]], Awaitable[T]],
    ) -> tuple[Who, T] | None:
        """A customer's modal (ask or reply) submitted: its files fetched from Slack, then
        ``act`` in a unit of work; a refusal is answered on the modal (``None``)."""
        values = form_values(view)
        files: list[NewFile | Unread] = []
        who: Who | None = None
        if any(values.get("attachments") or []):
            # Files are fetched from Slack before the transaction, so no connection
            # waits on Slack; who asks is known first (the error's language).
            who = await who_is(body, context)
            fetched = await fetched_files(door, context, values, who.locale)
            if isinstance(fetched, dict):
                await ack(response_action="errors", errors=fetched)
                return None
            files = fetched
        async with door.core.uow() as uow:
            if who is None:
                # Who asks, read in the unit's own transaction: one connection and two
                # round trips fewer than a snapshot first (docs/performance.md).
                who = await identify(door, uow, body, context)
                context["who"] = who
            try:
                return who, await act(uow, who, values, files)
            except ValidationFailed as error:
                await ack(response_action="errors", errors=field_errors(error, view, who.locale))
            except DomainError as error:
                await ack(
                    response_action="update", view=message_modal(who.locale, error_text(error, who.locale))
                )
        return None

    @app.view(CALLBACK_ID)
    async def ask_submitted(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        async def act(
            uow: UnitOfWork, who: Who, values: dict[str, Any], files: list[NewFile | Unread]
        ) -> Opened:
            return await inquiries.open_inquiry(
                uow,
                who.actor,
                support_id=values.get("support_id") or None,
                product=str(values.get("product") or ""),
                subject=str(values.get("subject") or ""),
                body=str(values.get("body") or ""),
                attachments=files,
            )

        done = await submitted(ack, body, context, view, act)
        if done is None:
            return
        who, opened = done
        text = bk.say(
            "slack.inquiry.opened", who.locale, number=opened.label, due=long_date(opened.due_on, who.locale)
        )
        await ack(response_action="update", view=message_modal(who.locale, text))

    @app.action({"type": "block_actions", "block_id": "support_id", "action_id": "value"})
    async def support_id_chosen(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        """The product select follows the support ID chosen (``views.update``)."""
        view = body.get("view") or {}
        chosen = str((action.get("selected_option") or {}).get("value") or "") or None
        values = form_values(view)
        async with open_for(door.core, accounts.slack_identity, support_ids.list_for_account) as source:
            who = await identify(door, source, body, context)
            context["who"] = who
            names = [s.name for s in await support_ids.list_for_account(source, who.actor)]
            products = await inquiries.products_for(source, who.actor, chosen)
        payload = ask_modal(
            who.locale,
            names,
            chosen,
            products,
            subject=str(values.get("subject") or ""),
            body=str(values.get("body") or ""),
        )
        payload = with_suggestions(payload, suggested(view))  # knowledge suggestions stay
        await ack()
        client = context["client"]
        view_id, view_hash = view.get("id"), view.get("hash")

        async def update() -> None:
            await client.views_update(view_id=view_id, hash=view_hash, view=payload)

        context["after_ack"](update)

    @app.view(REPLY_CALLBACK_ID)
    async def reply_submitted(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        async def act(
            uow: UnitOfWork, who: Who, values: dict[str, Any], files: list[NewFile | Unread]
        ) -> Replied:
            number = str(view.get("private_metadata") or "")
            return await inquiries.reply(uow, who.actor, number, str(values.get("body") or ""), files)

        done = await submitted(ack, body, context, view, act)
        if done is None:
            return
        who, replied = done
        text = replied_blocks(replied, who.locale)[0]["text"]["text"]
        await ack(response_action="update", view=message_modal(who.locale, text))

    async def open_modal(ack: Any, body: dict[str, Any], context: Any, payload: dict[str, Any]) -> None:
        await ack()
        client, trigger = context["client"], body.get("trigger_id")

        async def show() -> None:
            await client.views_open(trigger_id=trigger, view=payload)

        context["after_ack"](show)

    @app.action(REPLY_ACTION)
    async def reply_button(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        who = await who_is(body, context)
        # Only someone who may see it gets the modal; anyone else the same "not found".
        async with open_for(door.core, inquiries.show) as source:
            detail = await inquiries.show(source, who.actor, str(action.get("value") or ""))
        await open_modal(ack, body, context, reply_modal(who.locale, detail.label))

    @app.action(FROM_MESSAGE_ACTION)
    async def ask_button(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        async with open_for(
            door.core, accounts.slack_identity, support_ids.list_for_account, inquiries.products_for
        ) as source:
            who = await identify(door, source, body, context)
            context["who"] = who
            payload = await ask_view(source, who, body=str(action.get("value") or ""))
        await open_modal(ack, body, context, payload)

    async def answer(
        ack: Any, body: dict[str, Any], context: Any, blocks: list[bk.Block], *, replace: bool
    ) -> None:
        await ack()
        respond = context.get("respond")
        if body.get("response_url") and respond is not None:

            async def tell() -> None:
                await respond(**bk.ephemeral(blocks), replace_original=replace)

            context["after_ack"](tell)

    @app.action(CLOSE_ACTION)
    async def close_button(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        who = await who_is(body, context)
        async with door.core.uow() as uow:
            closed = await inquiries.close(uow, who.actor, str(action.get("value") or ""))
        text = bk.say("slack.inquiry.closed", who.locale, number=inquiries.format_number(closed.id))
        await answer(ack, body, context, [bk.section(text)], replace=False)

    @app.action(PAGE_ACTION)
    async def next_page(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        who = await who_is(body, context)
        try:
            wanted = json.loads(str(action.get("value") or "{}"))
            support_id = str(wanted.get("id") or "") or None
            everything, page = bool(wanted.get("all")), int(wanted.get("page") or 1)
        except (ValueError, TypeError, AttributeError):
            support_id, everything, page = None, False, 1
        async with open_for(door.core, inquiries.list_for_user) as source:
            found = await inquiries.list_for_user(
                source, who.actor, support_id, include_closed=everything, page=page
            )
        blocks = inquiry_list(found, who.locale, support_id=support_id, include_closed=everything)
        await answer(ack, body, context, blocks, replace=True)
