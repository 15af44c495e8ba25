"""What the support-ID services answer: plain frozen values the doors render, never ORM
objects, and how people and keys are named in them.

Separate because every service returns these and every door renders them; they carry
no rule of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core import support_keys
from core.messages import render
from core.models import Account, Contract, SupportKey
from core.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class SupportIdSummary:
    """One line of a user's list; a support ID may span several contracts."""

    name: str
    description: str
    product_families: tuple[str, ...]
    end_users: tuple[str, ...]
    maintenance_ends_on: date | None


@dataclass(frozen=True)
class KeyView:
    masked: str
    last4: str
    contract_number: str
    product_family: str
    end_user: str
    ends_on: date
    usable: bool


@dataclass(frozen=True)
class ContactView:
    account_id: int
    email: str
    display_name: str


@dataclass(frozen=True)
class SupportIdDetail:
    name: str
    description: str
    migrated: bool
    created_at: datetime
    keys: tuple[KeyView, ...]
    contacts: tuple[ContactView, ...]
    pending_contacts: tuple[str, ...]
    cc: tuple[str, ...]
    maintenance_ends_on: date | None
    terms_required: bool
    terms_agreed_at: datetime | None


def display_name(account: Account) -> str:
    """A person as the answers and mails name them: family name first."""
    return f"{account.last_name} {account.first_name}".strip()


def actor_name(account: Account | None, locale: str) -> str:
    """Who made a change, in a mail: the person, or staff by their role (they have no account)."""
    return display_name(account) if account else render("support_id.staff_actor", locale)


async def key_view(uow: UnitOfWork, key: SupportKey, contract: Contract) -> KeyView:
    return KeyView(
        masked=support_keys.mask(key.last4),
        last4=key.last4,
        contract_number=contract.number,
        product_family=contract.product_family,
        end_user=contract.end_user,
        ends_on=contract.ends_on,
        usable=support_keys.usable_on(key, contract, support_keys.today(uow)),
    )
