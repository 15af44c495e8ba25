"""Every inquiry lookup a person waits for is answered from an index (SPEC §9, issue 12).

The real service functions run against a database holding enough inquiries that a
planner would rather scan than use a useless index; every SELECT they send is captured
and EXPLAINed on the same connection, and no plan may read a big table whole. A
deterministic check of the plan, not a timing (compare tests/integration/test_indexes.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from core import inquiries
from core.actors import Actor
from core.clock import FrozenClock
from core.config import Settings
from core.inquiries.tables import Inquiry, InquiryMessage
from core.models import Account, Company, SupportId, SupportIdContact
from core.storage import create_engine, session_factory
from core.unit_of_work import Core
from tests import factories
from tests.conftest import TEST_NOW
from tests.query_plans import captured, full_scans

BIG_TABLES = {"inquiries", "inquiry_messages", "accounts", "support_ids", "support_id_contacts"}
PEOPLE = 2_000
INQUIRIES = 12_000
STATUSES = ("closed", "closed", "closed", "answered", "in_progress", "new")
STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")


def _settings(url: str) -> Settings:
    return Settings(
        DATABASE_URL=url, MADOGUCHI_SECRET_KEY="test-secret-key-not-for-production", _env_file=None
    )


@pytest.fixture(scope="module")
def loaded_url(db_url: str) -> Iterator[str]:
    asyncio.run(_load(db_url))
    try:
        yield db_url
    finally:
        asyncio.run(factories.empty_all_tables(db_url))


@pytest.fixture
async def loaded(loaded_url: str) -> AsyncIterator[Core]:
    engine = create_engine(loaded_url)
    try:
        yield Core(session_factory(engine), _settings(loaded_url), FrozenClock(TEST_NOW))
    finally:
        await engine.dispose()


async def _load(url: str) -> None:
    engine = create_engine(url)
    core = Core(session_factory(engine), _settings(url), FrozenClock(TEST_NOW))
    now = TEST_NOW
    try:
        async with core.uow() as uow:
            company = Company(code="C1", name="顧客A", name_norm="顧客a")
            uow.session.add(company)
            await uow.session.flush()
            await uow.session.execute(
                insert(Account),
                [
                    {
                        "id": n + 1,
                        "email": f"user{n}@customer.example.jp",
                        "company_id": company.id,
                        "last_name": "山田",
                        "first_name": "太郎",
                        "last_name_kana": "ヤマダ",
                        "first_name_kana": "タロウ",
                        "phone": "03-1234-5678",
                        "postal_code": "1400002",
                        "prefecture": "東京都",
                        "city": "品川区",
                        "street": "東品川4-12-7",
                        "privacy_consented_at": now,
                        "status": "active",
                        "created_at": now,
                    }
                    for n in range(PEOPLE)
                ],
            )
            await uow.session.execute(
                insert(SupportId),
                [
                    {"id": n + 1, "name": f"SID_{n:05d}", "name_key": f"sid_{n:05d}", "created_at": now}
                    for n in range(PEOPLE)
                ],
            )
            await uow.session.execute(
                insert(SupportIdContact),
                [{"support_id_id": n + 1, "account_id": n + 1, "added_at": now} for n in range(PEOPLE)],
            )
            await uow.session.execute(
                insert(Inquiry),
                [
                    {
                        "id": n + 1,
                        "support_id_id": n % PEOPLE + 1,
                        "product_family": "製品Aファミリ",
                        "subject": f"質問{n}",
                        "status": STATUSES[n % len(STATUSES)],
                        "asker_account_id": n % PEOPLE + 1,
                        "asker_email": f"user{n % PEOPLE}@customer.example.jp",
                        "locale": "ja",
                        "assignee": f"slack:T1:USTAFF{n % 20}",
                        "received_at": now - timedelta(minutes=n),
                        "due_on": date(2026, 11, 26) - timedelta(days=n % 400),
                        "updated_at": now - timedelta(minutes=n),
                        "autoclose_on": date(2026, 11, 26) + timedelta(days=n % 400 - 200)
                        if STATUSES[n % len(STATUSES)] == "answered"
                        else None,
                        "thread_id": f"<t{n}@support.example.com>",
                    }
                    for n in range(INQUIRIES)
                ],
            )
            await uow.session.execute(
                insert(InquiryMessage),
                [
                    {
                        "inquiry_id": n // 2 + 1,
                        "kind": "customer" if n % 2 == 0 else "answer",
                        "author": "x",
                        "via": "slack",
                        "body": "本文",
                        "message_id": f"<m{n}@customer.example.jp>",
                        "created_at": now,
                    }
                    for n in range(INQUIRIES * 2)
                ],
            )
            await uow.commit()
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                for table in (
                    "accounts",
                    "support_ids",
                    "support_id_contacts",
                    "inquiries",
                    "inquiry_messages",
                ):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    ) if table != "support_id_contacts" else None
            await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


def _customer(n: int) -> Actor:
    return Actor(kind="account", ref=f"slack:T1:U{n}", door="slack", account_id=n)


async def _assert_indexed(core: Core, call: Callable[[Any], Awaitable[Any]]) -> None:
    async def run() -> None:
        async with core.uow() as uow:
            await call(uow)

    assert await full_scans(core, await captured(core, run), BIG_TABLES) == []


@pytest.mark.parametrize(
    "use",
    ["open", "all", "support_id", "page_3"],
)
async def test_a_customers_list_uses_indexes(loaded: Core, use: str) -> None:
    found: list[Any] = []

    async def call(uow: Any) -> None:
        if use == "support_id":
            page = await inquiries.list_for_user(uow, _customer(7), "SID_00006")
        else:
            page = await inquiries.list_for_user(
                uow, _customer(7), include_closed=use != "open", page=3 if use == "page_3" else 1
            )
        found.extend(page.items)

    await _assert_indexed(loaded, call)
    assert found or use == "page_3"


async def test_show_uses_indexes(loaded: Core) -> None:
    async def call(uow: Any) -> None:
        detail = await inquiries.show(uow, _customer(7), 7)
        assert len(detail.messages) == 2

    await _assert_indexed(loaded, call)


@pytest.mark.parametrize("which", ["open", "overdue", "mine", "SID_00042"])
async def test_staff_lists_use_indexes(loaded: Core, which: str) -> None:
    async def call(uow: Any) -> None:
        page = await inquiries.list_for_staff(uow, STAFF, which)
        assert page.items

    await _assert_indexed(loaded, call)


async def test_a_mail_finds_its_thread_by_index(loaded: Core) -> None:
    async def call(uow: Any) -> None:
        assert await inquiries.threaded(uow, ["<m101@customer.example.jp>"]) == 51
        assert await inquiries.threaded(uow, ["<t5@support.example.com>"]) == 6

    await _assert_indexed(loaded, call)


async def test_opening_uses_indexes(loaded: Core) -> None:
    async def call(uow: Any) -> None:
        assert await inquiries.products_for(uow, _customer(7), "SID_00006") == ("その他",)

    await _assert_indexed(loaded, call)


async def test_the_ask_submission_reads_by_index(loaded: Core) -> None:
    """open_inquiry's reads: the asker and the support ID named, in one statement."""

    async def call(uow: Any) -> None:
        opened = await inquiries.open_inquiry(
            uow, _customer(7), support_id="SID_00006", product="その他", subject="件名", body="本文",
            commit=False,
        )  # fmt: skip
        assert opened.number

    await _assert_indexed(loaded, call)


async def test_auto_close_finds_its_inquiries_by_index(loaded: Core) -> None:
    async def run() -> None:
        async with loaded.uow() as uow:
            # The selecting statement of auto_close, without closing anything.
            await uow.session.execute(
                select(Inquiry.id, Inquiry.support_id_id)
                .where(Inquiry.status == "answered", Inquiry.autoclose_on <= date(2026, 11, 26))
                .order_by(Inquiry.autoclose_on, Inquiry.id)
                .limit(200)
            )

    assert await full_scans(loaded, await captured(loaded, run), BIG_TABLES) == []
