from __future__ import annotations

from datetime import date

import pytest

from core import support_keys
from core.errors import InvalidSupportKey, Throttled
from core.unit_of_work import Core
from tests import factories


async def test_a_key_typed_with_full_width_letters_and_dashes_is_the_same_key(domain: Core) -> None:
    async with domain.uow() as uow:
        c = await factories.contract(uow, await factories.company(uow))
        await factories.key(uow, c, "SK-7Q2M-4TXA-9KPL")
        await uow.commit()
    async with domain.uow() as uow:
        found = await support_keys.check_usable(uow, "ｓｋ７Ｑ２Ｍ－４ＴＸＡ ９ＫＰＬ", "slack:T:U")
    assert found.key.last4 == "9KPL"


async def test_key_of_an_ended_contract_is_invalid(domain: Core) -> None:
    async with domain.uow() as uow:
        c = await factories.contract(uow, await factories.company(uow), ends_on=date(2026, 11, 25))
        raw = await factories.key(uow, c)
        await uow.commit()
    async with domain.uow() as uow:
        with pytest.raises(InvalidSupportKey) as caught:
            await support_keys.check_usable(uow, raw, "slack:T:U")
    assert caught.value.message_id == "support_key.invalid"


async def test_sixth_attempt_after_five_failures_is_throttled(domain: Core) -> None:
    for _ in range(5):
        async with domain.uow() as uow:
            with pytest.raises(InvalidSupportKey):
                await support_keys.check_usable(uow, "SK-NOPE-NOPE-NOPE", "slack:T:U")
    async with domain.uow() as uow:
        with pytest.raises(Throttled) as caught:
            await support_keys.check_usable(uow, "SK-NOPE-NOPE-NOPE", "slack:T:U")
    assert caught.value.minutes == 15
