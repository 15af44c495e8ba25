"""How text typed by people is compared: width, case and kana folded.

One place for it, because the import writes ``Company.name_norm`` and the company search
compares against it; if the two disagreed, a company could never be found.
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

_DASHES = re.compile(r"[\-‐‑‒–—―−ー－ｰ_\s]+")


def fold(text: str) -> str:
    """NFKC (full/half width), case-folded, hiragana as katakana, spaces squeezed."""
    folded = jaconv.hira2kata(unicodedata.normalize("NFKC", text)).casefold()
    return " ".join(folded.split())


def person_key(*parts: str) -> str:
    """A person's name (or its reading) as staff search compares it: ``fold`` without any
    space, so ``山田 太郎``, ``山田太郎`` and ``やまだ　たろう``/``ﾔﾏﾀﾞﾀﾛｳ`` meet their stored
    form whichever way they were typed; the family name alone is its prefix."""
    return fold("".join(parts)).replace(" ", "")


def support_key(raw: str) -> str:
    """The canonical spelling of a support key: NFKC, upper case, no dashes or spaces.

    Customers copy keys from PDFs and mails, with full-width letters, long-vowel marks
    for hyphens and stray spaces; all of those spellings mean the same key.
    """
    return _DASHES.sub("", unicodedata.normalize("NFKC", raw)).upper()
