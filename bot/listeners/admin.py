"""``/support-admin``: staff commands (SPEC §4.7) over ``core.staff_desk`` and
``core.contact_window``. Only staff get further than the refusal: ``core.staff`` decides
who is staff and audits every refusal (who tried, which subcommand; never the
arguments); this listener renders the refusal."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.commands import Router, Sub, arity_ok, mail_arg, usage_blocks
from bot.subcommands import STAFF
from bot.views.errors import error_text
from bot.views.support_ids import key_label
from bot.who import Who, identify
from core import contact_window, staff, staff_desk
from core.dates import long_date
from core.errors import Forbidden
from core.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.app import SlackDoor

Blocks = list[bk.Block]
USER_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


def _t(who: Who, message_id: str, **params: Any) -> str:
    return bk.say(message_id, who.locale, **params)


def _label(who: Who, prefix: str, code: str) -> str:
    """A stored code (a status, a failure reason) as the catalog words it; a code this
    version has no words for is shown as it is, escaped, rather than hidden."""
    slug = re.sub(r"[^a-z0-9]+", "_", code.lower()).strip("_")
    try:
        return _t(who, f"{prefix}.{slug}")
    except KeyError:
        return bk.esc(code)


async def h_help(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    return [bk.section(_t(who, "slack.help.admin"))]


async def h_find(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    found = await staff_desk.find(uow, who.actor, " ".join(args))
    lines: list[str] = []
    for c in found.companies:
        lines.append(
            _t(who, "slack.admin.find.company", name=c.name, code=c.code, postal_code=c.postal_code)
            + f" {bk.esc(c.address)} {bk.esc(c.phone)}"
        )
    for k in found.contracts:
        lines.append(
            _t(
                who,
                "slack.admin.find.contract",
                number=k.number,
                company=k.company,
                product_family=k.product_family,
                end_user=k.end_user,
                starts_on=long_date(k.starts_on, who.locale),
                ends_on=long_date(k.ends_on, who.locale),
            )
        )
    for key in found.keys:
        state = (
            _t(who, "slack.admin.key_revoked")
            if key.revoked
            else (
                _t(who, "slack.admin.key_usable") if key.usable_today else _t(who, "slack.admin.key_unusable")
            )
        )
        lines.append(
            _t(
                who,
                "slack.admin.find.key",
                key=key_label(key, who.locale),
                support_id=key.support_id or "—",
                state=state,
            )
        )
    for a in found.accounts:
        lines.append(
            _t(
                who,
                "slack.admin.find.person",
                email=a.username,
                name=a.name or "—",
                kana=a.kana or "—",
                company=a.company or "—",
                status=_label(who, "staff.account_status", a.status),
                support_ids=", ".join(a.support_ids) or "—",
            )
        )
    if not lines:
        return [bk.section(_t(who, "staff.nothing_found", text=bk.esc(" ".join(args))))]
    return [bk.section("\n".join(lines[i : i + 20])) for i in range(0, min(len(lines), 200), 20)]


async def h_key_issue(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    """``key issue CONTRACT [mail]``: ``mail`` for a key sent by mail (usable from the
    next business day)."""
    if len(args) > 1 and args[1].lower() != "mail":
        return [bk.section(_t(who, "staff.key_issue_mode", word=args[1]))]
    issued = await staff_desk.issue_key(uow, who.actor, args[0], by_mail=len(args) > 1)
    text = _t(
        who,
        "staff.key_issued",
        number=issued.contract_number,
        key=bk.code(issued.raw),
        usable_from=long_date(issued.usable_from, who.locale),
    )
    return [bk.section(text)]


async def h_key_revoke(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    hit = await staff_desk.revoke_key(uow, who.actor, args[0])
    return [bk.section(_t(who, "staff.key_revoked", masked=key_label(hit, who.locale)))]


async def h_account_resend(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    account = await staff_desk.resend_activation(uow, who.actor, args[0])
    return [bk.section(_t(who, "staff.activation_sent", email=bk.esc(account.username)))]


async def h_account_disable(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    account = await staff_desk.disable_account(uow, who.actor, args[0])
    return [bk.section(_t(who, "staff.account_disabled", email=bk.esc(account.username)))]


async def h_account_enable(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    account = await staff_desk.enable_account(uow, who.actor, args[0])
    return [bk.section(_t(who, "staff.account_enabled", email=bk.esc(account.username)))]


def request_line(who: Who, s: Any) -> str:
    category = _label(who, "contact.category", s.category) if s.category else "—"
    assignee = bk.mention(s.assignee) if s.assignee else "—"
    return _t(
        who,
        "slack.admin.request_line",
        request=s.request,
        status=_label(who, "contact.status", s.status),
        category=category,
        sender=s.sender,
        subject=s.subject or "—",
        received=long_date(s.created_at, who.locale, time=True),
        assignee=assignee,
    )


async def h_requests(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    items = await contact_window.list_open(uow, who.actor)
    if not items:
        return [bk.section(_t(who, "slack.admin.no_requests"))]
    lines = [request_line(who, s) for s in items[:100]]
    return [bk.section("\n".join(lines[i : i + 15])) for i in range(0, len(lines), 15)]


async def h_request_show(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    detail = await contact_window.show(uow, who.actor, args[0])
    blocks: Blocks = [bk.section(request_line(who, detail.summary))]
    for m in detail.messages[-10:]:
        arrow = "⬅️" if m.direction == "in" else "➡️"
        who_wrote = m.author or m.sender
        blocks.append(
            bk.section(
                f"{arrow} *{bk.esc(who_wrote)}* {long_date(m.created_at, who.locale, time=True)}\n"
                f"{bk.esc(m.subject)}\n```{bk.esc(m.body[:1500])}```"
            )
        )
    return blocks


async def h_request_assign(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    match = USER_MENTION.match(args[1])
    assignee = match.group(1) if match else args[1].lstrip("@")
    s = await contact_window.assign(uow, who.actor, args[0], assignee)
    return [bk.section(_t(who, "slack.admin.assigned", request=s.request, user=bk.mention(assignee)))]


async def h_reply(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    s = await contact_window.reply(uow, who.actor, args[0], " ".join(args[1:]))
    return [bk.section(_t(who, "slack.admin.replied", request=s.request, sender=bk.esc(s.sender)))]


async def h_request_close(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    s = await contact_window.close(uow, who.actor, args[0])
    return [bk.section(_t(who, "slack.admin.closed", request=s.request))]


AUDIT_LIMIT = 50


def _details(details: dict[str, Any]) -> str:
    # Audit details never hold secrets (keys are recorded masked); still escaped, and
    # cut so one odd record cannot fill the answer.
    return bk.esc(" ".join(f"{k}={v}" for k, v in sorted(details.items())))[:300]


def _action(who: Who, code: str) -> str:
    """The recorded action in words with its code beside it (what a grep of the logs
    finds); a code without words yet is the code alone."""
    words = _label(who, "staff.audit.action", code)
    return f"`{bk.esc(code)}`" if words == bk.esc(code) else f"{words} `{bk.esc(code)}`"


async def h_audit(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    """SPEC §8: staff read the trail per account (by email) or per support ID."""
    target = args[0]
    if "@" in target:
        entries = await staff_desk.audit_trail(uow, who.actor, email=target, limit=AUDIT_LIMIT)
    else:
        entries = await staff_desk.audit_trail(uow, who.actor, support_id=target, limit=AUDIT_LIMIT)
    if not entries:
        return [bk.section(_t(who, "slack.admin.audit_empty", target=bk.esc(target)))]
    lines = [
        f"{long_date(e.at, who.locale, time=True)} · {bk.esc(e.door)} · {bk.esc(e.actor)} · "
        f"{_action(who, e.action)}" + (f" {_details(e.details)}" if e.details else "")
        for e in entries
    ]
    title = _t(who, "slack.admin.audit_title", target=bk.esc(target), limit=AUDIT_LIMIT)
    return [bk.section(title)] + [bk.section("\n".join(lines[i : i + 15])) for i in range(0, len(lines), 15)]


async def h_attempts(uow: UnitOfWork, who: Who, args: list[str]) -> Blocks:
    """Who is failing, where and how often (throttled scopes such as the key check)."""
    entries = await staff_desk.recent_failures(uow, who.actor, limit=AUDIT_LIMIT)
    if not entries:
        return [bk.section(_t(who, "slack.admin.no_attempts"))]
    lines = [
        f"{long_date(e.at, who.locale, time=True)} · {_label(who, 'staff.attempt.scope', e.scope)}"
        f" · {bk.esc(e.actor)}" + (f" · {_label(who, 'staff.attempt.detail', e.detail)}" if e.detail else "")
        for e in entries
    ]
    title = _t(who, "slack.admin.attempts_title", limit=AUDIT_LIMIT)
    return [bk.section(title)] + [bk.section("\n".join(lines[i : i + 15])) for i in range(0, len(lines), 15)]


def _wrap(handler: Any) -> Any:
    async def call(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
        return await handler(uow, who, args)  # type: ignore[no-any-return]

    return call


SUBS = [
    Sub(("help",), "", 0, None, _wrap(h_help)),
    Sub(("find",), "TEXT", 1, None, _wrap(h_find)),
    Sub(("key", "issue"), "CONTRACT [mail]", 1, 2, _wrap(h_key_issue)),
    Sub(("key", "revoke"), "KEY", 1, 1, _wrap(h_key_revoke)),
    Sub(("account", "resend"), "EMAIL", 1, 1, _wrap(h_account_resend)),
    Sub(("account", "disable"), "EMAIL", 1, 1, _wrap(h_account_disable)),
    Sub(("account", "enable"), "EMAIL", 1, 1, _wrap(h_account_enable)),
    Sub(("requests",), "", 0, 0, _wrap(h_requests)),
    Sub(("request", "show"), "REQ", 1, 1, _wrap(h_request_show)),
    Sub(("request", "assign"), "REQ @user", 2, 2, _wrap(h_request_assign)),
    Sub(("reply",), "REQ text…", 2, None, _wrap(h_reply)),
    Sub(("request", "close"), "REQ", 1, 1, _wrap(h_request_close)),
    Sub(("audit",), "EMAIL|ID", 1, 1, _wrap(h_audit)),
    Sub(("attempts",), "", 0, 0, _wrap(h_attempts)),
    *STAFF,
]
ROUTER = Router(SUBS)


def register(door: SlackDoor) -> None:
    @door.app.command("/support-admin")
    async def support_admin(ack: Any, body: dict[str, Any], context: Any) -> None:
        text = str(body.get("text") or "")
        # A subcommand that opens a modal (``account create``) needs the command's trigger;
        # one that works after the ack (``account export``) a unit of work of its own.
        context["trigger_id"] = body.get("trigger_id")
        context["core"] = door.core
        # As typed: a subcommand that mails staff text keeps its line breaks from it.
        context["command_text"] = text
        words = [mail_arg(w) for w in text.split()]
        async with door.core.uow() as uow:
            who = await identify(door, uow, body, context, staff=True)
            context["who"] = who
            sub, args = ROUTER.route(words) if words else (SUBS[0], [])
            try:
                # The subcommand only, never its arguments (an email, a key, a search).
                await staff.admit(uow, who.actor, " ".join(sub.words) if sub is not None else "unknown")
            except Forbidden as refused:
                answer = [bk.section(error_text(refused, who.locale))]
            else:
                if sub is None:
                    answer = [bk.section(_t(who, "slack.usage.unknown", command="/support-admin"))]
                elif not arity_ok(sub, args):
                    answer = usage_blocks("/support-admin", sub, who.locale)
                elif sub.words == ("reply",):
                    # Keep the staff member's line breaks and spacing in the mail.
                    rest = text.split(None, 2)
                    body_text = rest[2] if len(rest) > 2 else ""
                    answer = await h_reply(uow, who, [args[0], body_text])
                else:
                    answer = await sub.handler(uow, who, args, context)
        await ack(**bk.ephemeral(answer))
