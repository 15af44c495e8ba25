"""Inquiries in Block Kit (SPEC §4.8, §5): the ask modal (callback_id ``inquiry``), the
reply modal, a list of inquiries, one inquiry's thread with its buttons, and the App
Home's section.

The ask modal's blocks are the field names core validates (``support_id``, ``product``,
``subject``, ``body``, ``attachments``), each with action_id ``value``, so a
``ValidationFailed`` maps onto them one to one. Choosing a support ID dispatches an
action (``dispatch_action``) and the modal is updated with that support ID's products; typing
the subject dispatches too, for the knowledge suggestions (``bot.views.knowledge``).
Every value a customer typed goes through ``bk.esc``; dates are written by
``core.dates.long_date`` (2026年12月8日（火）).
"""

from __future__ import annotations

import json
from typing import Any

from bot import blocks as bk
from core import attachments, inquiries
from core.dates import long_date
from core.inquiries import InquiryDetail, InquiryPage, InquirySummary

CALLBACK_ID = "inquiry"
REPLY_CALLBACK_ID = "inquiry_reply"
FIELDS = ("support_id", "product", "subject", "body", "attachments")
# Buttons.
REPLY_ACTION = "inquiry_reply_open"
CLOSE_ACTION = "inquiry_close"
PAGE_ACTION = "inquiry_page"
FROM_MESSAGE_ACTION = "inquiry_from_message"
# Slack's limits: a plain_text_input holds at most 3000 characters; a button value 2000.
INPUT_LIMIT = 3000
VALUE_LIMIT = 2000


def _pt(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit]}


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": _pt(text or value), "value": value[:150]}


def _select(
    block_id: str,
    label: str,
    options: list[dict[str, Any]],
    chosen: str | None,
    *,
    dispatch: bool,
    optional: bool,
) -> bk.Block:
    element: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": options[:100]}
    for option in options:
        if option["value"] == chosen:
            element["initial_option"] = option
    block: bk.Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _pt(label, 2000),
        "element": element,
    }
    if dispatch:
        block["dispatch_action"] = True
    return block


def _text(
    block_id: str, label: str, *, multiline: bool, value: str = "", max_length: int = INPUT_LIMIT
) -> bk.Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if value:
        element["initial_value"] = value[:max_length]
    return {"type": "input", "block_id": block_id, "label": _pt(label, 2000), "element": element}


def _files(label: str) -> bk.Block:
    return {
        "type": "input",
        "block_id": "attachments",
        "optional": True,
        "label": _pt(label, 2000),
        "element": {"type": "file_input", "action_id": "value", "max_files": 10},
    }


def _suggesting(block: bk.Block) -> bk.Block:
    """The subject dispatches as it is typed: ``bot.listeners.knowledge`` answers with
    up to 3 related articles under it (``views.update``) before the customer submits."""
    block["dispatch_action"] = True
    block["element"]["dispatch_action_config"] = {
        "trigger_actions_on": ["on_enter_pressed", "on_character_entered"]
    }
    return block


def ask_modal(
    locale: str,
    support_ids: list[str],
    chosen: str | None,
    products: tuple[str, ...],
    *,
    product: str | None = None,
    subject: str = "",
    body: str = "",
) -> dict[str, Any]:
    """The ask modal. Without support IDs the ``support_id`` block is left out (only
    ``その他`` can be asked); with one, it is chosen already."""
    t = bk.speaker(locale)
    blocks: list[bk.Block] = [bk.context_block(t("slack.inquiry.ask_intro"))]
    if support_ids:
        blocks.append(
            _select(
                "support_id",
                t("slack.inquiry.field.support_id"),
                [_option(name) for name in support_ids],
                chosen,
                dispatch=True,
                optional=True,
            )
        )
    product_options = [
        _option(p, t("inquiry.product_other") if p == inquiries.OTHER_PRODUCT else p) for p in products
    ]
    blocks += [
        _select(
            "product",
            t("slack.inquiry.field.product"),
            product_options,
            product if product in products else (products[0] if len(products) == 1 else None),
            dispatch=False,
            optional=False,
        ),
        _suggesting(
            _text(
                "subject",
                t("slack.inquiry.field.subject"),
                multiline=False,
                value=subject,
                max_length=inquiries.MAX_SUBJECT,
            )
        ),
        _text("body", t("slack.inquiry.field.body"), multiline=True, value=body),
        _files(t("slack.inquiry.field.attachments")),
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _pt(t("slack.inquiry.ask_title"), 24),
        "submit": _pt(t("slack.inquiry.submit")),
        "close": _pt(t("slack.modal.cancel")),
        "blocks": blocks,
    }


def reply_modal(locale: str, label: str) -> dict[str, Any]:
    t = bk.speaker(locale)
    return {
        "type": "modal",
        "callback_id": REPLY_CALLBACK_ID,
        "private_metadata": label,
        "title": _pt(t("slack.inquiry.reply_title"), 24),
        "submit": _pt(t("slack.inquiry.reply_submit")),
        "close": _pt(t("slack.modal.cancel")),
        "blocks": [
            bk.context_block(t("slack.inquiry.reply_intro", number=label)),
            _text("body", t("slack.inquiry.field.body"), multiline=True),
            _files(t("slack.inquiry.field.attachments")),
        ],
    }


def message_modal(locale: str, text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _pt(bk.say("slack.inquiry.ask_title", locale), 24),
        "close": _pt(bk.say("slack.modal.close", locale)),
        "blocks": [bk.section(text)],
    }


def _status(summary: InquirySummary, locale: str) -> str:
    text = bk.say(f"inquiry.status.{summary.status}", locale)
    if summary.overdue:
        text = bk.Mrkdwn(f"{text} {bk.say('slack.inquiry.overdue', locale)}")
    return text


def summary_line(summary: InquirySummary, locale: str) -> str:
    """One inquiry in a list: number, status, subject, asker, due date, updated."""
    t = bk.speaker(locale)
    return f"*{bk.esc(summary.label)}*  {_status(summary, locale)}  {bk.esc(summary.subject)}\n" + t(
        "slack.inquiry.line",
        asker=summary.asker,
        due=long_date(summary.due_on, locale),
        updated=long_date(summary.updated_at, locale, time=True),
        support_id=summary.support_id or "—",
        product=summary.product_family,
    )


def inquiry_list(
    page: InquiryPage, locale: str, *, support_id: str | None, include_closed: bool
) -> list[bk.Block]:
    t = bk.speaker(locale)
    if not page.items:
        empty = "slack.inquiry.none_at_all" if include_closed else "slack.inquiry.none_open"
        return [bk.section(t(empty))]
    title = "slack.inquiry.list_all" if include_closed else "slack.inquiry.list_open"
    blocks: list[bk.Block] = [bk.section(f"*{t(title)}*")]
    for summary in page.items:
        blocks.append(bk.section(summary_line(summary, locale), verbatim=True))
    if page.has_more:
        value = json.dumps({"id": support_id or "", "all": include_closed, "page": page.page + 1})
        blocks.append(bk.actions(bk.button(t("slack.inquiry.next_page"), PAGE_ACTION, value)))
    blocks.append(bk.context_block(t("slack.inquiry.list_hint")))
    return blocks


def inquiry_detail(detail: InquiryDetail, locale: str) -> list[bk.Block]:
    """One inquiry and its thread, with 返信する / 完了にする."""
    t = bk.speaker(locale)
    s = detail.summary
    rows: list[tuple[str, str]] = [
        (t("slack.inquiry.field.status"), _status(s, locale)),
        (t("slack.inquiry.field.due"), long_date(s.due_on, locale)),
        (t("slack.inquiry.field.support_id"), bk.esc(s.support_id or "—")),
        (t("slack.inquiry.field.product"), bk.esc(s.product_family)),
        (t("slack.inquiry.field.asker"), bk.esc(s.asker)),
        (t("slack.inquiry.field.updated"), long_date(s.updated_at, locale, time=True)),
    ]
    blocks: list[bk.Block] = [
        bk.section(f"*{bk.esc(s.label)}*  {bk.esc(s.subject)}", verbatim=True),
        bk.fields_table(rows),
    ]
    if detail.previous is not None:
        blocks.append(
            bk.context_block(t("slack.inquiry.previous", number=inquiries.format_number(detail.previous)))
        )
    if s.status == "answered" and detail.autoclose_on is not None:
        blocks.append(
            bk.context_block(t("slack.inquiry.autoclose", date=long_date(detail.autoclose_on, locale)))
        )
    for message in detail.messages[-20:]:
        who = t("slack.inquiry.staff") if message.kind == "answer" else bk.esc(message.author or "—")
        if message.kind == "note":
            who = bk.Mrkdwn(f"{t('slack.inquiry.note')} {bk.esc(message.author)}")
        head = f"*{who}*  {long_date(message.created_at, locale, time=True)}"
        blocks.append(bk.divider())
        blocks.append(bk.section(f"{head}\n{bk.esc(message.body)}", verbatim=True))
        if message.files:
            lines = [f"• {bk.link(f.url, f.name)} ({attachments.size_text(f.size)})" for f in message.files]
            blocks.append(bk.section(f"*{t('attachments.heading')}*\n" + "\n".join(lines), verbatim=True))
    if detail.links_until is not None:
        until = attachments.shown_date(detail.links_until, locale)
        blocks.append(bk.context_block(t("attachments.link_note", until=until)))
    buttons = []
    if detail.can_reply:
        buttons.append(bk.button(t("slack.inquiry.reply_button"), REPLY_ACTION, s.label, style="primary"))
    if detail.can_close:
        buttons.append(bk.button(t("slack.inquiry.close_button"), CLOSE_ACTION, s.label))
    if buttons:
        blocks.append(bk.actions(*buttons, block_id="inquiry_actions"))
    return bk.clip(blocks)


def home_section(page: InquiryPage, locale: str) -> list[bk.Block]:
    """The App Home's "open inquiries" part, with a button to ask."""
    t = bk.speaker(locale)
    blocks: list[bk.Block] = [bk.section(f"*{t('slack.inquiry.home_title')}*")]
    if page.items:
        blocks += [bk.section(summary_line(s, locale), verbatim=True) for s in page.items[:10]]
    else:
        blocks.append(bk.section(t("slack.inquiry.none_open")))
    blocks.append(
        bk.actions(bk.button(t("slack.inquiry.ask_button"), FROM_MESSAGE_ACTION, "", style="primary"))
    )
    return blocks


def offer_from_message(locale: str, text: str) -> list[bk.Block]:
    """The answer to a DM: make it an inquiry (the ask modal, prefilled), or read help."""
    t = bk.speaker(locale)
    return [
        bk.section(t("slack.inquiry.dm_offer")),
        bk.actions(
            bk.button(
                t("slack.inquiry.ask_button"), FROM_MESSAGE_ACTION, text[:VALUE_LIMIT], style="primary"
            ),
            block_id="inquiry_offer",
        ),
        bk.context_block(t("slack.inquiry.dm_help_hint")),
    ]
