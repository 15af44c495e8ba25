"""HTML to plain text for an HTML-only mail, in one pass whose time grows with the input.

What staff need is the words: script, style and title dropped, comments and declarations
dropped, block elements (paragraphs, divisions, rows, list items, headings, ``<br>``) as
line breaks, table cells apart, entities decoded, whitespace collapsed, empty lines gone.

Why not a regex: the one this replaced was quadratic (``<[^>]*>`` rescans to the end for
every ``<`` without a ``>``): 72 KB took 1.5 s and a 10 MiB mail would hold the parser for
hours. Why not ``html.parser.HTMLParser``: on Python 3.11.7 it is quadratic too on
unclosed constructs (``"<a " * n``, ``"<!--" * n``; CPython gh-135462, fixed in 3.11.13).
So a small scanner: every step either moves past what it read or ends the document, and
each search starts where the last one stopped. A construct left open at the end (a
comment, a tag, a quoted attribute value, a script) ends the text, as it does in a
browser. The parse time limit (mail/inbound.py) stays as the second line of defence.
"""

from __future__ import annotations

import html
import re

# Elements that start a new line where they open and where they close.
_BLOCKS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "details"),
        *("div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "li", "main", "nav", "ol", "p", "pre", "section"),
        *("summary", "table", "tbody", "tfoot", "thead", "tr", "ul"),
    )
)
_CELLS = frozenset(("td", "th"))
# Elements whose content is not text for the reader: skipped up to their end tag.
_HIDDEN = {
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE) for name in ("script", "style", "title")
}
# Where markup may start; any other "<" is text ("a < b", "<<<").
_OPEN = re.compile(r"<[A-Za-z!/?]")
_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
# The rest of a tag up to its ">", a ">" inside a quoted value not counting. Possessive,
# so a failed match costs one scan and no backtracking.
_TAG_REST = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
# A numeric reference too long for any code point: ``html.unescape`` would hand all its
# digits to ``int`` (quadratic, and an error past 4,300 digits).
_LONG_REFERENCE = re.compile(r"&#(?:[xX][0-9a-fA-F]{7,}|[0-9]{8,});?")


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return html.unescape(_LONG_REFERENCE.sub("\ufffd", text))


class _Scanner:
    """One document, read once from left to right."""

    def __init__(self, markup: str) -> None:
        self.markup = markup
        self.out: list[str] = []
        # Honour quotes in tags until one is found that never closes; from then on a tag
        # ends at its first ">", so that one unclosed quote costs one scan, not one per tag.
        self.quotes = True

    def tag_end(self, at: int) -> int:
        """The index just after the ">" closing the tag whose attributes start at ``at``;
        -1 when the document ends inside the tag."""
        if self.quotes:
            match = _TAG_REST.match(self.markup, at)
            if match is not None:
                return match.end()
            self.quotes = False
        end = self.markup.find(">", at)
        return end + 1 if end >= 0 else -1

    def declaration(self, at: int) -> int:
        """``<!…>``, ``<?…>``, ``</…>`` that is no tag: skipped to the next ">"."""
        end = self.markup.find(">", at)
        return end + 1 if end >= 0 else -1

    def comment(self, at: int) -> int:
        """``<!-- … -->`` starting at ``at`` (just after ``<!--``)."""
        markup = self.markup
        if markup.startswith(">", at):
            return at + 1
        if markup.startswith("->", at):
            return at + 2
        end = markup.find("-->", at)
        return end + 3 if end >= 0 else -1

    def markup_at(self, lt: int) -> int:
        """Read the construct at ``markup[lt] == "<"``; where to go on, or -1 at the end."""
        markup = self.markup
        follower = markup[lt + 1 : lt + 2]
        if follower == "!":
            if markup.startswith("<!--", lt):
                return self.comment(lt + 4)
            return self.declaration(lt + 2)
        if follower == "?":
            return self.declaration(lt + 2)
        closing = follower == "/"
        start = lt + 2 if closing else lt + 1
        name = _NAME.match(markup, start)
        if name is None:
            if not closing:
                self.out.append("<")  # "a < b": text
                return lt + 1
            if start >= len(markup):
                self.out.append("</")
                return start
            return self.declaration(start)  # "</>" and "</ …>"
        end = self.tag_end(name.end())
        if end < 0:
            return -1
        tag = name.group().lower()
        if tag in _BLOCKS:
            self.out.append("\n")
        elif tag in _CELLS:
            self.out.append(" ")
        hidden = None if closing else _HIDDEN.get(tag)
        if hidden is not None:
            close = hidden.search(markup, end)
            return -1 if close is None else close.start()
        return end

    def run(self) -> str:
        markup, out = self.markup, self.out
        pos = 0
        while 0 <= pos < len(markup):
            found = _OPEN.search(markup, pos)
            if found is None:
                out.append(_unescape(markup[pos:]))
                break
            lt = found.start()
            if lt > pos:
                out.append(_unescape(markup[pos:lt]))
            pos = self.markup_at(lt)
        lines = (" ".join(line.split()) for line in "".join(out).splitlines())
        return "\n".join(line for line in lines if line).strip()


def html_to_text(markup: str) -> str:
    """The text a reader sees in ``markup``; see the module docstring."""
    return _Scanner(markup).run()
