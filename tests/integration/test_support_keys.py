from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from core import support_keys
from core.clock import JST, FrozenClock
from core.errors import InvalidSupportKey, Throttled
from core.messages import render
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


async def _contract_with_key(
    domain: Core, raw: str = "SK-7Q2M-4TXA-9KPL", **contract: Any
) -> tuple[str, int]:
    async with domain.uow() as uow:
        c = await factories.contract(uow, await factories.company(uow), **contract)
        await factories.key(uow, c, raw)
        await uow.commit()
        return raw, c.id


async def _refused(domain: Core, raw: str, actor: str = "slack:T:U") -> InvalidSupportKey:
    async with domain.uow() as uow:
        with pytest.raises(InvalidSupportKey) as caught:
            await support_keys.check_usable(uow, raw, actor)
    return caught.value


async def _usable(domain: Core, raw: str, actor: str = "slack:T:U") -> support_keys.UsableKey:
    async with domain.uow() as uow:
        return await support_keys.check_usable(uow, raw, actor)


async def test_every_kind_of_unusable_key_gets_the_one_same_message(domain: Core) -> None:
    await _contract_with_key(domain, "SK-FUTURE-0001", starts_on=date(2026, 11, 27))
    await _contract_with_key(domain, "SK-ENDED-0001", ends_on=date(2026, 11, 25))
    async with domain.uow() as uow:
        c = await factories.contract(uow, await factories.company(uow))
        await factories.key(uow, c, "SK-REVOKED-0001", revoked_at=uow.clock.now())
        await uow.commit()
    cases = {
        "unknown": "SK-NOT-ISSUED-EVER",
        "before start": "SK-FUTURE-0001",
        "after end": "SK-ENDED-0001",
        "revoked": "SK-REVOKED-0001",
        "malformed": "SK-7Q2M-4TXA-9KP!",
        "over 30 characters": "A" * 31,
    }
    for number, (case, raw) in enumerate(cases.items()):
        error = await _refused(domain, raw, actor=f"slack:T:U{number}")
        assert (type(error), error.message_id, error.params) == (
            InvalidSupportKey,
            "support_key.invalid",
            {},
        ), case
        assert render(error.message_id, "ja") == "無効なサポートキーです。"
        assert render(error.message_id, "en") == "Invalid support key."


async def test_a_key_works_on_the_first_and_the_last_day_of_its_contract(
    domain: Core, clock: FrozenClock
) -> None:
    raw, _ = await _contract_with_key(domain, starts_on=date(2026, 11, 26), ends_on=date(2026, 11, 27))
    assert (await _usable(domain, raw)).contract.ends_on == date(2026, 11, 27)
    clock.set(datetime(2026, 11, 27, 23, 59, tzinfo=JST))
    await _usable(domain, raw)
    clock.set(datetime(2026, 11, 28, 0, 0, tzinfo=JST))
    await _refused(domain, raw)


async def _issue_by_mail(domain: Core) -> str:
    async with domain.uow() as uow:
        c = await factories.contract(uow, await factories.company(uow))
        raw, row = await support_keys.issue(uow, c, via="mail")
        await uow.commit()
    assert row.issued_via == "mail"
    return raw


async def test_a_key_issued_by_mail_on_friday_night_works_from_monday(
    domain: Core, clock: FrozenClock
) -> None:
    # 23:30 in Tokyo is still Friday there, though Friday afternoon in UTC.
    clock.set(datetime(2026, 11, 27, 23, 30, tzinfo=JST))
    raw = await _issue_by_mail(domain)
    await _refused(domain, raw)
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=JST))
    await _refused(domain, raw)
    clock.set(datetime(2026, 11, 30, 0, 0, tzinfo=JST))
    await _usable(domain, raw)


async def test_a_key_issued_by_mail_before_a_public_holiday_waits_for_the_day_after(
    domain: Core, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 20, 15, 0, tzinfo=JST))  # Friday; Monday 11-23 is 勤労感謝の日
    raw = await _issue_by_mail(domain)
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=JST))
    await _refused(domain, raw)
    clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=JST))
    await _usable(domain, raw)


async def test_a_key_issued_by_mail_before_the_year_end_closure_works_after_it(
    domain: Core, clock: FrozenClock
) -> None:
    closures = frozenset(date(2026, 12, d) for d in range(29, 32))
    domain.settings = domain.settings.model_copy(update={"closures": closures})
    clock.set(datetime(2026, 12, 28, 10, 0, tzinfo=JST))
    raw = await _issue_by_mail(domain)
    clock.set(datetime(2026, 12, 29, 10, 0, tzinfo=JST))
    await _refused(domain, raw)
    clock.set(datetime(2027, 1, 4, 10, 0, tzinfo=JST))  # 01-01 holiday, 01-02/03 weekend
    await _usable(domain, raw)


async def test_a_throttled_actor_is_refused_even_a_valid_key(domain: Core) -> None:
    raw, _ = await _contract_with_key(domain)
    for _ in range(5):
        await _refused(domain, "SK-WRONG-WRONG")
    async with domain.uow() as uow:
        with pytest.raises(Throttled) as caught:
            await support_keys.check_usable(uow, raw, "slack:T:U")
    assert render(caught.value.message_id, "ja", **caught.value.params).endswith(
        "15分後にもう一度お試しください。"
    )
    # Somebody else is not affected.
    await _usable(domain, raw, actor="slack:T:OTHER")


async def test_the_wait_counts_from_the_oldest_failure_in_the_window(
    domain: Core, clock: FrozenClock
) -> None:
    await _refused(domain, "SK-WRONG-WRONG")
    clock.advance(timedelta(minutes=6))
    for _ in range(4):
        await _refused(domain, "SK-WRONG-WRONG")
    async with domain.uow() as uow:
        with pytest.raises(Throttled) as caught:
            await support_keys.check_usable(uow, "SK-WRONG-WRONG", "slack:T:U")
    assert caught.value.minutes == 9


async def test_the_throttle_lifts_when_the_failures_leave_the_window(
    domain: Core, clock: FrozenClock
) -> None:
    raw, _ = await _contract_with_key(domain)
    for _ in range(5):
        await _refused(domain, "SK-WRONG-WRONG")
    clock.advance(timedelta(minutes=14, seconds=59))
    async with domain.uow() as uow:
        with pytest.raises(Throttled) as caught:
            await support_keys.check_usable(uow, raw, "slack:T:U")
    assert caught.value.minutes == 1
    clock.advance(timedelta(seconds=1))
    await _usable(domain, raw)
    # Four failures in a fresh window are not yet enough.
    for _ in range(4):
        await _refused(domain, "SK-WRONG-WRONG")
    await _usable(domain, raw)
