"""Two sessions racing for one name or one key: the database decides, exactly one wins.

Each racer has its own engine (its own connection). On PostgreSQL both are held at a
barrier just before the decisive statement, so both have passed every read-only check
before either writes: the unique constraint on ``name_key`` or the contract row lock and
the conditional claim of the key must then pick the winner. SQLite serialises writers
(``BEGIN IMMEDIATE``), so there the racers simply run under ``asyncio.gather`` (a barrier
would wait for a connection that is queued behind the lock).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.util import await_only

from core import support_ids
from core.config import Settings
from core.errors import DomainError
from core.messages import render
from core.models import SupportId, SupportKey
from core.storage import create_engine, session_factory
from core.unit_of_work import Core, UnitOfWork

from .conftest import World, outbox_rows


@pytest.fixture
async def racers(domain: Core, settings: Settings) -> AsyncIterator[tuple[Core, Core]]:
    engines = [create_engine(settings.database_url), create_engine(settings.database_url)]
    try:
        yield (
            Core(session_factory(engines[0]), settings, domain.clock),
            Core(session_factory(engines[1]), settings, domain.clock),
        )
    finally:
        for engine in engines:
            await engine.dispose()


def _hold_at(cores: tuple[Core, Core], is_decisive: Callable[[str], bool]) -> Callable[[], None]:
    """Make both racers meet before their decisive statement; returns the undo."""
    barrier = asyncio.Barrier(2)
    listeners = []
    for core in cores:
        engine = core.sessions.kw["bind"].sync_engine

        def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if is_decisive(statement):
                await_only(asyncio.wait_for(barrier.wait(), timeout=20))

        event.listen(engine, "before_cursor_execute", before)
        listeners.append((engine, before))

    def undo() -> None:
        for engine, fn in listeners:
            event.remove(engine, "before_cursor_execute", fn)

    return undo


async def _race(
    cores: tuple[Core, Core],
    calls: tuple[Callable[[UnitOfWork], Awaitable[Any]], Callable[[UnitOfWork], Awaitable[Any]]],
    is_decisive: Callable[[str], bool],
) -> list[Any]:
    async def run(core: Core, call: Callable[[UnitOfWork], Awaitable[Any]]) -> Any:
        async with core.uow() as uow:
            try:
                return await call(uow)
            except DomainError as error:
                return error

    undo = None
    if cores[0].sessions.kw["bind"].dialect.name == "postgresql":
        undo = _hold_at(cores, is_decisive)
    try:
        return list(await asyncio.gather(run(cores[0], calls[0]), run(cores[1], calls[1])))
    finally:
        if undo:
            undo()


def _inserts_support_id(statement: str) -> bool:
    return statement.lstrip().upper().startswith("INSERT INTO SUPPORT_IDS")


def _locks_contract(statement: str) -> bool:
    return "FROM contracts" in statement and "FOR UPDATE" in statement


async def test_two_sessions_issuing_the_same_name_at_once_end_with_one_winner(
    domain: Core, world: World, racers: tuple[Core, Core]
) -> None:
    results = await _race(
        racers,
        (
            lambda uow: support_ids.issue(uow, world.a, world.keys["k1a"], "RACE"),
            lambda uow: support_ids.issue(uow, world.c, world.keys["kqa"], "race"),
        ),
        _inserts_support_id,
    )
    errors = [r for r in results if isinstance(r, DomainError)]
    winners = [r for r in results if isinstance(r, support_ids.SupportIdDetail)]
    assert len(winners) == 1 and len(errors) == 1
    assert render(errors[0].message_id, "ja") == "このサポートIDは既に既存のサポートIDに使用されています。"
    async with domain.uow() as uow:
        assert len((await uow.session.scalars(select(SupportId))).all()) == 1
        claimed = (
            await uow.session.scalars(select(SupportKey).where(SupportKey.support_id_id.is_not(None)))
        ).all()
    # The loser's key was not kept: it is still free.
    assert [k.last4 for k in claimed] == [winners[0].keys[0].last4]


async def test_two_sessions_adding_the_same_key_at_once_end_with_one_winner(
    domain: Core, world: World, racers: tuple[Core, Core]
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k2a"], "ALICE")
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.c, world.keys["kqa"], "CAROL")
    results = await _race(
        racers,
        (
            lambda uow: support_ids.add_key(uow, world.a, "ALICE", world.keys["k1a"]),
            lambda uow: support_ids.add_key(uow, world.c, "CAROL", world.keys["k1a"]),
        ),
        _locks_contract,
    )
    errors = [r for r in results if isinstance(r, DomainError)]
    winners = [r for r in results if isinstance(r, support_ids.KeyView)]
    assert len(winners) == 1 and len(errors) == 1
    assert render(errors[0].message_id, "ja") in (
        "無効なサポートキーです。",
        "同一契約番号(電話/メール問い合わせ用)のサポートキーが、他のサポートIDに追加されています。",
    )
    async with domain.uow() as uow:
        holders = (
            await uow.session.scalars(select(SupportKey.support_id_id).where(SupportKey.last4 == "9KPL"))
        ).all()
    assert len(holders) == 1 and holders[0] is not None


async def test_two_sessions_adding_keys_of_one_contract_to_two_support_ids_end_with_one_winner(
    domain: Core, world: World, racers: tuple[Core, Core]
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k2a"], "ALICE")
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.c, world.keys["kqa"], "CAROL")
    results = await _race(
        racers,
        (
            lambda uow: support_ids.add_key(uow, world.a, "ALICE", world.keys["k1a"]),
            lambda uow: support_ids.add_key(uow, world.c, "CAROL", world.keys["k1b"]),
        ),
        _locks_contract,
    )
    errors = [r for r in results if isinstance(r, DomainError)]
    assert len(errors) == 1 and len(results) == 2
    assert render(errors[0].message_id, "ja") == (
        "同一契約番号(電話/メール問い合わせ用)のサポートキーが、他のサポートIDに追加されています。"
    )
    async with domain.uow() as uow:
        holders = set(
            (
                await uow.session.scalars(
                    select(SupportKey.support_id_id).where(
                        SupportKey.contract_id == world.contracts["k1"].id,
                        SupportKey.support_id_id.is_not(None),
                    )
                )
            ).all()
        )
    assert len(holders) == 1


async def test_two_contacts_removing_each_other_at_once_leave_one_contact(
    domain: Core, world: World, racers: tuple[Core, Core]
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "PAIR")
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "PAIR", "bob@customer-a.example.jp")
    results = await _race(
        racers,
        (
            lambda uow: support_ids.remove_contact(uow, world.a, "PAIR", "bob@customer-a.example.jp"),
            lambda uow: support_ids.remove_contact(uow, world.b, "PAIR", "alice@customer-a.example.jp"),
        ),
        lambda s: "FROM support_ids" in s and "FOR UPDATE" in s,
    )
    errors = [r for r in results if isinstance(r, DomainError)]
    assert len(errors) == 1
    assert errors[0].message_id in ("support_id.last_contact", "support_id.not_found")
    async with domain.uow() as uow:
        from core.models import SupportIdContact

        assert len((await uow.session.scalars(select(SupportIdContact))).all()) == 1


def _locks_support_id(statement: str) -> bool:
    return "FROM support_ids" in statement and "FOR UPDATE" in statement


async def test_two_contacts_agreeing_to_the_terms_at_once_make_one_agreement(
    domain: Core, world: World, racers: tuple[Core, Core]
) -> None:
    from core import terms
    from core.models import TermsAgreement

    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["kta"], "TERMS")
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "TERMS", "bob@customer-a.example.jp")
    results = await _race(
        racers,
        (
            lambda uow: terms.agree(uow, world.a, "TERMS", entitled=True),
            lambda uow: terms.agree(uow, world.b, "TERMS", entitled=True),
        ),
        _locks_support_id,
    )
    assert sorted(r.already for r in results) == [False, True]
    assert results[0].account_id == results[1].account_id
    async with domain.uow() as uow:
        assert len((await uow.session.scalars(select(TermsAgreement))).all()) == 1


async def test_two_sessions_removing_the_same_key_at_once_free_it_once(
    domain: Core, world: World, racers: tuple[Core, Core]
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "KEYS")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "KEYS", world.keys["k1b"])
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "KEYS", "bob@customer-a.example.jp")
    results = await _race(
        racers,
        (
            lambda uow: support_ids.remove_key(uow, world.a, "KEYS", world.keys["k1b"]),
            lambda uow: support_ids.remove_key(uow, world.b, "KEYS", "1111"),
        ),
        _locks_support_id,
    )
    errors = [r for r in results if isinstance(r, DomainError)]
    assert len(errors) == 1 and errors[0].message_id == "support_id.key_not_here"
    assert len(await outbox_rows(domain, "key_removed")) == 2
