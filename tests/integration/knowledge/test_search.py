"""Knowledge search as a Japanese reader expects it (SPEC §4.9), on both databases:
folded text, two-character words, words AND-ed, title matches first, then newer; and
who may see what — in results and by code alike."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from core.errors import NotFound
from core.knowledge import search
from core.snapshots import snapshot
from core.unit_of_work import Core
from tests.integration.knowledge.conftest import Readers, load, vendor_file


async def codes(domain: Core, actor: object, words: str) -> list[str]:
    async with snapshot(domain) as snap:
        return [hit.code for hit in await search.search(snap, actor, words)]  # type: ignore[arg-type]


async def test_a_two_character_word_finds_the_article_holding_it(domain: Core, readers: Readers) -> None:
    assert "KB-A-0001" in await codes(domain, readers.holder, "帳票")


@pytest.mark.parametrize("spelling", ["ｲﾝｽﾄｰﾙ", "いんすとーる", "インストール", "ｲﾝｽﾄ"])
async def test_width_and_kana_variants_are_one_word(domain: Core, readers: Readers, spelling: str) -> None:
    assert await codes(domain, readers.stranger, spelling) == ["KB-0002"]


async def test_case_and_width_of_latin_letters_are_folded(domain: Core, readers: Readers) -> None:
    assert await codes(domain, readers.holder, "ｅ－１００１") == ["KB-A-0001"]
    assert await codes(domain, readers.holder, "e-1001") == ["KB-A-0001"]


async def test_several_words_must_all_be_there(domain: Core, readers: Readers) -> None:
    assert sorted(await codes(domain, readers.holder, "帳票")) == ["KB-0004", "KB-A-0001"]
    assert await codes(domain, readers.holder, "帳票 エラー") == ["KB-A-0001"]
    assert await codes(domain, readers.holder, "帳票　用紙") == ["KB-0004"]
    assert await codes(domain, readers.holder, "帳票 ライセンス") == []


async def test_a_title_match_ranks_above_a_newer_body_match(domain: Core, readers: Readers) -> None:
    # 印刷: title of KB-0004 (2025-06-01) and body of KB-A-0001 (2025-04-01);
    # 帳票: title of KB-A-0001 (older) above the body of the newer KB-0004.
    assert await codes(domain, readers.holder, "印刷") == ["KB-0004", "KB-A-0001"]
    assert await codes(domain, readers.holder, "帳票") == ["KB-A-0001", "KB-0004"]


async def test_newer_first_among_body_matches(domain: Core, readers: Readers) -> None:
    # インストール: title of KB-0002, body of KB-0003 (customers).
    assert await codes(domain, readers.holder, "インストール") == ["KB-0002", "KB-0003"]


async def test_a_single_character_finds_words_that_hold_it(domain: Core, readers: Readers) -> None:
    assert "KB-A-0001" in await codes(domain, readers.holder, "票")
    assert "KB-0004" in await codes(domain, readers.holder, "紙")  # last character of 用紙


async def test_no_word_finds_nothing(domain: Core, readers: Readers) -> None:
    assert await codes(domain, readers.holder, "、。！") == []


async def test_a_substring_that_spans_no_word_boundary_is_not_found(domain: Core, readers: Readers) -> None:
    # "出力で" is in the title; "力エ" never occurs (デ separates them).
    assert await codes(domain, readers.holder, "出力で") == ["KB-A-0001"]
    assert await codes(domain, readers.holder, "力エ") == []


async def test_the_snippet_is_around_the_match(domain: Core, readers: Readers) -> None:
    async with snapshot(domain) as snap:
        hits = await search.search(snap, readers.holder, "ｅ-1001")
    assert hits[0].snippet.match == "1001"
    assert hits[0].snippet.before.endswith("`E-") or hits[0].snippet.before.endswith("E-")
    assert "**" not in hits[0].snippet.before + hits[0].snippet.after


# -- visibility -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "visible"),
    [
        ("holder", {"KB-A-0001", "KB-0002", "KB-0003", "KB-0004"}),
        ("ended", {"KB-0002", "KB-0003", "KB-0004"}),
        ("no_key", {"KB-0002", "KB-0003", "KB-0004"}),
        ("pending", {"KB-0002", "KB-0004"}),
        ("stranger", {"KB-0002", "KB-0004"}),
    ],
)
async def test_each_reader_sees_only_what_its_visibility_allows(
    domain: Core, readers: Readers, reader: str, visible: set[str]
) -> None:
    actor = getattr(readers, reader)
    found: set[str] = set()
    for words in ("帳票", "インストール", "ライセンス", "印刷", "設定"):
        found.update(await codes(domain, actor, words))
    async with snapshot(domain) as snap:
        newest = {hit.code for hit in await search.newest(snap, actor)}
        shown = set()
        for code in ("KB-A-0001", "KB-0002", "KB-0003", "KB-0004"):
            with contextlib.suppress(NotFound):
                shown.add((await search.show(snap, actor, code)).code)
    assert found == visible
    assert newest == (visible - {"KB-0004"} if reader == "holder" else visible)
    assert shown == visible


async def test_a_contract_article_by_code_answers_like_an_unknown_code(
    domain: Core, readers: Readers
) -> None:
    async with snapshot(domain) as snap:
        with pytest.raises(NotFound) as hidden:
            await search.show(snap, readers.no_key, "KB-A-0001")
        with pytest.raises(NotFound) as unknown:
            await search.show(snap, readers.no_key, "KB-Z-9999")
    assert hidden.value.message_id == unknown.value.message_id
    assert set(hidden.value.params) == set(unknown.value.params)


async def test_codes_are_found_whatever_their_case(domain: Core, readers: Readers) -> None:
    async with snapshot(domain) as snap:
        assert (await search.show(snap, readers.holder, "kb-a-0001")).title == "帳票出力でエラーになる"


async def test_the_newest_for_a_holder_are_of_their_products_first(domain: Core, readers: Readers) -> None:
    async with snapshot(domain) as snap:
        newest = [hit.code for hit in await search.newest(snap, readers.holder)]
    # 製品Bファミリ's KB-0004 is not theirs; the rest newest first.
    assert newest == ["KB-0003", "KB-A-0001", "KB-0002"]


async def test_suggestions_are_the_best_three_the_reader_may_see(
    domain: Core, readers: Readers, tmp_path: Path
) -> None:
    await load(
        domain,
        vendor_file(
            tmp_path,
            [
                {
                    "code": f"KB-S-{n}",
                    "title": f"印刷できない {n}",
                    "body": "本文",
                    "visibility": "public",
                    "updated_on": f"2025-01-{n + 1:02d}",
                }
                for n in range(5)
            ],
            "more.json",
        ),
    )
    async with snapshot(domain) as snap:
        found = await search.suggest(snap, readers.stranger, "印刷ができません")
        assert found == []  # "印刷ができません" is one word, in no article
        found = await search.suggest(snap, readers.stranger, "印刷 できない")
    assert [hit.code for hit in found] == ["KB-S-4", "KB-S-3", "KB-S-2"]
