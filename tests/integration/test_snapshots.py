"""Read-only snapshots (core/snapshots.py): the same answers, with the same types, as the
unit of work gives; reads beside a writer without waiting; nothing written."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, datetime

import pytest
from sqlalchemy import Numeric, bindparam, cast, func, insert, select
from sqlalchemy.exc import IntegrityError

from core import audit
from core.actors import Actor
from core.models import Account, AuditRecord, Company, Contract
from core.snapshots import Query, snapshot
from core.unit_of_work import Core
from tests import factories

CONTRACTS = Query(
    select(Contract.number, Contract.starts_on, Contract.ends_on, Contract.requires_terms, Account.created_at)
    .join(Account, Account.company_id == Contract.company_id)
    .where(Account.email == bindparam("email"), Contract.ends_on >= bindparam("on"))
    .order_by(Contract.number)
)
TRAIL = Query(
    select(AuditRecord.action, AuditRecord.details, AuditRecord.at).where(
        AuditRecord.account_id == bindparam("id")
    )
)


async def _world(core: Core) -> int:
    async with core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        await factories.contract(uow, company, number="K-1", ends_on=date(2027, 3, 31), requires_terms=True)
        await factories.contract(uow, company, number="K-2", ends_on=date(2025, 3, 31))
        await factories.contract(uow, company, number="K-3", ends_on=date(2028, 3, 31))
        account = await factories.account(uow, company, "taro@customer-a.example.jp")
        audit.record(
            uow, Actor(kind="system", ref="cli", door="cli"), "x.y", account_id=account.id, n=1, s="日本"
        )
        await uow.commit()
        return account.id


async def test_a_snapshot_answers_like_the_unit_of_work_with_the_same_types(domain: Core) -> None:
    account_id = await _world(domain)
    params = {"email": "taro@customer-a.example.jp", "on": date(2026, 11, 26)}
    async with domain.uow() as uow:
        in_uow = await uow.rows(CONTRACTS, **params)
        trail_in_uow = await uow.rows(TRAIL, id=account_id)
    async with snapshot(domain) as snap:
        fast = await snap.rows(CONTRACTS, **params)
        trail = await snap.rows(TRAIL, id=account_id)
        nothing = await snap.first(TRAIL, id=account_id + 1)
    assert fast == in_uow
    assert [r[0] for r in fast] == ["K-1", "K-3"]
    _number, starts_on, ends_on, requires_terms, created_at = fast[0]
    assert (type(starts_on), type(ends_on), requires_terms, type(created_at)) == (date, date, True, datetime)
    assert trail == trail_in_uow and trail[0][:2] == ("x.y", {"n": 1, "s": "日本"})
    assert nothing is None


async def test_a_snapshot_sees_what_was_committed_before_it_began(domain: Core) -> None:
    account_id = await _world(domain)
    async with snapshot(domain) as snap:
        before = await snap.rows(TRAIL, id=account_id)
        async with domain.uow() as uow:
            audit.record(uow, Actor(kind="system", ref="cli", door="cli"), "later", account_id=account_id)
            await uow.commit()
        if domain.settings.database_url.startswith("sqlite"):
            # One consistent view for the whole snapshot (SQLite read transaction).
            assert await snap.rows(TRAIL, id=account_id) == before
    async with snapshot(domain) as snap:
        assert len(await snap.rows(TRAIL, id=account_id)) == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_snapshots_read_beside_a_writer_without_waiting_and_never_write(domain: Core) -> None:
    account_id = await _world(domain)
    writer = sqlite3.connect(domain.settings.database_url.split("///", 1)[1], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM audit_log")  # not committed
    try:
        async with snapshot(domain) as snap:
            found = await asyncio.wait_for(snap.rows(TRAIL, id=account_id), timeout=1)
            assert len(found) == 1
            raw = snap._raw
            assert raw is not None
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                raw.execute("DELETE FROM audit_log")
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_list_parameter_is_refused_when_compiled() -> None:
    from sqlalchemy.dialects import sqlite

    query = Query(select(Account.id).where(Account.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="list parameter"):
        query.compiled(sqlite.dialect())


CONTRACTS_IN = Query(
    select(Contract.number, Contract.ends_on, Contract.requires_terms)
    .where(
        Contract.number.in_(bindparam("numbers", expanding=True)),
        Contract.ends_on >= bindparam("on"),
        Contract.requires_terms.in_(bindparam("terms", expanding=True)),
        Contract.number != "K-9",  # a value written into the statement, beside the lists
    )
    .order_by(Contract.number)
)


@pytest.mark.parametrize(
    ("numbers", "terms", "expected"),
    [
        ([], [True, False], []),
        (["K-1"], [True], ["K-1"]),
        (["K-3", "K-2", "K-1", "K-9"], [False, True], ["K-1", "K-3"]),
        (["K-3", "K-1"], [], []),
        (["K-3", "K-1", "K-3"], [False], ["K-3"]),
    ],
)
async def test_list_parameters_answer_as_sqlalchemy_answers_for_every_length(
    domain: Core, numbers: list[str], terms: list[bool], expected: list[str]
) -> None:
    """A statement with ``IN`` lists runs outside SQLAlchemy's execution, shaped once per
    length of its lists (``Query.shaped``): empty lists, repeats, a constant beside them,
    in a unit of work and in a snapshot, with the types SQLAlchemy gives."""
    await _world(domain)
    params = {"numbers": numbers, "terms": terms, "on": date(2026, 11, 26)}
    assert CONTRACTS_IN.fenced(domain.dialect, params) is not None
    async with domain.uow() as uow:
        fenced = await uow.rows(CONTRACTS_IN, **params)
        by_sqlalchemy = [tuple(row) for row in await uow.session.execute(CONTRACTS_IN.statement, params)]
    async with snapshot(domain) as snap:
        in_snapshot = await snap.rows(CONTRACTS_IN, **params)
    assert fenced == by_sqlalchemy == in_snapshot
    assert [row[0] for row in fenced] == expected
    assert all(type(ends_on) is date and type(terms) is bool for _n, ends_on, terms in fenced)


NEW_COMPANY = Query(
    insert(Company)
    .values(code=bindparam("code"), name="新会社", name_norm="新会社")
    .returning(Company.id, Company.code)
)
AVERAGE = Query(
    select(cast(func.avg(Contract.id), Numeric(12, 2))).where(Contract.number != bindparam("number"))
)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_postgres_fenced_statements_answer_like_sqlalchemy_with_the_same_types(domain: Core) -> None:
    """The fence's asyncpg path (core/storage/postgres.py) against SQLAlchemy's own."""
    account_id = await _world(domain)
    params = {"email": "taro@customer-a.example.jp", "on": date(2026, 11, 26)}
    async with domain.uow() as uow:
        assert CONTRACTS.fenced(domain.dialect) is not None
        fenced = await uow.rows(CONTRACTS, **params)
        stock = [tuple(r) for r in await uow.session.execute(CONTRACTS.statement, params)]
        trail = await uow.rows(TRAIL, id=account_id)
        trail_stock = [tuple(r) for r in await uow.session.execute(TRAIL.statement, {"id": account_id})]
        # A numeric result's processor depends on the column type asyncpg reports:
        # SQLAlchemy's path runs it.
        assert AVERAGE.fenced(domain.dialect) is None
        average = await uow.rows(AVERAGE, number="none")
    assert fenced == stock and [type(v) for v in fenced[0]] == [type(v) for v in stock[0]]
    assert trail == trail_stock and trail[0][:2] == ("x.y", {"n": 1, "s": "日本"})
    assert len(average) == 1 and average[0][0] is not None
    async with snapshot(domain) as snap:
        assert await snap.rows(CONTRACTS, **params) == stock


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_postgres_fenced_writes_are_the_units_own_and_fail_as_sqlalchemy_fails(domain: Core) -> None:
    async with domain.uow() as uow:
        [(new_id, code)] = await uow.rows(NEW_COMPANY, code="NEW-1")
        assert code == "NEW-1" and isinstance(new_id, int)
        # Seen by SQLAlchemy's path in the same transaction; gone without a commit.
        assert await uow.session.scalar(select(func.count()).select_from(Company)) == 1
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Company)) == 0
        await uow.rows(NEW_COMPANY, code="NEW-1")
        await uow.commit()
    async with domain.uow() as uow:
        with pytest.raises(IntegrityError):
            await uow.rows(NEW_COMPANY, code="NEW-1")
        await uow.rollback()
        assert await uow.rows(NEW_COMPANY, code="NEW-2")
        await uow.commit()
    async with domain.uow() as uow:
        codes = await uow.session.scalars(select(Company.code).order_by(Company.code))
        assert list(codes) == ["NEW-1", "NEW-2"]
