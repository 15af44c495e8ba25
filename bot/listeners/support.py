"""``/support``: the customer's commands (SPEC §5), answered ephemerally.

Parsing only: each subcommand maps words to one core service call and renders its
result; wrong arity gets the usage line in the user's language. Keys never appear in an
answer except masked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.listeners.common import ephemeral, terms_blocks
from bot.who import Who, identify
from core import support_ids
from core.messages import in_locale, render
from core.snapshots import Snapshot, snapshot
from core.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.app import SlackDoor

Blocks = list[bk.Block]
# A handler gets the request's unit of work, or a snapshot when its Sub only reads.
Handler = Callable[[Any, Who, list[str], Any], Awaitable[Blocks]]


@dataclass(frozen=True)
class Sub:
    words: tuple[str, ...]  # the subcommand's own words, e.g. ("key", "add")
    usage: str  # the argument part shown in the usage line
    min_args: int
    max_args: int | None  # None: the rest of the text is free (a description)
    handler: Handler
    # Answers that change nothing are read from a snapshot (core/snapshots.py): no unit
    # of work, no ORM session, no turn in the writer's queue.
    reads_only: bool = False


def usage_blocks(command: str, sub: Sub, locale: str) -> Blocks:
    usage = f"`{command} {' '.join(sub.words)} {sub.usage}`".replace(" `", "`").strip()
    return [bk.section(render("slack.usage.prefix", locale, usage=usage))]


def route(subs: list[Sub], words: list[str]) -> tuple[Sub | None, list[str]]:
    """The longest subcommand whose words start the text, and the remaining words."""
    lowered = [w.lower() for w in words]
    for sub in sorted(subs, key=lambda s: -len(s.words)):
        n = len(sub.words)
        if tuple(lowered[:n]) == sub.words:
            return sub, words[n:]
    return None, words


def arity_ok(sub: Sub, args: list[str]) -> bool:
    return len(args) >= sub.min_args and (sub.max_args is None or len(args) <= sub.max_args)


# -- renderers ------------------------------------------------------------------------


def _date(value: Any) -> str:
    return value.isoformat() if value is not None else "—"


def support_id_table(items: list[Any], locale: str) -> Blocks:
    if not items:
        return [bk.section(render("slack.id.none", locale))]
    head = " | ".join(
        render(f"slack.id.column.{c}", locale)
        for c in ("support_id", "description", "product_family", "end_user", "ends_on")
    )
    lines = [f"*{head}*"]
    for s in items:
        lines.append(
            " | ".join(
                [
                    f"`{bk.esc(s.name)}`",
                    bk.esc(s.description) or "—",
                    bk.esc(", ".join(s.product_families)) or "—",
                    bk.esc(", ".join(s.end_users)) or "—",
                    _date(s.maintenance_ends_on),
                ]
            )
        )
    out: Blocks = []
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            out.append(bk.section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        out.append(bk.section("\n".join(chunk)))
    return out


def support_id_detail(d: Any, locale: str) -> Blocks:
    t = in_locale(locale)
    keys = "\n".join(
        f"• `{k.masked}` {bk.esc(k.contract_number)} {bk.esc(k.product_family)} ({_date(k.ends_on)})"
        + ("" if k.usable else f" — {t('slack.id.key_unusable')}")
        for k in d.keys
    )
    contacts = "\n".join(f"• {bk.esc(c.display_name)} <{bk.esc(c.email)}>" for c in d.contacts)
    if d.pending_contacts:
        contacts += "\n" + "\n".join(
            f"• {bk.esc(e)} ({t('slack.id.pending_contact')})" for e in d.pending_contacts
        )
    cc = "\n".join(f"• {bk.esc(e)}" for e in d.cc)
    blocks: Blocks = [
        bk.header(d.name),
        bk.section(
            f"*{t('slack.id.column.description')}*: {bk.esc(d.description) or '—'}\n"
            f"*{t('slack.id.column.ends_on')}*: {_date(d.maintenance_ends_on)}"
        ),
        bk.section(f"*{t('slack.id.keys')}*\n{keys or '—'}"),
        bk.section(f"*{t('slack.id.contacts')}*\n{contacts or '—'}"),
        bk.section(f"*{t('slack.id.cc')}*\n{cc or '—'}"),
    ]
    if d.terms_required:
        state = (
            t("slack.id.terms_agreed", at=d.terms_agreed_at.date().isoformat())
            if d.terms_agreed_at
            else t("slack.id.terms_pending")
        )
        blocks.append(bk.context_block(state))
    return blocks


# -- handlers -------------------------------------------------------------------------


def _done(locale: str, message_id: str, **params: Any) -> Blocks:
    return [bk.section(render(message_id, locale, **{k: bk.esc(v) for k, v in params.items()}))]


async def h_help(snap: Snapshot, who: Who, args: list[str], context: Any) -> Blocks:
    return [bk.section(render("slack.help.support", who.locale))]


async def h_id_list(snap: Snapshot, who: Who, args: list[str], context: Any) -> Blocks:
    return support_id_table(await support_ids.list_for_account(snap, who.actor), who.locale)


async def h_id_show(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    return support_id_detail(await support_ids.show(uow, who.actor, args[0]), who.locale)


async def h_id_new(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    key, name, description = args[0], args[1], " ".join(args[2:])
    detail = await support_ids.issue(uow, who.actor, key, name, description)
    return _done(who.locale, "support_id.issued", support_id=detail.name)


async def h_key_add(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    key = await support_ids.add_key(uow, who.actor, args[0], args[1])
    return _done(who.locale, "support_id.key_added", support_id=args[0], key=key.masked)


async def h_key_remove(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    key = await support_ids.remove_key(uow, who.actor, args[0], args[1])
    return _done(who.locale, "support_id.key_removed", support_id=args[0], key=key.masked)


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


async def h_agree(snap: Snapshot, who: Who, args: list[str], context: Any) -> Blocks:
    """Agreement needs the declaration that the user may bind the customer: show it with
    a button; the button (``terms_agree``) records the agreement."""
    from bot.listeners.home import declaration_blocks

    return declaration_blocks(args[0], who.locale)


def _mail_arg(text: str) -> str:
    """Slack turns typed addresses into ``<mailto:a@b|a@b>``; take the address."""
    if text.startswith("<mailto:") and text.endswith(">"):
        return text[len("<mailto:") : -1].split("|", 1)[0]
    return text


SUBS = [
    Sub(("help",), "", 0, None, h_help, reads_only=True),
    Sub(("id", "list"), "", 0, 0, h_id_list, reads_only=True),
    Sub(("id", "show"), "ID", 1, 1, h_id_show),
    Sub(("id", "new"), "KEY ID [description…]", 2, None, h_id_new),
    Sub(("key", "add"), "ID KEY", 2, 2, h_key_add),
    Sub(("key", "remove"), "ID KEY", 2, 2, h_key_remove),
    Sub(("contact", "add"), "ID EMAIL", 2, 2, h_contact_add),
    Sub(("contact", "remove"), "ID EMAIL", 2, 2, h_contact_remove),
    Sub(("cc", "add"), "ID EMAIL", 2, 2, h_cc_add),
    Sub(("cc", "remove"), "ID EMAIL", 2, 2, h_cc_remove),
    Sub(("agree",), "ID", 1, 1, h_agree, reads_only=True),
]


def register(door: SlackDoor) -> None:
    @door.app.command("/support")
    async def support(ack: Any, body: dict[str, Any], context: Any) -> None:
        words = [_mail_arg(w) for w in str(body.get("text") or "").split()]
        if words[:1] and words[0].lower() == "register":
            from bot.listeners.registration import open_registration

            await open_registration(door, ack, body, context)
            return
        sub, args = route(SUBS, words) if words else (SUBS[0], [])
        writes = sub is not None and arity_ok(sub, args) and not sub.reads_only
        async with door.core.uow() if writes else snapshot(door.core) as source:
            who = await identify(door, source, body, context)
            context["who"] = who
            if sub is None:
                answer = [bk.section(render("slack.usage.unknown", who.locale, command="/support"))]
            elif not arity_ok(sub, args):
                answer = usage_blocks("/support", sub, who.locale)
            else:
                answer = await sub.handler(source, who, args, context)
            answer += await terms_blocks(source, who)
        await ack(**ephemeral(answer))
