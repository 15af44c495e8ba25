"""Knowledge text without a database: folding and bigrams, the queries of both
databases, Markdown as plain text (mail) and as Slack mrkdwn within Block Kit's limits."""

from __future__ import annotations

import random
from datetime import date

from bot import blocks as bk
from bot.views.knowledge import article, chunks, mrkdwn
from core.knowledge import grams
from core.knowledge.search import ArticleView
from core.knowledge.text import _folded_with_positions, _spellings, plain_text, snippet


def test_text_is_folded_and_cut_into_bigrams_with_each_runs_last_character() -> None:
    assert grams.grams("帳票出力でエラー、Ａ") == "帳票 票出 出力 力デ デエ エラ ラー ー a"


def test_width_kana_and_case_variants_are_the_same_words() -> None:
    assert grams.words("ｲﾝｽﾄｰﾙ いんすとーる インストール") == ["インストール"]
    assert grams.words("ＥＲＲＯＲ　error、E-1001") == ["error", "e", "1001"]
    assert grams.words("、。！") == []


def test_a_query_keeps_at_most_eight_words() -> None:
    assert len(grams.words(" ".join(f"語{n}" for n in range(20)))) == grams.MAX_WORDS


def test_the_fts5_query_is_a_phrase_per_word_and_a_prefix_for_one_character() -> None:
    assert grams.fts5_query(["帳票出力", "紙"]) == '"帳票 票出 出力" AND "紙" *'
    assert grams.fts5_query(["帳票"], "title_grams") == 'title_grams : ("帳票")'


def test_the_postgres_query_is_every_bigram_once_and_like_decides_the_order() -> None:
    assert grams.tsquery_lexemes(["帳票出力", "出力", "紙"]) == "'帳票' & '票出' & '出力' & '紙':*"
    assert grams.like_pattern("帳票出力") == "%帳票 票出 出力%"
    indexed = grams.grams("出力帳票")  # 出力 力帳 帳票 票
    assert all(pair in indexed.split() for pair in ("帳票", "票出", "出力")) is False
    assert "帳票 票出 出力" not in indexed


def test_a_long_word_asks_postgres_for_its_two_rarest_bigrams_only() -> None:
    # セン (from ません) is in most articles; a bigram the statistics do not list is rarer
    # than any they do. Two-character words and words of two bigrams keep everything.
    frequency = {"セン": 0.56, "ライ": 0.09, "ンス": 0.06, "更新": 0.08, "帳票": 0.5}
    assert grams.tsquery_lexemes(["ライセンス", "更新"], frequency) == "'イセ' & 'ンス' & '更新'"
    assert grams.tsquery_lexemes(["帳票出", "帳票", "紙"], frequency) == "'帳票' & '票出' & '紙':*"
    assert grams.tsquery_lexemes(["ライセンス"]) == "'ライ' & 'イセ' & 'セン' & 'ンス'"
    assert grams.tsquery_lexemes(["ライセンス"], {}) == "'ライ' & 'イセ' & 'セン' & 'ンス'"


def test_markdown_becomes_plain_text_for_mail() -> None:
    text = plain_text(
        "## 現象\n**太字**と*斜体*、`code`。\n- 項目\n[手順書](https://example.com/m)\n```\n# そのまま\n```"
    )
    assert text == "現象\n太字と斜体、code。\n・項目\n手順書 (https://example.com/m)\n# そのまま"


def test_the_snippet_is_found_in_the_original_spelling() -> None:
    s = snippet("前置き。" * 30 + "ｲﾝｽﾄｰﾙに失敗します。", ["インストール"])
    assert s.match == "ｲﾝｽﾄｰﾙ" and s.cut_before and s.after.startswith("に失敗")


def _snippet_by_folding(text: str, found: list[str], width: int) -> tuple[str, str, str, bool, bool]:
    """The snippet as it was computed before its patterns: the whole text folded."""
    flat = " ".join(text.split())
    folded, origin = _folded_with_positions(flat)
    for word in sorted(found, key=len, reverse=True):
        at = folded.find(word)
        if at >= 0:
            start, end = (
                (at, at + len(word)) if origin is None else (origin[at], origin[at + len(word) - 1] + 1)
            )
            left = max(0, start - width // 3)
            right = min(len(flat), max(end, left + width))
            return flat[left:start], flat[start:end], flat[end:right], left > 0, right < len(flat)
    return "", "", flat[:width], False, len(flat) > width


def test_the_snippet_finds_what_folding_the_whole_text_finds() -> None:
    # Width, kana and case variants; characters folding to several (㍿, …, ß) or to none
    # alone (ﾟ); beyond the plane (𝐀); separators; long texts (many places to look at).
    alphabet = "あいうえおインストールｲﾝｽﾄｰﾙいんすとーる帳票印刷ＡＢａｂABab12１２㍿ﾊﾟパぱ…ßSS𝐀𝐚ΣσςİIi 、。!_-"
    rnd = random.Random(13)
    for _ in range(10_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, rnd.choice((40, 300)))))
        found = grams.words("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 6))))
        if not found:
            continue
        s = snippet(text, found, 12)
        assert (s.before, s.match, s.after, s.cut_before, s.cut_after) == _snippet_by_folding(text, found, 12)


def test_a_characters_spellings_are_those_that_fold_to_it() -> None:
    assert set(_spellings("イ")) == {"イ", "い", "ｲ", "㋑"}
    assert {"a", "A", "ａ", "Ａ"} <= set(_spellings("a"))


def test_markdown_becomes_mrkdwn_and_nothing_of_the_text_is_markup() -> None:
    out = mrkdwn(
        "# 見出し\n**太字** *斜体* ~~消し~~\n- 項目\n<!channel> [x](https://example.com) [y](javascript:alert(1))"
    )
    assert out.split("\n") == [
        "*見出し*",
        "*太字* _斜体_ ~消し~",
        "• 項目",
        "&lt;!channel&gt; <https://example.com|x> [y](javascript:alert(1))",
    ]


def test_a_long_body_is_cut_into_sections_within_slacks_limits() -> None:
    body = "```\n" + "\n".join("行" * 100 for _ in range(2000)) + "\n```"
    pieces = chunks(mrkdwn(body))
    assert all(len(p) <= bk.SECTION_LIMIT for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces)
    view = ArticleView("KB-1", "題", body, None, "public", date(2025, 4, 1), [])
    blocks = article(view, "ja")
    assert len(blocks) <= bk.BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= bk.SECTION_LIMIT for b in blocks if b["type"] == "section")
    assert "KB-1" in blocks[-1]["text"]["text"]  # says it was cut, and where to ask
