"""App Home: the user's account, support IDs and terms notice, or a register button;
and the terms agreement buttons (declaration first, then the recorded agreement)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.listeners.common import TERMS_AGREE_ACTION, ephemeral, terms_blocks
from bot.who import Who, identify
from core import accounts, support_ids, terms
from core.messages import in_locale, render
from core.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.app import SlackDoor

REGISTER_ACTION = "home_register"
TERMS_CONFIRM_ACTION = "terms_agree"


def declaration_blocks(support_id: str, locale: str) -> list[bk.Block]:
    try:
        declaration = render("terms.declaration", locale, support_id=bk.esc(support_id))
    except KeyError:
        declaration = ""
    return [
        bk.section(declaration),
        bk.actions(
            bk.button(
                render("slack.terms.confirm_button", locale),
                TERMS_CONFIRM_ACTION,
                support_id,
                style="primary",
            )
        ),
    ]


async def home_view(uow: UnitOfWork, who: Who) -> dict[str, Any]:
    t = in_locale(who.locale)
    blocks: list[bk.Block] = [bk.header(t("slack.home.title"))]
    if who.account_id is None:
        blocks += [
            bk.section(t("slack.home.no_account")),
            bk.actions(bk.button(t("slack.home.register_button"), REGISTER_ACTION, style="primary")),
        ]
    else:
        from bot.listeners.support import support_id_table

        account = await accounts.account_for_slack_user(uow, who.team_id, who.user_id)
        if account is not None:
            blocks.append(
                bk.section(
                    t(
                        "slack.home.account",
                        username=bk.esc(account.username),
                        status=t(f"slack.home.status.{account.status}"),
                    )
                )
            )
        blocks.append(bk.section(f"*{t('slack.home.support_ids')}*"))
        blocks += support_id_table(await support_ids.list_for_account(uow, who.actor), who.locale)
        blocks += await terms_blocks(uow, who)
    blocks.append(bk.context_block(t("slack.home.help_hint")))
    return {"type": "home", "blocks": bk.clip(blocks)}


async def publish_home(door: SlackDoor, body: dict[str, Any], context: Any) -> None:
    async with door.core.uow() as uow:
        who = await identify(door, uow, body, context)
        context["who"] = who
        view = await home_view(uow, who)
    client = context["client"]

    async def publish() -> None:
        await client.views_publish(user_id=who.user_id, view=view)

    context["after_ack"](publish)


def register(door: SlackDoor) -> None:
    app = door.app

    @app.action(REGISTER_ACTION)
    async def register_button(ack: Any, body: dict[str, Any], context: Any) -> None:
        from bot.listeners.registration import open_registration

        await open_registration(door, ack, body, context)

    @app.action(TERMS_AGREE_ACTION)
    async def agree_start(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context)
            context["who"] = who
        await ack()
        answer = declaration_blocks(str(action.get("value", "")), who.locale)
        await _tell(door, body, context, who, answer)

    @app.action(TERMS_CONFIRM_ACTION)
    async def agree(ack: Any, body: dict[str, Any], context: Any, action: dict[str, Any]) -> None:
        name = str(action.get("value", ""))
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context)
            context["who"] = who
            agreement = await terms.agree(uow, who.actor, name, entitled=True)
            done = "terms.already_agreed" if agreement.already else "terms.agreed"
            answer = [
                bk.section(
                    render(
                        done,
                        who.locale,
                        support_id=bk.esc(agreement.support_id),
                        terms_version=bk.esc(agreement.terms_version),
                    )
                )
            ]
            answer += await terms_blocks(uow, who)
            view = await home_view(uow, who) if body.get("view", {}).get("type") == "home" else None
        await ack()
        await _tell(door, body, context, who, answer, home=view)


async def _tell(
    door: SlackDoor,
    body: dict[str, Any],
    context: Any,
    who: Who,
    answer: list[bk.Block],
    *,
    home: dict[str, Any] | None = None,
) -> None:
    """Answer a button: ephemerally where it was pressed, or re-publish the App Home."""
    client = context["client"]
    respond = context.get("respond")
    in_home = body.get("view", {}).get("type") == "home"

    async def send() -> None:
        if in_home:
            if home is None:
                async with door.core.uow() as uow:
                    view = await home_view(uow, who)
            else:
                view = home
            # The declaration / result shows at the top of the home tab.
            view = {**view, "blocks": bk.clip(answer + [bk.divider()] + view["blocks"])}
            await client.views_publish(user_id=who.user_id, view=view)
        elif body.get("response_url") and respond is not None:
            await respond(**ephemeral(answer), replace_original=False)

    context["after_ack"](send)
