"""Every lookup a person waits for is answered from an index (SPEC §9, issue 7).

The real service functions run against a database holding enough rows that a planner
would rather scan than use a useless index; every SELECT they send is captured and
EXPLAINed on the same connection type, and no plan may scan one of the big tables.
A deterministic check of the plan, not a timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from core import companies, importing, staff_desk, support_ids, support_keys
from core.actors import SYSTEM_CLI, Actor
from core.clock import FrozenClock
from core.config import Settings
from core.models import Account, Company, SupportId, SupportIdContact
from core.normalize import fold
from core.storage import create_engine, session_factory
from core.unit_of_work import Core, UnitOfWork
from madoguchi import datagen
from tests import factories
from tests.conftest import TEST_NOW
from tests.query_plans import captured, engine_of, full_scans

BIG_TABLES = {
    "companies",
    "contracts",
    "support_keys",
    "support_ids",
    "support_id_contacts",
    "accounts",
    "pending_contacts",
}
SHAPE = datagen.Shape(companies=20_000, contracts=10_000, keys_per_contract=2, support_ids=2_000)
STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")
# Family names of the loaded accounts: a name search matches a twentieth of them, as a
# real one would match few, so the plan shows whether the index is used.
FAMILIES = [
    ("山田", "ヤマダ"),
    ("鈴木", "スズキ"),
    ("佐藤", "サトウ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
]


@pytest.fixture(scope="module")
def loaded_url(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One load per database for the whole module (an import of 20,000 companies is not
    free); emptied at the end like the ``domain`` fixture does after each test."""
    source = tmp_path_factory.mktemp("indexes") / "vendor.json"
    datagen.write(source, SHAPE)
    asyncio.run(_load(db_url, source))
    try:
        yield db_url
    finally:
        asyncio.run(factories.empty_all_tables(db_url))


def _settings(url: str) -> Settings:
    return Settings(
        DATABASE_URL=url, MADOGUCHI_SECRET_KEY="test-secret-key-not-for-production", _env_file=None
    )


@pytest.fixture
async def loaded(loaded_url: str) -> AsyncIterator[Core]:
    engine = create_engine(loaded_url)
    try:
        yield Core(session_factory(engine), _settings(loaded_url), FrozenClock(TEST_NOW))
    finally:
        await engine.dispose()


async def _load(url: str, source: Path) -> None:
    engine = create_engine(url)
    domain = Core(session_factory(engine), _settings(url), FrozenClock(TEST_NOW))
    try:
        await _fill(domain, source)
    finally:
        await engine.dispose()


async def _fill(domain: Core, source: Path) -> None:
    async with domain.uow() as uow:
        await importing.import_file(uow, SYSTEM_CLI, source)
    async with domain.uow() as uow:
        company_id = await uow.session.scalar(select(Company.id).limit(1))
        now = uow.clock.now()
        await uow.session.execute(
            insert(Account),
            [
                {
                    "email": f"user{n}@customer{n % 997}.example.jp",
                    "company_id": company_id,
                    "last_name": FAMILIES[n % len(FAMILIES)][0],
                    "first_name": "太郎",
                    "last_name_kana": FAMILIES[n % len(FAMILIES)][1],
                    "first_name_kana": "タロウ",
                    # A bulk insert skips the model's validators: the keys are given.
                    "name_norm": FAMILIES[n % len(FAMILIES)][0] + "太郎",
                    "kana_norm": FAMILIES[n % len(FAMILIES)][1] + "タロウ",
                    "phone": "03-1234-5678",
                    "postal_code": "140-0002",
                    "prefecture": "東京都",
                    "city": "品川区",
                    "street": "東品川4-12-7",
                    "privacy_consented_at": now,
                    "status": "active",
                    "created_at": now,
                }
                for n in range(2_000)
            ],
        )
        accounts = dict((await uow.session.execute(select(Account.email, Account.id))).all())
        ids = dict((await uow.session.execute(select(SupportId.name, SupportId.id))).all())
        await uow.session.execute(
            insert(SupportIdContact),
            [
                {
                    "support_id_id": ids[datagen.support_id_name(n)],
                    "account_id": accounts[f"user{n // 4}@customer{(n // 4) % 997}.example.jp"],
                    "added_at": now,
                }
                for n in range(SHAPE.support_ids)
            ],
        )
        await uow.commit()
    engine = engine_of(domain)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")


async def _assert_indexed(core: Core, call: Callable[[UnitOfWork], Awaitable[Any]]) -> None:
    async def run() -> None:
        async with core.uow() as uow:
            await call(uow)

    assert await full_scans(core, await captured(core, run), BIG_TABLES) == []


async def test_the_key_check_uses_the_key_hash_index(loaded: Core) -> None:
    async def check(uow: UnitOfWork) -> None:
        await support_keys.check_usable(uow, datagen.key_for(12_345), "slack:T1:U1")

    await _assert_indexed(loaded, check)


@pytest.mark.parametrize(
    ("name", "area"),
    [
        (datagen.company_name(1_234).removeprefix("株式会社"), ""),
        ("サクラテック", ""),
        ("ソリューション", "東京都 品川区"),
        ("ｓａｋｕｒａ", ""),
    ],
)
async def test_the_company_search_uses_the_trigram_index(loaded: Core, name: str, area: str) -> None:
    async def search(uow: UnitOfWork) -> None:
        await companies.search(uow, name, area)

    await _assert_indexed(loaded, search)


async def test_the_company_search_still_finds_what_a_scan_would(loaded: Core) -> None:
    """The index narrows, the LIKE decides: the same answer as comparing every row."""
    wanted = datagen.company_name(1_234).removeprefix("株式会社")
    async with loaded.uow() as uow:
        found = [c.code for c in await companies.search(uow, wanted)]
        every = (await uow.session.execute(select(Company.code, Company.name_norm))).all()
    assert datagen.company_code(1_234) in found
    assert sorted(found) == sorted(code for code, norm in every if fold(wanted) in norm)


@pytest.mark.parametrize(
    "query",
    [
        datagen.key_for(777),
        datagen.contract_number(4_321),
        datagen.company_name(42).removeprefix("株式会社"),
        "user77@customer77.example.jp",
        "nobody@nowhere.example.jp",
        "山田",
        "やまだ たろう",
        "ﾔﾏﾀﾞ",
    ],
    ids=["key", "contract", "company", "email", "unknown-email", "name", "reading", "half-width-kana"],
)
async def test_staff_find_uses_an_index_for_every_kind_of_text(loaded: Core, query: str) -> None:
    async def find(uow: UnitOfWork) -> None:
        await staff_desk.find(uow, STAFF, query)

    await _assert_indexed(loaded, find)


async def test_staff_find_by_name_answers_from_the_index_with_people(loaded: Core) -> None:
    async with loaded.uow() as uow:
        found = await staff_desk.find(uow, STAFF, "やまだ")
    assert len(found.accounts) == staff_desk.FIND_LIMIT
    assert all(a.name == "山田 太郎" for a in found.accounts)
    assert any(a.support_ids for a in found.accounts)


async def test_a_users_support_id_list_uses_indexes_in_a_bounded_number_of_queries(loaded: Core) -> None:
    async with loaded.uow() as uow:
        account_id = await uow.session.scalar(
            select(Account.id).where(Account.email == "user7@customer7.example.jp")
        )
    actor = Actor(kind="account", ref="slack:T1:U7", door="slack", account_id=account_id)
    listed: list[Any] = []

    async def list_ids(uow: UnitOfWork) -> None:
        listed.extend(await support_ids.list_for_account(uow, actor))

    async def run() -> None:
        async with loaded.uow() as uow:
            await list_ids(uow)

    statements = await captured(loaded, run)
    assert len(listed) == 4
    assert len(statements) <= 4
    assert await full_scans(loaded, statements, BIG_TABLES) == []


async def test_the_search_index_follows_renames(loaded: Core) -> None:
    async with loaded.uow() as uow:
        company = await uow.session.scalar(select(Company).where(Company.code == datagen.company_code(5)))
        assert company is not None
        company.name = "株式会社ゼンゼンチガウ"
        company.name_norm = fold(company.name)
        await uow.commit()
    async with loaded.uow() as uow:
        assert [c.code for c in await companies.search(uow, "ゼンゼンチガウ")] == [datagen.company_code(5)]
        assert datagen.company_code(5) not in [
            c.code for c in await companies.search(uow, datagen.company_name(5).removeprefix("株式会社"))
        ]
        if uow.session.get_bind().dialect.name == "sqlite":
            assert (
                await uow.session.scalar(
                    text("SELECT count(*) FROM companies_fts WHERE companies_fts MATCH 'ゼンゼンチガウ'")
                )
                == 1
            )
