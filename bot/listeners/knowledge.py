"""Knowledge in Slack beyond the commands: the App Home's search button and modal, the
"show" buttons under results, the staff's article modal (``kb new`` / ``kb edit`` /
``kb from INQ``), and the ask modal's suggestions from its subject.

The commands themselves are in ``bot.subcommands.knowledge``; a subcommand handler gets
no request body, so the middleware here keeps a slash command's ``trigger_id`` in the
context for the modal it opens. Staff submissions are admitted by ``core.staff`` like
``/support-admin`` itself; a customer's search answers only what core lets them see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot import blocks as bk
from bot.views.inquiries import CALLBACK_ID as ASK_CALLBACK
from bot.views.knowledge import (
    ARTICLE_CALLBACK,
    SEARCH_CALLBACK,
    SEARCH_OPEN_ACTION,
    SHOW_ACTION,
    WORDS_BLOCK,
    article,
    article_modal,
    done_modal,
    results,
    search_modal,
    submitted,
    suggested,
    suggestions,
    with_suggestions,
)
from bot.who import identify
from core import accounts, staff
from core.errors import Conflict, ValidationFailed
from core.knowledge import editing, search
from core.snapshots import open_for, snapshot

if TYPE_CHECKING:
    from bot.app import SlackDoor


def register(door: SlackDoor) -> None:
    app = door.app

    @app.middleware
    async def keep_trigger(body: dict[str, Any], context: Any, next: Any) -> Any:
        if body.get("command") and body.get("trigger_id"):
            context["kb_trigger_id"] = body["trigger_id"]
        return await next()

    @app.action(SEARCH_OPEN_ACTION)
    async def open_search(ack: Any, body: dict[str, Any], context: Any) -> None:
        async with snapshot(door.core) as snap:
            who = await identify(door, snap, body, context)
            context["who"] = who
        await ack()
        client, trigger = context["client"], body.get("trigger_id")

        async def show() -> None:
            await client.views_open(trigger_id=trigger, view=search_modal(who.locale))

        context["after_ack"](show)

    @app.view(SEARCH_CALLBACK)
    async def run_search(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        words = str(
            view.get("state", {}).get("values", {}).get(WORDS_BLOCK, {}).get("value", {}).get("value") or ""
        ).strip()
        async with snapshot(door.core) as snap:
            who = await identify(door, snap, body, context)
            context["who"] = who
            hits = await search.search(snap, who.actor, words)
        found = results(hits, who.locale, words)
        await ack(response_action="update", view=search_modal(who.locale, words, found))

    @app.action(SHOW_ACTION)
    async def show_article(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        async with snapshot(door.core) as snap:
            who = await identify(door, snap, body, context)
            context["who"] = who
            found = await search.show(snap, who.actor, str(action.get("value", "")))
        await ack()
        client, respond = context["client"], context.get("respond")
        in_modal = (body.get("view") or {}).get("type") == "modal"

        async def tell() -> None:
            if in_modal:
                await client.views_push(
                    trigger_id=body.get("trigger_id"), view=article_modal(found, who.locale)
                )
            elif respond is not None:
                await respond(**bk.ephemeral(article(found, who.locale)), replace_original=False)

        context["after_ack"](tell)

    @app.action({"type": "block_actions", "block_id": "subject", "action_id": "value"})
    async def subject_typed(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        """The ask modal's subject as typed so far → up to 3 articles the customer may
        see, under it (core decides which: visibility is in the search's query). The
        lookup is one indexed read before the ack; ``views.update`` runs after it, with
        the view's hash: a view changed meanwhile (the support ID's update, or a later
        keystroke's) wins, and this stale one is dropped."""
        view = body.get("view") or {}
        if view.get("callback_id") != ASK_CALLBACK:
            await ack()  # another modal's "subject": not a question being asked
            return
        async with open_for(door.core, accounts.slack_identity, search.suggest) as source:
            who = await identify(door, source, body, context)
            context["who"] = who
            hits = await search.suggest(source, who.actor, str(action.get("value") or ""))
        found = suggestions(hits, who.locale)
        await ack()
        if not found and not suggested(view):
            return  # nothing shown, nothing to show: no call at all
        client = context["client"]
        view_id, view_hash, payload = view.get("id"), view.get("hash"), with_suggestions(view, found)

        async def update() -> None:
            try:
                await client.views_update(view_id=view_id, hash=view_hash, view=payload)
            except SlackApiError as error:
                if error.response.get("error") != "hash_conflict":
                    raise

        context["after_ack"](update)

    @app.view(ARTICLE_CALLBACK)
    async def save_article(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        code = str(view.get("private_metadata") or "")
        values = submitted(view)
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context, staff=True)
            context["who"] = who
            try:
                await staff.admit(uow, who.actor, "kb edit" if code else "kb new")
                if code:
                    saved, done = await editing.edit(uow, who.actor, code, values), "kb.edited"
                else:
                    saved, done = await editing.create(uow, who.actor, values), "kb.created"
            except ValidationFailed as wrong:
                errors = {
                    name: bk.say(reason, who.locale, **wrong.params) for name, reason in wrong.fields.items()
                }
                await ack(response_action="errors", errors=errors)
                return
            except Conflict as taken:
                await ack(
                    response_action="errors",
                    errors={"code": bk.say(taken.message_id, who.locale, **taken.params)},
                )
                return
        await ack(response_action="update", view=done_modal(who.locale, done, saved))
