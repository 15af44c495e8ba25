"""Who may read which article, as a condition of the query itself (SPEC §3, §4.9).

Separate because every query of the area repeats it (search, newest, show, suggest):
the visibility is a plain condition on bound parameters (``Audience.params``), so it is
decided inside the statement, before any ``LIMIT`` — a contract article never reaches
the door to be filtered there, and a search stops as soon as it has enough rows the
reader may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, literal_column, or_, select
from sqlalchemy.sql import ColumnElement

from core.actors import Actor
from core.clock import JST
from core.knowledge.tables import Article
from core.models import Account, Contract, SupportIdContact, SupportKey
from core.snapshots import Query, Reader

# The product families of the keys in the reader's support IDs whose contract is in
# force on :today (SPEC §3: contract articles are for them alone).
_FAMILIES = (
    select(Contract.product_family)
    .join(SupportKey, SupportKey.contract_id == Contract.id)
    .join(SupportIdContact, SupportIdContact.support_id_id == SupportKey.support_id_id)
    .where(
        SupportIdContact.account_id == bindparam("account_id", type_=Integer),
        SupportKey.revoked_at.is_(None),
        Contract.starts_on <= bindparam("today"),
        Contract.ends_on >= bindparam("today"),
    )
)


# Constants as SQL text: a ``Query`` binds named parameters only.
_PUBLIC: ColumnElement[str] = literal_column("'public'")
_CUSTOMERS: ColumnElement[str] = literal_column("'customers'")
_CONTRACT: ColumnElement[str] = literal_column("'contract'")
_ONE: ColumnElement[int] = literal_column("1")


def visible(families: Any = None) -> ColumnElement[bool]:
    """Not withdrawn, and public, or for customers when :customer, or a contract article
    of a family in force for :account_id (one not tied to a product: any in force).
    ``families``: those families as a CTE of the statement (``families_cte``), for a
    statement that repeats the condition — PostgreSQL then plans their join once."""
    if families is not None:
        in_force: ColumnElement[bool] = Article.product_family.in_(select(families.c.product_family))
        any_in_force: ColumnElement[bool] = exists(select(families.c.product_family))
    else:
        in_force = Article.product_family.in_(_FAMILIES.scalar_subquery())
        any_in_force = exists(_FAMILIES)
    return and_(
        Article.withdrawn.is_(False),
        or_(
            Article.visibility == _PUBLIC,
            and_(Article.visibility == _CUSTOMERS, bindparam("customer", type_=Integer) == _ONE),
            and_(
                Article.visibility == _CONTRACT,
                or_(in_force, and_(Article.product_family.is_(None), any_in_force)),
            ),
        ),
    )


def families_of_reader() -> Any:
    """The same families as a subquery, for "the newest for their products"."""
    return _FAMILIES.scalar_subquery()


def families_of_reader_select() -> Any:
    return _FAMILIES


def families_cte() -> Any:
    """The families as a CTE (``visible(families=…)``)."""
    return _FAMILIES.cte("families")


_STATUS = Query(select(Account.status).where(Account.id == bindparam("account_id")))


@dataclass(frozen=True)
class Audience:
    """Who reads, as the queries' parameters: ``customer`` = an active account."""

    account_id: int
    customer: bool
    today: date

    def params(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "customer": int(self.customer), "today": self.today}


async def audience(source: Reader, actor: Actor) -> Audience:
    """Anyone in the workspace reads public articles; an active account also those for
    customers, and the contract articles its support IDs' keys entitle it to. A pending
    or disabled account reads what an unregistered user reads."""
    today = source.clock.now().astimezone(JST).date()
    if actor.kind == "account" and actor.account_id is not None:
        found = await source.first(_STATUS, account_id=actor.account_id)
        if found is not None and found[0] == "active":
            return Audience(actor.account_id, True, today)
    return Audience(0, False, today)
