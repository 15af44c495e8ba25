"""SPEC §4.1 acceptance: after a full scenario, no table holds a support key, a link
token or a password in the clear, in any spelling."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import accounts, registration, staff_desk, support_keys
from core.actors import Actor
from core.clock import FrozenClock
from core.errors import InvalidSupportKey, ValidationFailed
from core.models import Base, OutboxMessage
from core.normalize import support_key as canonical
from core.unit_of_work import Core
from tests import factories

CUSTOMER = Actor(kind="anonymous", ref="slack:T1:U1", door="slack")
WEB = Actor(kind="anonymous", ref="ip:192.0.2.1", door="web")
MAIL = Actor(kind="anonymous", ref="mail:taro.yamada@customer-a.example.jp", door="mail")
STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")

DETAILS: dict[str, Any] = {
    "last_name": "山田",
    "first_name": "太郎",
    "last_name_kana": "ヤマダ",
    "first_name_kana": "タロウ",
    "department": "",
    "title": "",
    "email": "Taro.Yamada@customer-a.example.jp",
    "phone": "03-1234-5678",
    "postal_code": "1400002",
    "prefecture": "東京都",
    "city": "品川区",
    "street": "東品川4-12-7",
    "marketing_opt_in": False,
    "privacy_consent": True,
}


async def _links(domain: Core) -> list[str]:
    async with domain.uow() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [uow.sealer.open(r.sealed)["link"] for r in rows if r.sealed]


async def _dump(domain: Core) -> str:
    """Every value of every table, as text (JSON fields in full, bytes as Latin-1)."""
    parts: list[str] = []
    async with domain.uow() as uow:
        for table in Base.metadata.sorted_tables:
            for row in (await uow.session.execute(table.select())).all():
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("latin-1"))
                    elif isinstance(value, dict | list):
                        parts.append(json.dumps(value, ensure_ascii=False))
                    else:
                        parts.append(str(value))
    return "\n".join(parts).casefold()


async def test_no_table_holds_a_key_token_or_password_in_plaintext(domain: Core, clock: FrozenClock) -> None:
    secrets: list[str] = []
    async with domain.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        contract = await factories.contract(uow, company, number="K-0001")
        imported = await factories.key(uow, contract, "SK-7Q2M-4TXA-9KPL")
        await uow.commit()
    secrets.append(imported)

    # Two failed guesses, then registration with the key typed in another spelling.
    wrong = "SK-GUES-SWRO-NG42"
    secrets.append(wrong)
    for _ in range(2):
        async with domain.uow() as uow:
            with pytest.raises(InvalidSupportKey):
                await support_keys.check_usable(uow, wrong, CUSTOMER.ref)
    async with domain.uow() as uow:
        view = await registration.start(uow, CUSTOMER)
    cid = view.conversation_id
    async with domain.uow() as uow:
        await registration.submit_key(uow, CUSTOMER, cid, "ｓｋ－７ｑ２ｍ－４ｔｘａ－９ｋｐｌ")
    async with domain.uow() as uow:
        await registration.confirm_company(uow, CUSTOMER, cid)
    async with domain.uow() as uow:
        await registration.submit_details(uow, CUSTOMER, cid, DETAILS)
    async with domain.uow() as uow:
        assert (await registration.submit(uow, CUSTOMER, cid)).step == "done"

    # Activation, a resent link, a reset, a reminder.
    async with domain.uow() as uow:
        assert await accounts.resend_activation(uow, MAIL, DETAILS["email"]) == "sent"
        await uow.commit()
    first_password = "Sakura2026Spring"
    async with domain.uow() as uow:
        token = (await _links(domain))[-1].rsplit("/", 1)[1]
        await accounts.set_password_with_token(uow, token, first_password, WEB)
    clock.advance(timedelta(days=1))
    async with domain.uow() as uow:
        assert await accounts.request_password_reset(uow, MAIL, DETAILS["email"])
        assert await accounts.send_username_reminder(uow, MAIL, DETAILS["email"])
        await uow.commit()
    second_password = "Momiji2026Autumn"
    async with domain.uow() as uow:
        token = (await _links(domain))[-1].rsplit("/", 1)[1]
        with pytest.raises(ValidationFailed):  # a weak attempt first: it must not be stored either
            await accounts.set_password_with_token(uow, token, "weakpass", WEB)
    async with domain.uow() as uow:
        await accounts.set_password_with_token(uow, token, second_password, WEB)
    secrets += [first_password, second_password, "weakpass"]
    links = await _links(domain)
    assert len(links) == 3
    secrets += [link.rsplit("/", 1)[1] for link in links]

    # Staff issue a key (shown once) and revoke the imported one.
    async with domain.uow() as uow:
        issued = await staff_desk.issue_key(uow, STAFF, "K-0001", by_mail=True)
    async with domain.uow() as uow:
        await staff_desk.revoke_key(uow, STAFF, imported)
    secrets.append(issued.raw)

    dump = await _dump(domain)
    # The dump does see the tables: hashes and last-4 digits are there.
    assert "$argon2id$" in dump and "9kpl" in dump and issued.raw[-4:].casefold() in dump
    for secret in secrets:
        for spelling in {secret, canonical(secret)}:
            assert spelling.casefold() not in dump, f"{secret!r} found in the database"
