"""The group commit's two ways of writing (``store_inbound_many``): a group of small
messages without SQLAlchemy's execution machinery, a larger group through it. Both store
the same rows and tell a duplicate (of a stored message, of one in the same group) the
same way, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from core import contact_window
from core.contact_window import inbox
from core.unit_of_work import Core
from tests.integration.mail.conftest import CONTACT, inbound_of, make_mail


def _row(mail: Any) -> tuple[Any, ...]:
    return (
        mail.digest,
        mail.mail_from,
        mail.rcpt_tos,
        mail.raw,
        mail.received_at,
        mail.state,
        mail.malformed,
    )


async def _store(core: Core, items: list[tuple[bytes, str, list[str]]]) -> list[bool]:
    async with core.uow() as uow:
        return await contact_window.store_inbound_many(uow, items)


async def test_small_and_large_groups_store_the_same_rows(domain: Core) -> None:
    padding = b"x" * (inbox.SMALL_GROUP_BYTES + 1)
    small = [make_mail(subject=f"small {n}", sender=f"s{n}@customer.example") for n in range(3)]
    large = [make_mail(subject="large", sender="l@customer.example") + padding]
    envelope = ("山田 <s@customer.example>", [CONTACT, "その他 <x@support.example.com>"])
    assert await _store(domain, [(raw, *envelope) for raw in small]) == [True] * 3
    assert await _store(domain, [(raw, *envelope) for raw in large]) == [True]
    rows = await inbound_of(domain)
    assert [r.raw for r in rows] == [*small, *large]
    [first, *_rest, big] = [_row(r) for r in rows]
    assert first[1:3] == big[1:3] == (envelope[0], envelope[1])
    assert first[4:] == big[4:]  # the same instant (the frozen clock), state and flags
    assert type(first[4]) is type(big[4])


async def test_duplicates_are_told_the_same_way_in_small_and_large_groups(domain: Core) -> None:
    padding = b"x" * (inbox.SMALL_GROUP_BYTES + 1)
    for extra in (b"", padding):
        one = make_mail(subject=f"one {len(extra)}") + extra
        two = make_mail(subject=f"two {len(extra)}") + extra
        assert await _store(domain, [(one, "a@customer.example", [CONTACT])]) == [True]
        # A stored message again, a new one, and the new one twice in the same group.
        again = [(one, "a@customer.example", [CONTACT]), (two, "b@customer.example", [CONTACT])]
        assert await _store(domain, [*again, again[1]]) == [False, True, False]
    assert len(await inbound_of(domain)) == 4
