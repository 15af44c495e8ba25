"""The message catalog: every user-facing sentence, in Japanese and English.

Entries live in ``core/messages/*.toml``, one file per area, each entry a table::

    [support_key.invalid]
    ja = "無効なサポートキーです。"
    en = "Invalid support key."

Placeholders use ``str.format`` syntax (``{minutes}``). Loading fails loudly on a
duplicate id or a missing language, so a gap is found by the test suite, not by a user.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

LOCALES = ("ja", "en")


class MissingMessage(KeyError):
    """Raised when a message id is not in the catalog."""


@cache
def catalog() -> dict[str, dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    folder = resources.files(__package__)
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".toml"):
            continue
        data = tomllib.loads(item.read_text(encoding="utf-8"))
        for message_id, texts in _flatten(data):
            if message_id in entries:
                raise ValueError(f"message {message_id!r} defined twice (again in {item.name})")
            missing = [loc for loc in LOCALES if loc not in texts]
            if missing:
                raise ValueError(f"message {message_id!r} in {item.name} lacks {missing}")
            entries[message_id] = texts
    return entries


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()) and "ja" in value:
            out.append((name, value))
        elif isinstance(value, dict):
            out.extend(_flatten(value, name + "."))
        else:
            raise ValueError(f"catalog entry {name!r} is not a table of languages")
    return out


def render(message_id: str, locale: str = "ja", /, **params: Any) -> str:
    """The message in ``locale`` (falling back to Japanese), placeholders filled."""
    texts = catalog().get(message_id)
    if texts is None:
        raise MissingMessage(message_id)
    text = texts.get(locale) or texts["ja"]
    return text.format(**params) if params else text


def in_locale(locale: str) -> Callable[..., str]:
    """``render`` with the locale fixed, for a renderer that writes many messages in the
    reader's language: ``t = in_locale(who.locale); t("slack.id.none")``."""

    def t(message_id: str, /, **params: Any) -> str:
        return render(message_id, locale, **params)

    return t
