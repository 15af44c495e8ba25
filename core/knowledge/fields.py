"""What an article's values must be, wherever they come from (the vendor file or a
staff member's modal): one set of rules, two ways of saying what is wrong.

Separate because the import (``core.importing.reading``) and staff writes
(``core.knowledge.editing``) must accept exactly the same articles; each returns the
first problem as ``(field, reason message id, params)`` and the caller phrases it in its
own terms (a JSON path, a modal block).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.knowledge.tables import VISIBILITIES

CODE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
MAX_TITLE = 255
MAX_BODY = 40_000
MAX_FAMILY = 255
MAX_TAGS = 20
MAX_TAG = 64

Problem = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class ArticleFields:
    """An article's values, cleaned: code upper-cased, texts stripped, no empty tags."""

    code: str
    title: str
    body: str
    product_family: str | None
    visibility: str
    tags: list[str]
    updated_on: date
    withdrawn: bool


def canonical_code(raw: str) -> str:
    """Codes are compared upper-cased (``kb show kb-a-0001`` finds ``KB-A-0001``)."""
    return raw.strip().upper()


def _text(values: dict[str, Any], name: str, limit: int, *, required: bool) -> str | Problem:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return (name, "import.reason.missing", {}) if required else ""
    if not isinstance(value, str):
        return (name, "import.reason.not_a_string", {})
    value = value.strip()
    if len(value) > limit:
        return (name, "import.reason.too_long", {"max": limit})
    return value


def check(values: dict[str, Any], *, today: date) -> ArticleFields | Problem:
    """The cleaned article, or the first problem. ``updated_on`` defaults to ``today``;
    ``withdrawn`` to false."""
    code = _text(values, "code", 64, required=True)
    if isinstance(code, tuple):
        return code
    code = canonical_code(code)
    if not CODE.match(code):
        return ("code", "kb.reason.code", {})
    title = _text(values, "title", MAX_TITLE, required=True)
    if isinstance(title, tuple):
        return title
    body = _text(values, "body", MAX_BODY, required=True)
    if isinstance(body, tuple):
        return body
    family = _text(values, "product_family", MAX_FAMILY, required=False)
    if isinstance(family, tuple):
        return family
    visibility = values.get("visibility")
    if visibility not in VISIBILITIES:
        return ("visibility", "kb.reason.visibility", {})
    tags = values.get("tags", [])
    if tags is None:
        tags = []
    if not isinstance(tags, list):
        return ("tags", "import.reason.not_a_list", {})
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            return ("tags", "import.reason.not_a_string", {})
        tag = tag.strip()
        if len(tag) > MAX_TAG:
            return ("tags", "import.reason.too_long", {"max": MAX_TAG})
        if tag and tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        return ("tags", "kb.reason.too_many_tags", {"max": MAX_TAGS})
    updated_on = values.get("updated_on")
    if updated_on is None:
        updated_on = today
    elif isinstance(updated_on, str):
        try:
            updated_on = date.fromisoformat(updated_on) if len(updated_on) == 10 else None
        except ValueError:
            updated_on = None
    if not isinstance(updated_on, date):
        return ("updated_on", "import.reason.not_a_date", {})
    withdrawn = values.get("withdrawn", False)
    if not isinstance(withdrawn, bool):
        return ("withdrawn", "import.reason.not_a_boolean", {})
    return ArticleFields(code, title, body, family or None, visibility, cleaned, updated_on, withdrawn)
