"""An article's Markdown as plain text (mail, snippets), and the snippet around a match.

Separate because both doors need it and neither may decide it: the mail door sends
plain text, and the Slack door shows a snippet of plain text under each result (the
Slack door renders the full body as mrkdwn itself, ``bot/views/knowledge.py``). The
snippet is found by folding the text the way the search does (``core.knowledge.grams``)
so ｲﾝｽﾄｰﾙ finds its place in a body that says インストール.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

import jaconv

SNIPPET_CHARS = 80

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]*)[^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(.+?)\1")
# A single * or _ on each side (not part of ** or __); Japanese puts no space around it.
_ITALIC = re.compile(r"(?<![*_])([*_])(?![\s*_])(.+?)(?<![\s*_])\1(?![*_])")
_CODE = re.compile(r"`([^`]*)`")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")


def markdown_lines(
    markdown: str,
    prose: Callable[[str], str],
    *,
    code: Callable[[str], str] = lambda line: line,
    fence: str | None = None,
) -> list[str]:
    """``markdown``'s lines, each line of prose through ``prose`` and each line inside a
    fenced code block through ``code``; a fence line becomes ``fence`` (dropped when
    None). The one place that knows where code blocks begin and end, for the plain text
    here and the Slack door's mrkdwn."""
    lines: list[str] = []
    in_code = False
    for line in markdown.replace("\r\n", "\n").split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            if fence is not None:
                lines.append(fence)
            continue
        lines.append(code(line) if in_code else prose(line))
    return lines


def _plain_line(line: str) -> str:
    # Each pattern only where its character occurs (the import renders every body;
    # a substitution that cannot match still costs a regex scan).
    if "#" in line:
        line = _HEADING.sub("", line)
    if ">" in line:
        line = _QUOTE.sub("", line)
    line = _BULLET.sub(r"\1・", line)
    if "[" in line:
        line = _IMAGE.sub(r"\1", line)
        line = _LINK.sub(lambda m: m[1] if m[1] == m[2] else f"{m[1]} ({m[2]})", line)
    if "`" in line:
        line = _CODE.sub(r"\1", line)
    if "*" in line or "_" in line or "~" in line:
        line = _EMPHASIS.sub(r"\2", line)
        line = _ITALIC.sub(r"\2", line)
    return line.rstrip()


def plain_text(markdown: str) -> str:
    """Markdown without its markup: headings, emphasis, code marks and quote marks go;
    links become ``text (URL)``; list items keep a ``・``; code blocks keep their lines."""
    return "\n".join(markdown_lines(markdown, _plain_line)).strip()


def _fold(char: str) -> str:
    """One character folded as ``grams.runs`` folds it (NFKC, katakana, case-folded)."""
    return jaconv.hira2kata(unicodedata.normalize("NFKC", char)).casefold()


class _Folds(dict[int, str]):
    """Each character's fold by code point, as ``str.translate`` takes it, learnt when
    first seen (at most ``LIMIT`` of them; any further one is folded every time): a
    snippet folds its whole text, and doing that character by character in Python cost
    ~0.1 ms per hit (ten hits per search); ``translate`` does it in one call."""

    LIMIT = 65536

    def __missing__(self, code: int) -> str:
        folded = _fold(chr(code))
        if len(folded) != 1:
            _NOT_ONE.add(chr(code))
        if len(self) < self.LIMIT:
            self[code] = folded
        return folded


_FOLDS = _Folds()
# The characters seen that do not fold to exactly one character (ﾊﾟ is two, ㍿ becomes
# four, ß becomes ss), never forgotten: a text with none of them folds position for
# position.
_NOT_ONE: set[str] = set()


def _folded_with_positions(text: str) -> tuple[str, list[int] | None]:
    """``text`` folded like ``grams.runs`` (character by character), and for each folded
    character the index of the original character it came from (None: the same index,
    every character folded to exactly one)."""
    folded = text.translate(_FOLDS)
    # While the set is small, ``char in text`` for each of its characters: ``isdisjoint``
    # walks the whole text, even with the set empty (~4 µs a hit).
    if len(_NOT_ONE) < 16:
        if not any(char in text for char in _NOT_ONE):
            return folded, None
    elif _NOT_ONE.isdisjoint(text):
        return folded, None
    origin: list[int] = []
    for index, char in enumerate(text):
        origin.extend([index] * len(_FOLDS[ord(char)]))
    return folded, origin


@dataclass(frozen=True)
class Snippet:
    """``before`` + ``match`` + ``after`` is a window of the text; ``match`` is where a
    search word occurs ("" when none does: the text's beginning)."""

    before: str
    match: str
    after: str
    cut_before: bool
    cut_after: bool


@cache
def _preimages() -> tuple[re.Pattern[str], dict[str, str]]:
    """What finding a folded word in a text without folding it needs, worked out once
    (~40 ms) over the Basic Multilingual Plane: a pattern of the characters whose fold is
    not exactly one character (those beyond the plane included, unexamined), and for
    each character the others that fold to it (ｲ, い and ㋑ to イ; Ａ to a)."""
    several: list[str] = []
    others: dict[str, list[str]] = {}
    for code in range(0x10000):
        char = chr(code)
        folded = _fold(char)
        if len(folded) != 1:
            several.append(char)
        elif folded != char:
            others.setdefault(folded, []).append(char)
    pattern = re.compile("[" + "".join(map(re.escape, several)) + "\U00010000-\U0010ffff]")
    return pattern, {char: "".join(chars) for char, chars in others.items()}


@lru_cache(maxsize=4096)
def _spellings(char: str) -> str:
    """The characters that fold to ``char`` (itself included when it folds to itself)."""
    return (char if _fold(char) == char else "") + _preimages()[1].get(char, "")


@lru_cache(maxsize=1024)
def _spelled(word: str) -> re.Pattern[str] | None:
    """Every spelling of ``word`` in a text whose every character folds to exactly one:
    at each place, one of the characters that fold to the word's character there
    (``[イいｲ㋑][ンんﾝ]…``). None: a character of the word is no character's fold, so no
    such text holds it."""
    parts: list[str] = []
    for char in word:
        spellings = _spellings(char)
        if not spellings:
            return None
        parts.append(re.escape(spellings) if len(spellings) == 1 else "[" + re.escape(spellings) + "]")
    return re.compile("".join(parts))


def _find_folded(flat: str, word: str) -> int:
    """``flat``'s folded text's ``.find(word)`` for a ``flat`` whose every character
    folds to exactly one (so places are the same folded or not), without folding it: one
    search, in C, for any spelling of the word (``_spelled``). Looking at each place of
    a spelling of the word's first character (``str.find`` for each of イ, い, ｲ, ㋑) and
    folding what stood there cost ~4 µs a hit, the place was often none at all (a title
    match's body need not hold the word)."""
    pattern = _spelled(word)
    found = pattern.search(flat) if pattern is not None else None
    return found.start() if found is not None else -1


def _first_place(flat: str, found: list[str]) -> tuple[int, int] | None:
    """Where in ``flat`` the longest word of ``found`` that occurs (folded) first occurs.

    Folding the whole text (``str.translate``, ~50 ns a character unless it is ASCII)
    cost ~5 µs a hit; when every character of the text folds to exactly one (no ㍿, no
    …, nothing beyond the Basic Multilingual Plane), the folded text has the same places
    as the text, and ``_find_folded`` finds the same first place without folding it."""
    ordered = sorted(found, key=len, reverse=True)
    if flat.isascii() or not _preimages()[0].search(flat):
        for word in ordered:
            place = _find_folded(flat, word)
            if place >= 0:
                return place, place + len(word)
        return None
    folded, origin = _folded_with_positions(flat)
    for word in ordered:
        at = folded.find(word)
        if at >= 0:
            if origin is None:
                return at, at + len(word)
            return origin[at], origin[at + len(word) - 1] + 1
    return None


def snippet(text: str, found: list[str], width: int = SNIPPET_CHARS) -> Snippet:
    """The window of ``text`` (plain, one line) around the first place of the longest
    folded search word of ``found`` that occurs in it."""
    flat = " ".join(text.split())
    best = _first_place(flat, found)
    if best is None:
        return Snippet("", "", flat[:width], False, len(flat) > width)
    start, end = best
    left = max(0, start - width // 3)
    right = min(len(flat), max(end, left + width))
    return Snippet(flat[left:start], flat[start:end], flat[end:right], left > 0, right < len(flat))
