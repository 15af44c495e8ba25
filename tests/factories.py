"""Test data written straight to the tables, for tests of one area at a time.

Whole scenarios should go through the services (or the import); these helpers exist so
a support-ID test does not depend on the registration wizard to have an account.
"""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import text

from core import normalize, support_keys
from core.contact_details import ContactDetails
from core.models import Account, Base, Company, Contract, Request, RequestMessage, SupportKey
from core.storage import create_engine
from core.unit_of_work import UnitOfWork

_seq = itertools.count(1)


async def company(uow: UnitOfWork, name: str = "顧客A", **fields: str) -> Company:
    n = next(_seq)
    row = Company(
        code=fields.get("code", f"C{n:05d}"),
        name=name,
        name_norm=normalize.fold(name),
        postal_code=fields.get("postal_code", "140-0002"),
        prefecture=fields.get("prefecture", "東京都"),
        address=fields.get("address", "東京都品川区東品川4-12-7"),
        address_norm=normalize.fold(fields.get("address", "東京都品川区東品川4-12-7")),
        phone=fields.get("phone", "03-5780-2111"),
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


async def contract(
    uow: UnitOfWork,
    company_row: Company,
    *,
    number: str | None = None,
    starts_on: date = date(2024, 1, 1),
    ends_on: date = date(2027, 12, 31),
    requires_terms: bool = False,
    product_family: str = "製品Aファミリ",
) -> Contract:
    row = Contract(
        number=number or f"K-{next(_seq):05d}",
        company_id=company_row.id,
        product_family=product_family,
        end_user=company_row.name,
        starts_on=starts_on,
        ends_on=ends_on,
        requires_terms=requires_terms,
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


async def key(uow: UnitOfWork, contract_row: Contract, raw: str | None = None, **fields: object) -> str:
    """Adds a key to the contract and returns its raw (plaintext) form."""
    raw = raw or f"SK-{next(_seq):04d}-TEST-{contract_row.id:04d}"
    row = SupportKey(
        key_hash=support_keys.digest(uow.hasher, raw),
        last4=normalize.support_key(raw)[-4:],
        contract_id=contract_row.id,
        issued_via=str(fields.get("issued_via", "import")),
        usable_from=fields.get("usable_from"),  # type: ignore[arg-type]
        revoked_at=fields.get("revoked_at"),  # type: ignore[arg-type]
    )
    uow.session.add(row)
    await uow.session.flush()
    return raw


async def account(
    uow: UnitOfWork, company_row: Company, email: str | None = None, **fields: object
) -> Account:
    row = Account(
        email=(email or f"user{next(_seq)}@customer-a.example.jp").lower(),
        company_id=company_row.id,
        last_name="山田",
        first_name="太郎",
        last_name_kana="ヤマダ",
        first_name_kana="タロウ",
        phone="03-1234-5678",
        postal_code="1400002",
        prefecture="東京都",
        city="品川区",
        street="東品川4-12-7",
        privacy_consented_at=uow.clock.now(),
        status=str(fields.get("status", "active")),
        locale=str(fields.get("locale", "ja")),
        slack_team_id=fields.get("slack_team_id"),  # type: ignore[arg-type]
        slack_user_id=fields.get("slack_user_id"),  # type: ignore[arg-type]
        created_at=uow.clock.now(),
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


async def request(
    uow: UnitOfWork, number: int, sender: str, subject: str, body: str, category: str = "other"
) -> Request:
    """An open contact-window request with the customer's first mail (staff desk tests)."""
    now = uow.clock.now()
    row = Request(
        number=number,
        status="open",
        category=category,
        sender=sender,
        subject=subject,
        locale="ja",
        created_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    uow.session.add(
        RequestMessage(
            request_id=row.id,
            direction="in",
            message_id="<m1@customer-a.example.jp>",
            sender=sender,
            subject=subject,
            body=body,
            created_at=now,
        )
    )
    return row


def details(email: str = "taro.yamada@customer-a.example.jp", **changes: object) -> ContactDetails:
    """Registration details as the wizard hands them to ``accounts.create_account``."""
    fields: dict[str, object] = {
        "last_name": "山田",
        "first_name": "太郎",
        "last_name_kana": "ヤマダ",
        "first_name_kana": "タロウ",
        "email": email,
        "phone": "03-1234-5678",
        "postal_code": "140-0002",
        "prefecture": "東京都",
        "city": "品川区",
        "street": "東品川4-12-7",
        "privacy_consent": True,
        **changes,
    }
    return ContactDetails(**fields)  # type: ignore[arg-type]


async def empty_all_tables(url: str) -> None:
    """Every row gone, the schema kept: a clean database for the next test or bench run
    without migrating again (identities and AUTOINCREMENT counters restarted)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(Base.metadata.sorted_tables):
                    await conn.execute(table.delete())
                # AUTOINCREMENT counters (inquiry numbers) restart too, as on PostgreSQL.
                if await conn.scalar(
                    text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'")
                ):
                    await conn.execute(text("DELETE FROM sqlite_sequence"))
    finally:
        await engine.dispose()
