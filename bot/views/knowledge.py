"""Knowledge articles in Block Kit: result lists, one article in full (its Markdown as
Slack mrkdwn), the search modal, the staff's article modal (also holding a draft from an
inquiry) and the ask modal's suggestions.

Separate because the command, the App Home's search modal and its buttons show the
same blocks. Markdown is converted line by line to mrkdwn after escaping, so an
article's ``<!channel>`` or ``<http://…|x>`` reaches Slack as text; the links it means
(``[text](https://…)``) become Slack links. Long bodies are cut into sections of at most
3,000 characters, and an answer never exceeds Slack's 50 blocks.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any

from bot import blocks as bk
from core.knowledge.drafting import KINDS, Draft
from core.knowledge.fields import ArticleFields
from core.knowledge.search import ArticleView, Hit
from core.knowledge.tables import VISIBILITIES
from core.knowledge.text import markdown_lines

SHOW_ACTION = "kb_show"
SEARCH_OPEN_ACTION = "kb_search_open"
SEARCH_CALLBACK = "kb_search"
ARTICLE_CALLBACK = "kb_article"
WORDS_BLOCK = "words"
# The ask modal's suggestions: blocks whose id starts with this, right after ``subject``.
SUGGEST_BLOCK = "kb_suggest"
# What views.update accepts of the view a block_actions payload carries.
_VIEW_KEYS = (
    "type",
    "title",
    "submit",
    "close",
    "callback_id",
    "private_metadata",
    "clear_on_close",
    "notify_on_close",
    "external_id",
)
ARTICLE_BLOCKS = ("code", "title", "body", "product_family", "visibility", "tags", "updated_on")
# Room left under Slack's 50 blocks for the title, meta lines and hints around a body.
_BODY_BLOCKS = 44
_CHUNK = bk.SECTION_LIMIT - 100
# A plain_text_input holds at most 3,000 characters.
_BODY_FIELD = 3000

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s|]+)\)")
_BOLD = re.compile(r"(\*\*|__)(.+?)\1")
# A single * on each side (not part of **); Japanese puts no space around it.
_ITALIC = re.compile(r"(?<!\*)\*(?![\s*])(.+?)(?<![\s*])\*(?!\*)")
_STRIKE = re.compile(r"~~(.+?)~~")


def _inline(line: str) -> str:
    """One escaped line's Markdown emphasis and links as mrkdwn."""
    line = _LINK.sub(lambda m: f"<{m[2]}|{m[1].replace('|', '¦')}>", line)
    line = _ITALIC.sub(r"_\1_", line)  # before bold, whose result is *…*
    line = _BOLD.sub(r"*\2*", line)
    return _STRIKE.sub(r"~\1~", line)


def _mrkdwn_line(raw: str) -> str:
    line = bk.esc(raw)
    heading = _HEADING.match(line)
    if heading:
        return f"*{heading[1]}*"
    return _BULLET.sub(r"\1• ", _inline(line))


def mrkdwn(markdown: str) -> bk.Mrkdwn:
    """An article's Markdown as Slack mrkdwn: headings bold, ``**b**`` → ``*b*``, ``*i*``
    → ``_i_``, links ``<url|text>``, bullets ``•``, code blocks kept."""
    return bk.Mrkdwn("\n".join(markdown_lines(markdown, _mrkdwn_line, code=bk.esc, fence="```")).strip())


def chunks(text: str, size: int = _CHUNK) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at line ends when possible
    (a code block cut in two is closed and reopened)."""
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut <= 0:
            cut = size
        piece, text = text[:cut], text[cut:].lstrip("\n")
        if piece.count("```") % 2:
            piece += "\n```"
            text = "```\n" + text
        pieces.append(piece)
    if text:
        pieces.append(text)
    return pieces


@lru_cache(maxsize=4096)
def day(value: date, locale: str) -> str:
    """Kept per day: ten results a search, most of them updated on a few days."""
    weekday = bk.say("kb.weekdays", locale).split()[value.weekday()]
    return bk.say(
        "kb.date",
        locale,
        year=value.year,
        month=value.month,
        day=value.day,
        mm=f"{value.month:02d}",
        dd=f"{value.day:02d}",
        weekday=weekday,
    )


@lru_cache(maxsize=8)
def _repeated(locale: str) -> tuple[bk.Mrkdwn, bk.Mrkdwn, Any]:
    """What every hit of a list repeats, looked up once per locale rather than per hit:
    the words for no product, the show button's label, and the meta line's sentence."""
    return (
        bk.say("kb.product_none", locale),
        bk.say("kb.show_button", locale),
        bk.sentence("kb.meta", locale),
    )


def _meta(code: str, family: str | None, updated_on: date, locale: str) -> bk.Mrkdwn:
    none, _, meta = _repeated(locale)
    return meta(code=code, product=family if family else none, updated_on=day(updated_on, locale))  # type: ignore[no-any-return]


def _hit_block(hit: Hit, locale: str) -> bk.Block:
    """One result: title, meta line, snippet (its match bold), the show button — in one
    f-string (a search renders ten)."""
    none, label, meta = _repeated(locale)
    esc = bk.esc
    s = hit.snippet
    match = f"*{esc(s.match)}*" if s.match else ""
    line = meta(code=hit.code, product=hit.product_family or none, updated_on=day(hit.updated_on, locale))
    block = bk.section(
        f"*{esc(hit.title)}*\n{line}\n"
        f"{'…' if s.cut_before else ''}{esc(s.before)}{match}{esc(s.after)}{'…' if s.cut_after else ''}"
    )
    block["accessory"] = bk.button(label, SHOW_ACTION, hit.code)
    return block


def results(hits: list[Hit], locale: str, words: str | None) -> list[bk.Block]:
    """A list of results (``words`` None: the newest articles)."""
    if words is None:
        title = bk.say("kb.newest_title", locale)
        if not hits:
            return [bk.section(bk.say("kb.none_yet", locale))]
    else:
        if not hits:
            return [bk.section(bk.say("kb.no_results", locale, words=words))]
        title = bk.say("kb.results_title", locale, words=words, count=len(hits))
    blocks = [bk.section(f"*{title}*")]
    blocks += [_hit_block(hit, locale) for hit in hits]
    blocks.append(bk.context_block(bk.say("kb.show_hint", locale)))
    return blocks


def article(view: ArticleView, locale: str, *, withdrawn: bool = False) -> list[bk.Block]:
    """One article in full: title, meta line, body (cut to fit Slack's limits)."""
    title = f"*{bk.esc(view.title)}*" + (bk.say("kb.withdrawn_mark", locale) if withdrawn else "")
    blocks = [
        bk.section(title),
        bk.context_block(_meta(view.code, view.product_family, view.updated_on, locale)),
    ]
    pieces = chunks(mrkdwn(view.body))
    if len(pieces) > _BODY_BLOCKS:
        pieces = pieces[:_BODY_BLOCKS]
        pieces[-1] += "\n" + bk.say("kb.truncated", locale, code=view.code)
    blocks += [bk.section(piece) for piece in pieces]
    if view.tags:
        blocks.append(bk.context_block(" ".join(f"#{bk.esc(tag)}" for tag in view.tags)))
    return bk.clip(blocks)


def _modal(title: str, blocks: list[bk.Block], locale: str, **extra: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": bk.say("kb.modal.close", locale)},
        "blocks": bk.clip(blocks),
    }
    view.update(extra)
    return view


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False) -> bk.Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label[:2000]},
        "element": {**element, "action_id": "value"},
        "optional": optional,
    }


def _text_input(initial: str = "", *, multiline: bool = False, max_length: int = 3000) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "multiline": multiline, "max_length": max_length}
    if initial:
        element["initial_value"] = initial
    return element


def search_modal(locale: str, words: str = "", found: list[bk.Block] | None = None) -> dict[str, Any]:
    """The App Home's search: a words box; after a search, the results under it."""
    t = bk.speaker(locale)
    blocks = [
        _input(WORDS_BLOCK, t("kb.modal.search_label"), _text_input(words, max_length=200)),
        bk.context_block(t("kb.modal.search_hint")),
    ]
    if found is not None:
        blocks += [bk.divider(), *found]
    return _modal(
        t("kb.modal.search_title"),
        blocks,
        locale,
        callback_id=SEARCH_CALLBACK,
        submit={"type": "plain_text", "text": t("kb.modal.search_submit")},
    )


def article_modal(article_view: ArticleView, locale: str) -> dict[str, Any]:
    """One article, pushed over the search modal."""
    return _modal(bk.say("kb.modal.search_title", locale), article(article_view, locale), locale)


def edit_modal(
    locale: str, current: ArticleFields | None = None, *, draft: Draft | None = None
) -> dict[str, Any]:
    """Staff's article modal: new (``current`` None), prefilled for ``kb edit``, or a new
    one prefilled from an inquiry's ``draft`` (``kb from INQ``) under a notice of what was
    removed; the code of an edited article travels in ``private_metadata`` and cannot
    change."""
    t = bk.speaker(locale)
    c = current
    if draft is not None:
        c = _draft_fields(draft)
    options = [
        {"text": {"type": "plain_text", "text": t(f"kb.visibility.{v}")}, "value": v} for v in VISIBILITIES
    ]
    visibility: dict[str, Any] = {"type": "static_select", "options": options}
    if c is not None:
        visibility["initial_option"] = options[VISIBILITIES.index(c.visibility)]
    updated: dict[str, Any] = {"type": "datepicker"}
    if c is not None and draft is None:
        updated["initial_date"] = c.updated_on.isoformat()
    blocks: list[bk.Block] = [] if draft is None else draft_notice(draft, locale)
    if c is None or draft is not None:
        blocks.append(_input("code", t("kb.modal.code"), _text_input(max_length=64)))
    blocks += [
        _input("title", t("kb.modal.title"), _text_input(c.title if c else "", max_length=255)),
        _input("body", t("kb.modal.body"), _text_input(c.body if c else "", multiline=True, max_length=3000)),
        _input(
            "product_family",
            t("kb.modal.product_family"),
            _text_input((c.product_family or "") if c else "", max_length=255),
            optional=True,
        ),
        _input("visibility", t("kb.modal.visibility"), visibility),
        _input(
            "tags",
            t("kb.modal.tags"),
            _text_input("、".join(c.tags) if c else "", max_length=500),
            optional=True,
        ),
        _input("updated_on", t("kb.modal.updated_on"), updated, optional=True),
    ]
    return _modal(
        t("kb.modal.edit_title" if c and draft is None else "kb.modal.new_title"),
        blocks,
        locale,
        callback_id=ARTICLE_CALLBACK,
        private_metadata=c.code if c and draft is None else "",
        submit={"type": "plain_text", "text": t("kb.modal.save")},
    )


def submitted(view: dict[str, Any]) -> dict[str, Any]:
    """The staff modal's values as ``core.knowledge.editing`` takes them."""
    state = view.get("state", {}).get("values", {})

    def value(block: str) -> Any:
        element = state.get(block, {}).get("value", {})
        if element.get("type") == "static_select":
            return (element.get("selected_option") or {}).get("value")
        if element.get("type") == "datepicker":
            return element.get("selected_date")
        return element.get("value")

    tags = re.split(r"[,、，\s]+", value("tags") or "")
    return {
        "code": value("code"),
        "title": value("title"),
        "body": value("body"),
        "product_family": value("product_family"),
        "visibility": value("visibility"),
        "tags": [tag for tag in tags if tag],
        "updated_on": value("updated_on"),
    }


def done_modal(locale: str, message_id: str, code: str) -> dict[str, Any]:
    """What the staff modal turns into once saved."""
    text = bk.section(bk.say(message_id, locale, code=code))
    return _modal(bk.say("kb.modal.edit_title", locale), [text], locale)


def _draft_fields(draft: Draft) -> ArticleFields:
    """A draft as the modal's initial values; its body cut to what the field holds."""
    return ArticleFields(
        "",
        draft.title,
        draft.body[:_BODY_FIELD],
        draft.product_family,
        draft.visibility,
        [],
        date.min,
        False,
    )


def draft_notice(draft: Draft, locale: str) -> list[bk.Block]:
    """Above a draft: where it comes from, to check for personal data, what was removed."""
    t = bk.speaker(locale)
    items = [
        t("kb.draft.removed_one", kind=t(f"kb.draft.kind.{k}"), count=draft.removed[k])
        for k in KINDS
        if k in draft.removed
    ]
    separator = "、" if locale == "ja" else ", "
    removed = t("kb.draft.removed", items=separator.join(items)) if items else t("kb.draft.removed_none")
    blocks = [bk.section(t("kb.draft.notice", number=draft.number)), bk.context_block(removed)]
    if len(draft.body) > _BODY_FIELD:
        blocks.append(bk.context_block(t("kb.draft.truncated", number=draft.number)))
    return blocks


def suggestions(hits: list[Hit], locale: str) -> list[bk.Block]:
    """The ask modal's suggestions (none: no blocks), each with its 表示 button."""
    if not hits:
        return []
    blocks = [{**bk.context_block(bk.say("kb.suggest.title", locale)), "block_id": SUGGEST_BLOCK}]
    for n, hit in enumerate(hits):
        blocks.append({**_hit_block(hit, locale), "block_id": f"{SUGGEST_BLOCK}_{n}"})
    blocks.append(
        {**bk.context_block(bk.say("kb.suggest.hint", locale)), "block_id": f"{SUGGEST_BLOCK}_hint"}
    )
    return blocks


def suggested(view: dict[str, Any]) -> list[bk.Block]:
    """The suggestion blocks a modal shows now."""
    return [b for b in view.get("blocks") or [] if str(b.get("block_id") or "").startswith(SUGGEST_BLOCK)]


def with_suggestions(view: dict[str, Any], found: list[bk.Block]) -> dict[str, Any]:
    """``view`` (as a block_actions payload carries it) for ``views.update`` with its
    suggestions replaced by ``found`` right after the ``subject`` block. Every other
    block is sent back as it is, so each input keeps its block_id and action_id and
    Slack keeps what the customer typed or chose (even while they go on typing)."""
    out: dict[str, Any] = {key: view[key] for key in _VIEW_KEYS if key in view}
    blocks: list[bk.Block] = []
    for block in view.get("blocks") or []:
        if str(block.get("block_id") or "").startswith(SUGGEST_BLOCK):
            continue
        blocks.append(block)
        if block.get("block_id") == "subject":
            blocks += found
    out["blocks"] = bk.clip(blocks)
    return out
