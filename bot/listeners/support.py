"""``/support``: the customer's commands (SPEC §5), answered ephemerally.

Parsing only: each subcommand maps words to one core service call and renders its
result (``bot.views``); the router (``bot.commands``) answers wrong arity with the usage
line in the user's language. Keys never appear in an answer except masked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.commands import Blocks, Router, Sub, arity_ok, mail_arg, usage_blocks
from bot.subcommands import CUSTOMER
from bot.views.registration import open_registration
from bot.views.support_ids import key_label, support_id_detail, support_id_table
from bot.views.terms import declaration_blocks, terms_blocks
from bot.who import Who, identify
from core import accounts, support_ids, support_keys, terms
from core.snapshots import Snapshot, open_for
from core.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.app import SlackDoor


# -- handlers -------------------------------------------------------------------------


def _done(locale: str, message_id: str, **params: Any) -> Blocks:
    return [bk.section(bk.say(message_id, locale, **params))]


async def h_help(snap: Snapshot, who: Who, args: list[str], context: Any) -> Blocks:
    return [bk.section(bk.say("slack.help.support", who.locale))]


async def h_id_list(snap: Snapshot, who: Who, args: list[str], context: Any) -> Blocks:
    return support_id_table(await support_ids.list_for_account(snap, who.actor), who.locale)


async def h_id_show(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    return support_id_detail(await support_ids.show(uow, who.actor, args[0]), who.locale)


async def h_id_new(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    key, name = support_keys.key_and_name(args[0], args[1], key_first=True)
    description = " ".join(args[2:])
    detail = await support_ids.issue(uow, who.actor, key, name, description)
    return _done(who.locale, "support_id.issued", support_id=detail.name)


async def h_key_add(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    key, name = support_keys.key_and_name(args[0], args[1], key_first=False)
    view = await support_ids.add_key(uow, who.actor, name, key)
    return _done(who.locale, "support_id.key_added", support_id=name, key=key_label(view, who.locale))


async def h_key_remove(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    key, name = support_keys.key_and_name(args[0], args[1], key_first=False)
    view = await support_ids.remove_key(uow, who.actor, name, key)
    return _done(who.locale, "support_id.key_removed", support_id=name, key=key_label(view, who.locale))


async def h_contact_add(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    c = await support_ids.add_contact(uow, who.actor, args[0], args[1])
    return _done(who.locale, "support_id.contact_added", support_id=args[0], email=c.email)


async def h_contact_remove(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    c = await support_ids.remove_contact(uow, who.actor, args[0], args[1])
    return _done(who.locale, "support_id.contact_removed", support_id=args[0], email=c.email)


async def h_cc_add(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    email = await support_ids.add_cc(uow, who.actor, args[0], args[1])
    return _done(who.locale, "support_id.cc_added", support_id=args[0], email=email)


async def h_cc_remove(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    email = await support_ids.remove_cc(uow, who.actor, args[0], args[1])
    return _done(who.locale, "support_id.cc_removed", support_id=args[0], email=email)


async def h_agree(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    """Agreement needs the declaration that the user may bind the customer: show it with
    a button, once core has checked the ID is the user's and awaits agreement; the button
    (``terms_agree``) records the agreement."""
    return declaration_blocks(await terms.declaration_for(uow, who.actor, args[0]), who.locale)


SUBS = [
    Sub(("help",), "", 0, None, h_help),
    Sub(("id", "list"), "", 0, 0, h_id_list, uses=(support_ids.list_for_account,)),
    Sub(("id", "show"), "ID", 1, 1, h_id_show, uses=(support_ids.show,)),
    Sub(("id", "new"), "KEY ID [description…]", 2, None, h_id_new, uses=(support_ids.issue,)),
    Sub(("key", "add"), "ID KEY", 2, 2, h_key_add, uses=(support_ids.add_key,)),
    Sub(("key", "remove"), "ID KEY", 2, 2, h_key_remove, uses=(support_ids.remove_key,)),
    Sub(("contact", "add"), "ID EMAIL", 2, 2, h_contact_add, uses=(support_ids.add_contact,)),
    Sub(("contact", "remove"), "ID EMAIL", 2, 2, h_contact_remove, uses=(support_ids.remove_contact,)),
    Sub(("cc", "add"), "ID EMAIL", 2, 2, h_cc_add, uses=(support_ids.add_cc,)),
    Sub(("cc", "remove"), "ID EMAIL", 2, 2, h_cc_remove, uses=(support_ids.remove_cc,)),
    Sub(("agree",), "ID", 1, 1, h_agree, uses=(terms.declaration_for,)),
    *CUSTOMER,
]
ROUTER = Router(SUBS)

# What every answer reads besides its subcommand: who is asking, and the terms notice.
EVERY_ANSWER = (accounts.slack_identity, terms.notice_for_account)


def register(door: SlackDoor) -> None:
    @door.app.command("/support")
    async def support(ack: Any, body: dict[str, Any], context: Any) -> None:
        words = [mail_arg(w) for w in str(body.get("text") or "").split()]
        if words[:1] and words[0].lower() == "register":
            await open_registration(door, ack, body, context)
            return
        # What a subcommand may need beyond its words: a modal opens with the trigger,
        # and prose (a reply) keeps its line breaks.
        context["trigger_id"] = body.get("trigger_id")
        context["command_text"] = str(body.get("text") or "")
        sub, args = ROUTER.route(words) if words else (SUBS[0], [])
        uses = sub.uses if sub is not None and arity_ok(sub, args) else ()
        async with open_for(door.core, *EVERY_ANSWER, *uses) as source:
            who = await identify(door, source, body, context)
            context["who"] = who
            if sub is None:
                answer = [bk.section(bk.say("slack.usage.unknown", who.locale, command="/support"))]
            elif not arity_ok(sub, args):
                answer = usage_blocks("/support", sub, who.locale)
            else:
                answer = await sub.handler(source, who, args, context)
            answer += await terms_blocks(source, who)
        await ack(**bk.ephemeral(answer))
