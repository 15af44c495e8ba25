"""Text as the knowledge search sees it: folded, cut into character bigrams.

Why bigrams: Japanese has no spaces, and its words are short — 帳票, 印刷, 帳簿 are two
characters, which a trigram index (what the company search uses) cannot look up at all.
Every run of letters and digits of the folded text becomes its overlapping bigrams plus
its last character alone (``帳票出力`` → ``帳票 票出 出力 力``), so

* a word of two or more characters is the *phrase* of its bigrams: consecutive tokens,
  which is exactly "contains this substring" (and the trailing single character keeps a
  phrase from running on into the next run of text);
* a word of one character is a *prefix* search for tokens starting with it: every
  character of the text starts one token.

Folding is ``core.normalize.fold``'s: NFKC (full/half width), case-folded, hiragana as
katakana — so ｲﾝｽﾄｰﾙ, いんすとーる and インストール are the same tokens.

The same tokens feed both databases (FTS5 with the ``ascii`` tokenizer, which splits on
the spaces between them; PostgreSQL's tsvectors, which are the tokens as they are,
migration 0019), and the queries for both are written here, so the two indexes answer
alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.normalize import fold

# Runs of letters and digits (any script); punctuation, symbols and "_" separate them.
_RUN = re.compile(r"[^\W_]+")
# A search uses at most this many words; more only slow it down without narrowing.
MAX_WORDS = 8
# PostgreSQL: the bigrams of a long word the GIN index is asked for (``tsquery_lexemes``).
KEPT_BIGRAMS = 2


def runs(text: str) -> list[str]:
    """The folded runs of letters and digits of ``text``."""
    return _RUN.findall(fold(text))


def grams(text: str) -> str:
    """The indexed form of ``text``: its tokens, separated by spaces."""
    tokens: list[str] = []
    for run in runs(text):
        # Bigrams by pairing the run with itself shifted by one (C speed: the import
        # cuts 100,000 articles into ~15 million tokens).
        tokens.extend(map(str.__add__, run, run[1:]))
        tokens.append(run[-1])
    return " ".join(tokens)


def words(query: str) -> list[str]:
    """The search words of a query: its folded runs, each once, in order (at most
    ``MAX_WORDS``). ``"帳票、印刷"`` is two words like ``"帳票 印刷"``."""
    seen: list[str] = []
    for run in runs(query):
        if run not in seen:
            seen.append(run)
    return seen[:MAX_WORDS]


def _pairs(word: str) -> list[str]:
    return [word[i : i + 2] for i in range(len(word) - 1)]


def fts5_query(found: list[str], column: str | None = None) -> str:
    """The FTS5 MATCH expression: every word (AND), a word being the phrase of its
    bigrams or, for one character, a prefix; ``column`` limits it to one column."""
    parts = [f'"{word}" *' if len(word) == 1 else '"' + " ".join(_pairs(word)) + '"' for word in found]
    expression = " AND ".join(parts)
    return f"{column} : ({expression})" if column else expression


def tsquery_lexemes(found: list[str], frequency: Mapping[str, float] | None = None) -> str:
    """The PostgreSQL ``tsquery`` text that narrows a search: every bigram of every word
    (AND; a one-character word: a prefix). GIN answers such a query exactly; that a long
    word is there is ``like_pattern``'s to decide.

    With ``frequency`` (a bigram's share of articles, as the planner's statistics know
    it; missing = rarer than any listed; none or empty: no statistics), a word of three or more characters keeps only
    its ``KEPT_BIGRAMS`` rarest bigrams: its ``LIKE`` decides the word anyway, and GIN
    pays for every key it ANDs — ``セン`` (from ません, in 56 % of articles) made the GIN
    scan of ライセンス 更新 three times as long as ``'イセ' & '更新'``. The same articles
    are found either way; only how much GIN reads differs."""
    parts: list[str] = []
    for word in found:
        if len(word) == 1:
            chosen = [f"'{word}':*"]
        else:
            pairs = list(dict.fromkeys(_pairs(word)))
            if frequency and len(pairs) > KEPT_BIGRAMS:
                rarest = sorted(pairs, key=lambda pair: frequency.get(pair, 0.0))[:KEPT_BIGRAMS]
                pairs = [pair for pair in pairs if pair in rarest]
            chosen = [f"'{pair}'" for pair in pairs]
        for part in chosen:
            if part not in parts:
                parts.append(part)
    return " & ".join(parts)


def like_pattern(word: str) -> str:
    """``LIKE`` pattern of a word on a bigram string: its bigrams, consecutive. Tokens are
    at most two characters and separated by spaces, so the pattern can only match whole
    consecutive tokens (a run's closing single character stops it at the run's end).
    Words hold letters and digits only: nothing to escape."""
    return "%" + (word if len(word) == 1 else " ".join(_pairs(word))) + "%"
