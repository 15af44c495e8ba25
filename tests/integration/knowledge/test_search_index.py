"""The knowledge search is answered from its index on both databases (SPEC §4.9, §9),
and the index finds exactly what reading every article would.

20,000 generated articles (madoguchi/articlegen.py) are enough that a planner would
rather scan than use a useless index. Every statement the real service sends is
recorded and EXPLAINed; no plan may read the ``articles`` table whole. A deterministic
check of the plan, not a timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from core import importing
from core.actors import SYSTEM_CLI, Actor
from core.clock import FrozenClock
from core.config import Settings
from core.knowledge import grams, search
from core.models import SupportId, SupportIdContact, SupportKey
from core.snapshots import Query, Reader, snapshot
from core.storage import create_engine, session_factory
from core.unit_of_work import Core
from madoguchi import articlegen
from tests import factories
from tests.conftest import TEST_NOW
from tests.query_plans import plan_nodes

ARTICLES = 20_000
HOLDER = Actor(kind="account", ref="slack:T1:U1", door="slack", account_id=1)
QUERIES = ["帳票", "インストール", "帳票 印刷", "用紙 余白", "紙", "データベース 更新"]


@pytest.fixture(scope="module")
def loaded_url(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    source = articlegen.write(tmp_path_factory.mktemp("kb") / "articles.json", ARTICLES)
    asyncio.run(_load(db_url, source))
    try:
        yield db_url
    finally:
        asyncio.run(factories.empty_all_tables(db_url))


def _core(url: str, engine: AsyncEngine) -> Core:
    settings = Settings(
        DATABASE_URL=url, MADOGUCHI_SECRET_KEY="test-secret-key-not-for-production", _env_file=None
    )
    return Core(session_factory(engine), settings, FrozenClock(TEST_NOW))


async def _load(url: str, source: Path) -> None:
    engine = create_engine(url)
    core = _core(url, engine)
    try:
        async with core.uow() as uow:
            await importing.import_file(uow, SYSTEM_CLI, source)
        async with core.uow() as uow:
            company = await factories.company(uow, "顧客A株式会社")
            contract = await factories.contract(uow, company, number="K-LIVE")
            account = await factories.account(uow, company, "me@customer-a.example.jp")
            assert account.id == HOLDER.account_id
            await factories.key(uow, contract)
            sid = SupportId(name="SID_1", name_key="sid_1", created_at=uow.clock.now())
            uow.session.add(sid)
            await uow.session.flush()
            uow.session.add(
                SupportIdContact(support_id_id=sid.id, account_id=account.id, added_at=uow.clock.now())
            )
            await uow.session.execute(
                update(SupportKey).where(SupportKey.contract_id == contract.id).values(support_id_id=sid.id)
            )
            await uow.commit()
        async with engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


@pytest.fixture
async def loaded(loaded_url: str) -> AsyncIterator[Core]:
    engine = create_engine(loaded_url)
    try:
        yield _core(loaded_url, engine)
    finally:
        await engine.dispose()


@dataclass
class Recording:
    """A ``Reader`` that remembers every query it was asked, with its parameters."""

    source: Reader
    asked: list[tuple[Query, dict[str, Any]]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    async def rows(self, query: Query, **params: Any) -> list[Any]:
        self.asked.append((query, params))
        return await self.source.rows(query, **params)

    async def first(self, query: Query, **params: Any) -> Any:
        found = await self.rows(query, **params)
        return found[0] if found else None


async def _plans(core: Core, asked: list[tuple[Query, dict[str, Any]]]) -> list[str]:
    """Every plan line of every statement asked."""
    lines: list[str] = []
    async with core.engine.connect() as conn:
        for query, params in asked:
            if core.dialect.name == "sqlite":
                compiled = query.compiled(core.dialect)
                args = tuple(params[n] for n in compiled.names)
                rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.sql, args)
                lines += [str(row[-1]) for row in rows]
            else:
                statement = query.statement.compile(dialect=asyncpg.dialect())
                # With the statement's own literals (``_known``'s offsets, asked when this
                # test runs first: its answer is remembered per database for a minute).
                bound = statement.construct_params(params)
                args = tuple(bound[n] for n in statement.positiontup or ())
                plan = (
                    await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement.string, args)
                ).scalar()
                nodes = plan if isinstance(plan, list) else json.loads(plan)
                lines += [_describe(node) for node in plan_nodes(nodes[0]["Plan"])]
    return lines


def _describe(node: dict[str, Any]) -> str:
    return f"{node.get('Node Type')} {node.get('Relation Name', '')} {node.get('Index Name', '')}".strip()


def _scans_articles(line: str) -> bool:
    return (
        line.startswith("SCAN articles ") or line == "SCAN articles" or line.startswith("Seq Scan articles")
    )


@pytest.mark.parametrize("words", QUERIES)
async def test_a_search_reads_the_index_not_the_articles(loaded: Core, words: str) -> None:
    async with snapshot(loaded) as snap:
        recording = Recording(snap)
        hits = await search.search(recording, HOLDER, words)  # type: ignore[arg-type]
    assert hits
    plans = await _plans(loaded, recording.asked)
    assert not [line for line in plans if _scans_articles(line)], plans
    if loaded.dialect.name == "sqlite":
        # The title group reads the titles' own index (migration 0017); the other group,
        # a statement of its own asked only when the titles do not fill the page, reads
        # articles_fts. Each is walked in the index's order: no sort.
        searches = [(query, params) for query, params in recording.asked if "words" in params]
        first, *rest = [await _plans(loaded, [one]) for one in searches]
        assert any(line.startswith("SCAN articles_fts_title VIRTUAL TABLE") for line in first), first
        titles = sum(hit.in_title for hit in hits)
        assert len(rest) == (0 if titles == search.LIMIT else 1), (titles, rest)
        for other in rest:
            assert any(line.startswith("SCAN articles_fts VIRTUAL TABLE") for line in other), other
        # FTS5 hands the rows over in the order asked (ascending rowids, migration 0021).
        assert not [
            line for line in [*first, *(line for other in rest for line in other)] if "TEMP B-TREE" in line
        ]
    else:
        used = {line.split()[-1] for line in plans if "Index" in line}
        # The newest months' matches come from a GIN index (migration 0017's month
        # lexemes ANDed with the words), and the date index is never ANDed with a GIN
        # match (that read every date entry of the range: ~100,000 at 100,000 articles).
        assert used & {"ix_articles_search_doc", "ix_articles_title_doc"}, plans
        assert not [line for line in plans if line.startswith("BitmapAnd")], plans


async def test_the_newest_walk_the_date_index_newest_first(loaded: Core) -> None:
    """``/support kb`` alone reads ``ix_articles_updated_on`` backwards and stops at ten:
    no sort of every article."""
    async with snapshot(loaded) as snap:
        recording = Recording(snap)
        assert len(await search.newest(recording, HOLDER)) == 10  # type: ignore[arg-type]
    plans = await _plans(loaded, recording.asked)
    walks = [line for line in plans if "ix_articles_updated_on" in line]
    assert walks, plans
    assert not [line for line in plans if _scans_articles(line) and "ix_articles_updated_on" not in line]
    assert not [line for line in plans if "TEMP B-TREE FOR ORDER BY" in line or line.startswith("Sort")]


@pytest.mark.parametrize("words", ["帳票", "インストール 設定", "紙"])
async def test_the_index_finds_what_reading_every_article_would(loaded: Core, words: str) -> None:
    """Every visible article holding every word, in the SPEC's order: title matches
    first, newer first — computed here from the generator, without the database."""
    found = grams.words(words)
    async with snapshot(loaded) as snap:
        codes = [hit.code for hit in await search.search(snap, HOLDER, words, limit=ARTICLES)]
    expected: list[tuple[int, str, int]] = []
    for n in range(ARTICLES):
        article = articlegen.article(n)
        visible = not article["withdrawn"] and (
            article["visibility"] != "contract" or article["product_family"] in ("製品Aファミリ", None)
        )
        title, text = grams.runs(article["title"]), grams.runs(article["title"]) + grams.runs(article["body"])
        if visible and all(any(w in run for run in text) for w in found):
            in_title = all(any(w in run for run in title) for w in found)
            expected.append((0 if in_title else 1, article["updated_on"], n))
    expected.sort(key=lambda e: (e[0], _neg(e[1]), -e[2]))
    assert codes == [articlegen.code_for(n) for _, _, n in expected]


def _neg(day: str) -> int:
    return -int(day.replace("-", ""))


async def test_a_search_the_titles_cannot_fill_reads_the_other_index(loaded: Core) -> None:
    """SQLite asks the other group only when the titles leave the page short: among the
    queries above, those that reach it read articles_fts (at least one does)."""
    if loaded.dialect.name != "sqlite":
        pytest.skip("SQLite's search is two statements; PostgreSQL's is one (above)")
    reached = 0
    for words in QUERIES:
        async with snapshot(loaded) as snap:
            recording = Recording(snap)
            await search.search(recording, HOLDER, words)  # type: ignore[arg-type]
        searches = [(query, params) for query, params in recording.asked if "words" in params]
        for other in searches[1:]:
            plan = await _plans(loaded, [other])
            assert any(line.startswith("SCAN articles_fts VIRTUAL TABLE") for line in plan), (words, plan)
            reached += 1
    assert reached, "no query reached the other group: choose one whose titles do not fill the page"
