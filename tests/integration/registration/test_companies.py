"""Company search (SPEC §4.2 step 2) on both databases."""

from __future__ import annotations

from core import companies
from core.unit_of_work import Core
from tests import factories


async def seed(domain: Core) -> None:
    async with domain.uow() as uow:
        await factories.company(uow, "株式会社サンプル", address="東京都港区芝公園4-2-8")
        await factories.company(uow, "サンプル", address="大阪府大阪市北区梅田1-1")
        await factories.company(uow, "サンプル電機", address="北海道札幌市中央区北1条")
        await factories.company(uow, "ACME Japan", address="東京都品川区東品川4-12-7")
        await factories.company(uow, "100%_Solutions", address="東京都千代田区丸の内1-1")
        await uow.commit()


async def names(domain: Core, name: str, area: str = "", limit: int = 20) -> list[str]:
    async with domain.uow() as uow:
        return [c.name for c in await companies.search(uow, name, area, limit)]


async def test_a_partial_name_matches_and_the_exact_name_comes_first(domain: Core) -> None:
    await seed(domain)
    assert await names(domain, "サンプル") == ["サンプル", "サンプル電機", "株式会社サンプル"]


async def test_width_case_and_hiragana_do_not_matter(domain: Core) -> None:
    await seed(domain)
    assert await names(domain, "ａｃｍｅ　ｊａｐａｎ") == ["ACME Japan"]
    assert await names(domain, "acme") == ["ACME Japan"]
    assert await names(domain, "さんぷる電機") == ["サンプル電機"]
    assert await names(domain, "ｻﾝﾌﾟﾙ電機") == ["サンプル電機"]


async def test_the_area_narrows_by_head_office_prefecture_and_city(domain: Core) -> None:
    await seed(domain)
    assert await names(domain, "サンプル", "大阪府") == ["サンプル"]
    assert await names(domain, "サンプル", "東京都 港区") == ["株式会社サンプル"]
    assert await names(domain, "サンプル", "札幌市") == ["サンプル電機"]
    assert await names(domain, "サンプル", "福岡県") == []


async def test_an_empty_name_finds_nothing_and_like_wildcards_are_literal(domain: Core) -> None:
    await seed(domain)
    assert await names(domain, "  ") == []
    assert await names(domain, "%") == ["100%_Solutions"]
    assert await names(domain, "_") == ["100%_Solutions"]


async def test_results_are_capped_at_the_limit(domain: Core) -> None:
    await seed(domain)
    assert len(await names(domain, "サンプル", limit=2)) == 2
