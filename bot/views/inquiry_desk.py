"""How inquiries look to staff in Slack (SPEC §4.8, §5): the post in the product's
channel and its thread lines, the 回答する modal, the lists and the thread of
``/support-admin inquiries`` / ``inquiry show``, and the morning digest.

Every value that came from a customer (company, name, subject, body, file names) goes
through ``bot.blocks.esc`` and sits in ``verbatim`` text, so ``<!channel>``, ``<@U…>``,
``<http://…|link>`` and bare URLs reach the channel as plain text. Bodies are shown in a
code block whose fence the text cannot close (```` ``` ```` inside is defused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot import blocks as bk
from core.dates import long_date
from core.inquiries import InquiryDetail, InquiryPage, InquirySummary, format_number

Blocks = list[bk.Block]

ACTIONS_BLOCK = "inquiry_staff"
ANSWER_ACTION = "inquiry_staff_answer"
ASSIGN_ACTION = "inquiry_staff_assign"
CLOSE_ACTION = "inquiry_staff_close"
ANSWER_CALLBACK = "inquiry_staff_answer"
BODY_BLOCK = "body"
FILES_BLOCK = "attachments"
EXCERPT = 1500
FOLLOWUP_KINDS = ("customer", "answer", "assigned", "closed", "auto_closed")


def staff_name(ref: str) -> bk.Mrkdwn:
    """A staff member as the Slack door names them (``slack:T:U``): a mention."""
    if ref.startswith("slack:"):
        return bk.mention(ref.rsplit(":", 1)[-1])
    return bk.esc(ref) if ref else bk.Mrkdwn("—")


def quoted(text: str, limit: int = EXCERPT) -> bk.Mrkdwn:
    """A customer's text as a code block it cannot break out of."""
    body = str(text).strip()
    if len(body) > limit:
        body = body[:limit] + "…"
    return bk.Mrkdwn("```" + bk.esc(body).replace("```", "ˋˋˋ") + "```")


def _verbatim_fields(rows: Sequence[tuple[str, str]]) -> bk.Block:
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": f"*{label}*\n{value or '—'}", "verbatim": True}
            for label, value in rows[:10]
        ],
    }


def _status(status: str, locale: str) -> bk.Mrkdwn:
    try:
        return bk.say(f"inquiry.status.{status}", locale)
    except KeyError:
        return bk.esc(status)


def _attachments(value: Any, locale: str) -> str:
    """A list of files (names, or ``{"name", "url"}`` with a signed link), or a count."""
    if isinstance(value, list):
        shown = [
            bk.link(str(f["url"]), f.get("name", ""))
            if isinstance(f, dict) and f.get("url")
            else bk.esc(f.get("name", "") if isinstance(f, dict) else f)
            for f in value[:10]
        ]
        return ", ".join(shown)
    count = int(value or 0)
    return bk.say("inquiry_desk.attachments_count", locale, count=count) if count else ""


def post_blocks(context: Mapping[str, Any], locale: str) -> Blocks:
    """An inquiry's post (``inquiry_new``, and again on each ``inquiry_status``)."""
    t = bk.speaker(locale)
    label = str(context.get("inquiry", ""))
    status = str(context.get("status") or "new")
    rows: list[tuple[str, str]] = [
        (t("inquiry_desk.field.company"), bk.esc(context.get("company", ""))),
        (t("inquiry_desk.field.support_id"), bk.esc(context.get("support_id", ""))),
        (t("inquiry_desk.field.asker"), bk.esc(context.get("asker", ""))),
        (t("inquiry_desk.field.due_on"), bk.esc(long_date(context.get("due_on"), locale))),
        (t("inquiry_desk.field.product"), bk.esc(context.get("product", ""))),
        (t("inquiry_desk.field.status"), _status(status, locale)),
    ]
    if context.get("assignee"):
        rows.append((t("inquiry_desk.field.assignee"), staff_name(str(context["assignee"]))))
    files = _attachments(context.get("attachments"), locale)
    if files:
        rows.append((t("inquiry_desk.field.attachments"), files))
    blocks: Blocks = [
        bk.section(f"*{t('inquiry_desk.post.title', inquiry=label)}*"),
        bk.section(
            f"*{t('inquiry_desk.field.subject')}*: {bk.esc(context.get('subject', ''))}", verbatim=True
        ),
        _verbatim_fields(rows),
    ]
    excerpt = str(context.get("excerpt") or "")
    if excerpt.strip():
        blocks.append(bk.section(quoted(excerpt), verbatim=True))
    if status != "closed":
        blocks.append(
            bk.actions(
                bk.button(t("inquiry_desk.action.answer"), ANSWER_ACTION, label, style="primary"),
                bk.button(t("inquiry_desk.action.assign"), ASSIGN_ACTION, label),
                bk.button(t("inquiry_desk.action.close"), CLOSE_ACTION, label),
                block_id=ACTIONS_BLOCK,
            )
        )
    return blocks


def followup_blocks(context: Mapping[str, Any], locale: str) -> Blocks:
    """A line in the post's thread: a customer message, an answer sent, a status change."""
    t = bk.speaker(locale)
    kind = str(context.get("kind") or "")
    label = str(context.get("inquiry", ""))
    author = str(context.get("author") or "")
    who = bk.esc(author) if kind == "customer" else staff_name(author)
    message_id = f"inquiry_desk.followup.{kind}" if kind in FOLLOWUP_KINDS else "inquiry_desk.followup.other"
    lines = [t(message_id, inquiry=label, author=who)]
    if context.get("status"):
        lines.append(t("inquiry_desk.followup.status", status=_status(str(context["status"]), locale)))
    blocks: Blocks = [bk.section("\n".join(lines), verbatim=True)]
    excerpt = str(context.get("excerpt") or "")
    if excerpt.strip():
        blocks.append(bk.section(quoted(excerpt), verbatim=True))
    return blocks


def digest_blocks(context: Mapping[str, Any], locale: str) -> Blocks:
    """The morning digest: overdue and due-today inquiries, each linked to its post."""
    t = bk.speaker(locale)
    title = t(
        "inquiry_desk.digest.title",
        day=long_date(context.get("day"), locale),
        overdue=int(context.get("overdue") or 0),
        due_today=int(context.get("due_today") or 0),
    )
    lines = []
    for item in context.get("items") or []:
        flag = t("inquiry_desk.overdue") if item.get("overdue") else t("inquiry_desk.digest.due_today")
        assignee = (
            staff_name(str(item["assignee"])) if item.get("assignee") else t("inquiry_desk.digest.unassigned")
        )
        lines.append(
            f"{flag} *{bk.esc(item.get('inquiry', ''))}* {bk.esc(long_date(item.get('due_on'), locale))} "
            f"［{_status(str(item.get('status', '')), locale)}］ {bk.esc(item.get('subject', ''))} — "
            f"{bk.esc(item.get('asker', ''))}（{bk.esc(item.get('support_id') or '—')}） {assignee}"
        )
    blocks: Blocks = [bk.section(f"*{title}*")]
    blocks += [bk.section("\n".join(lines[i : i + 10]), verbatim=True) for i in range(0, len(lines), 10)]
    shown = len(context.get("items") or [])
    if int(context.get("overdue") or 0) + int(context.get("due_today") or 0) > shown:
        blocks.append(bk.context_block(t("inquiry_desk.digest.more")))
    return blocks


def answer_modal(detail: InquiryDetail, locale: str, metadata: str) -> dict[str, Any]:
    """The 回答する modal: who asked, the subject and the customer's latest message, then
    the answer and its files. ``metadata`` carries the number and the post (no customer
    data)."""
    t = bk.speaker(locale)
    s = detail.summary
    last = next((m for m in reversed(detail.messages) if m.kind == "customer"), None)
    last_text = quoted(last.body, 2500) if last else t("inquiry_desk.modal.no_message")
    return {
        "type": "modal",
        "callback_id": ANSWER_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": t("inquiry_desk.modal.title")[:24]},
        "submit": {"type": "plain_text", "text": t("inquiry_desk.modal.submit")[:24]},
        "close": {"type": "plain_text", "text": t("inquiry_desk.modal.cancel")[:24]},
        "blocks": [
            bk.section(f"*{bk.esc(s.label)}* {bk.esc(s.subject)}", verbatim=True),
            _verbatim_fields(
                [
                    (t("inquiry_desk.field.asker"), f"{bk.esc(s.asker)}\n{bk.esc(detail.asker_email)}"),
                    (t("inquiry_desk.field.support_id"), bk.esc(s.support_id or "—")),
                    (t("inquiry_desk.field.due_on"), bk.esc(long_date(s.due_on, locale))),
                    (t("inquiry_desk.field.status"), _status(s.status, locale)),
                ]
            ),
            bk.section(f"*{t('inquiry_desk.modal.last_message')}*\n{last_text}", verbatim=True),
            {
                "type": "input",
                "block_id": BODY_BLOCK,
                "label": {"type": "plain_text", "text": t("inquiry_desk.modal.body")[:2000]},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
            {
                "type": "input",
                "block_id": FILES_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": t("inquiry_desk.modal.attachments")},
                "element": {"type": "file_input", "action_id": "value", "max_files": 10},
            },
        ],
    }


def summary_line(s: InquirySummary, locale: str) -> str:
    t = bk.speaker(locale)
    line = t(
        "inquiry_desk.list.line",
        inquiry=bk.Mrkdwn(f"*{bk.esc(s.label)}*"),
        status=_status(s.status, locale),
        subject=s.subject,
        asker=s.asker,
        support_id=s.support_id or "—",
        due_on=long_date(s.due_on, locale),
        assignee=staff_name(s.assignee) if s.assignee else bk.Mrkdwn("—"),
    )
    return f"{t('inquiry_desk.overdue')} {line}" if s.overdue else line


def list_blocks(found: InquiryPage, which: str, title: str, locale: str) -> Blocks:
    t = bk.speaker(locale)
    if not found.items:
        return [bk.section(f"*{title}*\n{t('inquiry_desk.list.empty')}")]
    lines = [summary_line(s, locale) for s in found.items]
    blocks: Blocks = [bk.section(f"*{title}*"), bk.section("\n".join(lines), verbatim=True)]
    if found.has_more:
        blocks.append(bk.context_block(t("inquiry_desk.list.more", which=which, next=found.page + 1)))
    return blocks


def show_blocks(detail: InquiryDetail, locale: str) -> Blocks:
    """The whole thread for staff, internal notes included, times in JST."""
    t = bk.speaker(locale)
    facts = [
        t("inquiry_desk.show.asker_email", email=detail.asker_email),
        t("inquiry_desk.show.received", at=long_date(detail.received_at, locale, time=True)),
    ]
    if detail.answered_at:
        facts.append(t("inquiry_desk.show.answered", at=long_date(detail.answered_at, locale, time=True)))
    if detail.autoclose_on:
        facts.append(t("inquiry_desk.show.autoclose", on=long_date(detail.autoclose_on, locale)))
    if detail.closed_at:
        facts.append(t("inquiry_desk.show.closed", at=long_date(detail.closed_at, locale, time=True)))
    if detail.previous:
        facts.append(t("inquiry_desk.show.previous", inquiry=format_number(detail.previous)))
    blocks: Blocks = [
        bk.section(summary_line(detail.summary, locale), verbatim=True),
        bk.context_block("\n".join(facts)),
    ]
    # The newest messages fit Slack's 50 blocks with room for the heading.
    for m in detail.messages[-20:]:
        kind = (
            t(f"inquiry_desk.kind.{m.kind}") if m.kind in ("customer", "answer", "note") else bk.esc(m.kind)
        )
        author = bk.esc(m.author) if m.kind == "customer" else staff_name(m.author)
        head = f"*{kind}* {author} {bk.esc(long_date(m.created_at, locale, time=True))}"
        blocks.append(bk.section(f"{head}\n{quoted(m.body, 2500)}", verbatim=True))
    return blocks
