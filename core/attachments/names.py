"""File names from strangers, made safe to store, show and offer for download.

A name comes from a mail header or a Slack upload and may be anything: a path
(``../../etc/passwd``, ``C:\\x``), control characters (CR/LF that would split a header),
bidirectional overrides (RLO makes ``exe.pdf`` look like ``fdp.exe``), NUL, hundreds
of characters. What is kept is the last path part, NFC-normalised, with every control,
format and separator character removed, at most ``MAX_NAME`` characters with its
extension kept when it is a sane one.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 120
FALLBACK = "attachment"
# An extension worth keeping when the name is cut: letters and digits, 1–10 of them.
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
# Categories removed: controls (Cc), format (Cf: RLO, ZWJ, BOM …), surrogates, private
# use, unassigned, line and paragraph separators.
_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Characters that mean something to a file system or a shell on some platform.
_RESERVED = re.compile(r'[<>:"|?*\\/]')


def sanitise(name: str | None) -> str:
    """A safe file name for ``name`` (never empty, never a path)."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)
    text = "".join(c for c in text if unicodedata.category(c) not in _DROPPED)
    text = _RESERVED.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if not text or set(text) <= {"_", "."}:
        return FALLBACK
    if len(text) > MAX_NAME:
        match = _EXTENSION.search(text)
        extension = match.group(0) if match else ""
        text = text[: MAX_NAME - len(extension)].rstrip(" .") + extension
    return text
