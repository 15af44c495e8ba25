"""Finding everything about one person, table by table, from ``core.privacy.registry``.

``collect`` reads, for every table of ``Base.metadata``, the rows its rule says are
*about* the person and those that may *mention* them, before anything is changed: the
rules of some tables look at others (a request's messages are found through the
request's sender), so erasing while reading would lose rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, or_, select

from core.contact_details import normalize_email
from core.errors import NotFound
from core.models import Account, Base
from core.privacy.registry import RULES, Person, Rule
from core.privacy.scrub import values_of
from core.unit_of_work import UnitOfWork

UNKNOWN = "privacy.unknown"


@dataclass
class Found:
    """One table's rows: ``about`` the person, and others only ``mentioning`` them."""

    table: Table
    rule: Rule
    about: list[Mapping[str, Any]] = field(default_factory=list)
    mentioning: list[Mapping[str, Any]] = field(default_factory=list)


async def person_for(uow: UnitOfWork, email: str) -> tuple[Person, Account | None]:
    """The person an address names (with their account, if any). A malformed address is
    the same "nobody" as an unknown one: staff typed something that names no one."""
    address = normalize_email(email) or str(email or "").strip().lower()
    account = await uow.session.scalar(select(Account).where(Account.email == address))
    person = Person(
        email=address,
        account_id=account.id if account is not None else None,
        slack_user=(
            (account.slack_team_id, account.slack_user_id)
            if account is not None and account.slack_team_id and account.slack_user_id
            else None
        ),
        values=values_of(address, account),
    )
    return person, account


async def _rows(uow: UnitOfWork, table: Table, person: Person, conditions: tuple[Any, ...]) -> list[Any]:
    clauses = [
        c for c in (condition(table, person, Base.metadata) for condition in conditions) if c is not None
    ]
    if not clauses:
        return []
    pk = list(table.primary_key.columns)
    result = await uow.session.execute(select(table).where(or_(*clauses)).order_by(*pk))
    return [row._mapping for row in result]


async def collect(uow: UnitOfWork, person: Person) -> dict[str, Found]:
    """Every table's rows about (and mentioning) the person; raises ``NotFound`` when no
    table holds anything about them."""
    found: dict[str, Found] = {}
    for name, table in Base.metadata.tables.items():
        rule = RULES[name]  # tests/unit/test_personal_data_registry.py: every table has one
        about = await _rows(uow, table, person, rule.about)
        keys = {_key(table, row) for row in about}
        mentioning = [
            row for row in await _rows(uow, table, person, rule.mentions) if _key(table, row) not in keys
        ]
        found[name] = Found(table, rule, about, mentioning)
    if not any(f.about for f in found.values()):
        raise NotFound(UNKNOWN, email=person.email)
    return found


def _key(table: Table, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in table.primary_key.columns)


def key_of(table: Table, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return _key(table, row)
