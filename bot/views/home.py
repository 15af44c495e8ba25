"""The App Home: the user's account, support IDs, open inquiries and terms notice, or a
register button;
and publishing it (``views.publish``, a Web API call, so after the ack)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.views.accounts import resend_button
from bot.views.inquiries import home_section
from bot.views.knowledge import SEARCH_OPEN_ACTION
from bot.views.support_ids import support_id_table
from bot.views.terms import terms_blocks
from bot.who import Who, identify
from core import accounts, inquiries, support_ids
from core.errors import DomainError
from core.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.app import SlackDoor

REGISTER_ACTION = "home_register"


async def home_view(uow: UnitOfWork, who: Who) -> dict[str, Any]:
    t = bk.speaker(who.locale)
    blocks: list[bk.Block] = [bk.header(t("slack.home.title"))]
    if who.account_id is None:
        blocks += [
            bk.section(t("slack.home.no_account")),
            bk.actions(bk.button(t("slack.home.register_button"), REGISTER_ACTION, style="primary")),
        ]
    else:
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
        if account is not None and account.status == "pending":
            # Nothing else works until the mailed link is used (core.activation).
            blocks += [bk.section(t("accounts.pending")), resend_button(who.locale)]
        else:
            blocks.append(bk.section(f"*{t('slack.home.support_ids')}*"))
            blocks += support_id_table(await support_ids.list_for_account(uow, who.actor), who.locale)
            try:
                open_inquiries = await inquiries.list_for_user(uow, who.actor)
            except DomainError:
                open_inquiries = None  # not active yet: no inquiries to show
            if open_inquiries is not None:
                blocks.append(bk.divider())
                blocks += home_section(open_inquiries, who.locale)
            blocks += await terms_blocks(uow, who)
    # Public articles need no account: the search is for everyone.
    blocks.append(bk.actions(bk.button(t("kb.search_button"), SEARCH_OPEN_ACTION)))
    blocks.append(bk.context_block(t("slack.home.help_hint")))
    return {"type": "home", "blocks": bk.clip(blocks)}


async def publish_home(door: SlackDoor, body: dict[str, Any], context: Any) -> None:
    """Render the user's App Home now; publish it once the request is acked."""
    async with door.core.uow() as uow:
        who = await identify(door, uow, body, context)
        context["who"] = who
        view = await home_view(uow, who)
    client = context["client"]

    async def publish() -> None:
        await client.views_publish(user_id=who.user_id, view=view)

    context["after_ack"](publish)
