"""Fixtures of the registration conversation: a customer's company with a usable key,
a few other companies to search, and the Slack actor who registers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.actors import Actor
from core.unit_of_work import Core
from tests import factories

ACTOR = Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1"))

DETAILS: dict[str, Any] = {
    "last_name": "山田",
    "first_name": "太郎",
    "last_name_kana": "やまだ",
    "first_name_kana": "ﾀﾛｳ",
    "department": "情報システム部",
    "title": "",
    "email": "Taro.Yamada@customer-a.example.jp",
    "phone": "０３－１２３４－５６７８",
    "postal_code": "1400002",
    "prefecture": "",
    "city": "",
    "street": "東品川4-12-7 Aビル",
    "marketing_opt_in": False,
    "privacy_consent": True,
}


@dataclass(frozen=True)
class Seeded:
    key: str
    company_id: int
    other_ids: dict[str, int]


@pytest.fixture
async def seeded(domain: Core) -> Seeded:
    async with domain.uow() as uow:
        a = await factories.company(uow, "顧客A株式会社")
        key = await factories.key(uow, await factories.contract(uow, a), "SK-7Q2M-4TXA-9KPL")
        others = {
            "ＡＢＣ商事": await factories.company(
                uow,
                "ＡＢＣ商事",
                postal_code="530-0001",
                address="大阪府大阪市北区梅田1-1",
                phone="06-1111-2222",
            ),
            "abc工業": await factories.company(
                uow,
                "abc工業",
                postal_code="060-0000",
                address="北海道札幌市中央区北1条",
                phone="011-222-3333",
            ),
            "顧客Q": await factories.company(uow, "顧客Q"),
        }
        await uow.commit()
        return Seeded(key=key, company_id=a.id, other_ids={name: c.id for name, c in others.items()})
