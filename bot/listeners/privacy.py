"""The staff's account modal and erase button (SPEC §4.11): the company menu of
``account create`` (an ``external_select`` answered from the registration's company
search), its submission, and the confirm button of ``account erase``.

Core admits staff in each service (a refusal is audited); a ``DomainError`` other than
bad input goes to the one error handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.views.errors import error_text
from bot.views.privacy import COMPANY_ACTION, COMPANY_BLOCK, CREATE_CALLBACK, ERASE_ACTION, company_options
from bot.who import identify
from core import accounts, privacy, staff_accounts
from core.errors import DomainError, ValidationFailed
from core.snapshots import open_for

if TYPE_CHECKING:
    from bot.app import SlackDoor


def submitted(view: dict[str, Any]) -> tuple[str, dict[str, str | bool]]:
    """The chosen company's id and the detail fields, by block id."""
    company = ""
    values: dict[str, str | bool] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for value in actions.values():
            kind = value.get("type")
            if kind == "external_select":
                company = str((value.get("selected_option") or {}).get("value") or "")
            elif kind == "checkboxes":
                values[block_id] = bool(value.get("selected_options"))
            else:
                values[block_id] = str(value.get("value") or "")
    return company, values


def register(door: SlackDoor) -> None:
    app = door.app

    @app.options(COMPANY_ACTION)
    async def company_menu(ack: Any, body: dict[str, Any], context: Any) -> None:
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context, staff=True)
            if not who.actor.is_staff:
                await ack(options=[])
                return
            choices = await staff_accounts.company_choices(uow, who.actor, str(body.get("value") or ""))
        await ack(options=company_options(choices))

    @app.view(CREATE_CALLBACK)
    async def create(ack: Any, body: dict[str, Any], context: Any, view: dict[str, Any]) -> None:
        company_id, values = submitted(view)
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context, staff=True)
            context["who"] = who
            try:
                created = await staff_accounts.create_for_customer(
                    uow, who.actor, company_id, values, uow.settings.locale
                )
            except ValidationFailed as error:
                blocks = {COMPANY_BLOCK, *values}
                errors = {
                    f: bk.say(m, who.locale, **error.params) for f, m in error.fields.items() if f in blocks
                }
                await ack(response_action="errors", errors=errors)
                return
        text = bk.say(
            "privacy.create.done", who.locale, email=created.account.username, company=created.company
        )
        done = {
            "type": "modal",
            "callback_id": CREATE_CALLBACK,
            "title": {"type": "plain_text", "text": bk.say("privacy.create.title", who.locale)[:24]},
            "close": {"type": "plain_text", "text": bk.say("slack.modal.close", who.locale)[:24]},
            "blocks": [bk.section(text)],
        }
        await ack(response_action="update", view=done)

    @app.action(ERASE_ACTION)
    async def erase(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        """Acked at once: erasure reads every table, longer than Slack waits for an ack.
        The outcome (or the refusal) replaces the confirmation."""
        async with open_for(door.core, accounts.slack_identity) as source:
            who = await identify(door, source, body, context, staff=True)
        context["who"] = who
        await ack()
        email = str(action.get("value") or "")
        respond = context["respond"]

        async def work() -> None:
            try:
                async with door.core.uow() as uow:
                    erased = await privacy.erase(uow, who.actor, email)
            except DomainError as error:
                text = error_text(error, who.locale)
            else:
                text = bk.say(
                    "privacy.erase.done",
                    who.locale,
                    email=email,
                    rows=sum(erased.counts.values()),
                    pseudonym=erased.pseudonym,
                )
            await respond(**bk.ephemeral([bk.section(text)]), replace_original=True)

        context["after_ack"](work)
