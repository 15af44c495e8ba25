"""The staff desk (/support-admin): staff only, find, keys, accounts, the audit trail."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from core import accounts, audit, staff_desk, support_keys
from core.actors import Actor
from core.clock import JST, FrozenClock
from core.errors import Conflict, Forbidden, InvalidSupportKey, NotFound
from core.models import AuditRecord, SupportId, SupportKey
from core.unit_of_work import Core
from tests import factories

STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")
CUSTOMER = Actor(kind="account", ref="slack:T1:U1", door="slack", account_id=7)


async def seed(domain: Core) -> str:
    """A company with one contract and key, and one account; returns the raw key."""
    async with domain.uow() as uow:
        company = await factories.company(uow, "株式会社顧客Ａ")
        contract = await factories.contract(uow, company, number="K-0001")
        raw = await factories.key(uow, contract, "SK-7Q2M-4TXA-9KPL")
        await factories.account(uow, company, "taro@customer-a.example.jp", status="pending")
        await uow.commit()
    return raw


async def test_a_customer_is_refused_every_staff_action_and_the_refusal_is_audited(domain: Core) -> None:
    await seed(domain)
    calls = [
        lambda uow: staff_desk.find(uow, CUSTOMER, "K-0001"),
        lambda uow: staff_desk.issue_key(uow, CUSTOMER, "K-0001"),
        lambda uow: staff_desk.revoke_key(uow, CUSTOMER, "SK-7Q2M-4TXA-9KPL"),
        lambda uow: staff_desk.resend_activation(uow, CUSTOMER, "taro@customer-a.example.jp"),
        lambda uow: staff_desk.disable_account(uow, CUSTOMER, "taro@customer-a.example.jp"),
        lambda uow: staff_desk.enable_account(uow, CUSTOMER, "taro@customer-a.example.jp"),
        lambda uow: staff_desk.audit_trail(uow, CUSTOMER, email="taro@customer-a.example.jp"),
        lambda uow: staff_desk.recent_failures(uow, CUSTOMER),
    ]
    for call in calls:
        async with domain.uow() as uow:
            with pytest.raises(Forbidden) as caught:
                await call(uow)
        assert caught.value.message_id == "staff.forbidden"
    async with domain.uow() as uow:
        refusals = (await uow.session.scalars(select(AuditRecord).order_by(AuditRecord.id))).all()
        key = (await uow.session.scalars(select(SupportKey))).one()
    assert [r.details["attempted"] for r in refusals] == [
        "find",
        "key.issue",
        "key.revoke",
        "account.resend",
        "account.disable",
        "account.enable",
        "audit",
        "failures",
    ]
    assert {(r.action, r.actor_id, r.door) for r in refusals} == {("staff.refused", "account:7", "slack")}
    assert key.revoked_at is None


async def test_find_matches_company_name_contract_number_key_and_account_email(domain: Core) -> None:
    raw = await seed(domain)
    async with domain.uow() as uow:
        by_name = await staff_desk.find(uow, STAFF, "顧客a")
        by_number = await staff_desk.find(uow, STAFF, "k-0001")
        by_key = await staff_desk.find(uow, STAFF, raw.lower())
        by_email = await staff_desk.find(uow, STAFF, "Taro@Customer-A.example.jp")
        nothing = await staff_desk.find(uow, STAFF, "存在しない会社")
    assert [c.name for c in by_name.companies] == ["株式会社顧客Ａ"]
    assert [c.number for c in by_number.contracts] == ["K-0001"]
    assert [(k.masked, k.contract_number, k.usable_today) for k in by_key.keys] == [
        ("****-****-9KPL", "K-0001", True)
    ]
    assert [c.number for c in by_key.contracts] == ["K-0001"]
    assert [(a.username, a.status, a.company) for a in by_email.accounts] == [
        ("taro@customer-a.example.jp", "pending", "株式会社顧客Ａ")
    ]
    assert nothing.empty


async def test_an_issued_key_is_returned_once_stored_hashed_and_usable(domain: Core) -> None:
    await seed(domain)
    async with domain.uow() as uow:
        issued = await staff_desk.issue_key(uow, STAFF, "K-0001")
    assert issued.masked.endswith(issued.raw[-4:])
    assert issued.usable_from == date(2026, 11, 26)
    async with domain.uow() as uow:
        rows = (await uow.session.scalars(select(SupportKey).where(SupportKey.issued_via == "staff"))).all()
        trail = (await uow.session.scalars(select(AuditRecord))).all()
        found = await support_keys.check_usable(uow, issued.raw, "slack:T1:U1")
    assert len(rows) == 1 and rows[0].key_hash != issued.raw and issued.raw not in rows[0].key_hash
    assert found.contract.number == "K-0001"
    assert [(r.action, r.details["key"]) for r in trail] == [("key.issued", issued.masked)]
    assert issued.raw not in str([r.details for r in trail])


async def test_a_key_issued_for_mailing_on_friday_is_usable_from_monday(
    domain: Core, clock: FrozenClock
) -> None:
    await seed(domain)
    clock.set(datetime(2026, 11, 27, 17, 0, tzinfo=JST))
    async with domain.uow() as uow:
        issued = await staff_desk.issue_key(uow, STAFF, "K-0001", by_mail=True)
    assert issued.usable_from == date(2026, 11, 30)


async def test_issuing_for_an_unknown_contract_says_so(domain: Core) -> None:
    async with domain.uow() as uow:
        with pytest.raises(NotFound) as caught:
            await staff_desk.issue_key(uow, STAFF, "K-9999")
    assert (caught.value.message_id, caught.value.params) == (
        "staff.contract_not_found",
        {"number": "K-9999"},
    )


async def test_a_revoked_key_stops_working_at_once(domain: Core) -> None:
    raw = await seed(domain)
    async with domain.uow() as uow:
        hit = await staff_desk.revoke_key(uow, STAFF, raw)
    assert hit.revoked and not hit.usable_today
    async with domain.uow() as uow:
        with pytest.raises(InvalidSupportKey):
            await support_keys.check_usable(uow, raw, "slack:T1:U1")
        with pytest.raises(NotFound) as caught:
            await staff_desk.revoke_key(uow, STAFF, "SK-NEVER-ISSUED")
    assert caught.value.message_id == "staff.key_not_found"


async def test_staff_resend_disable_and_enable_an_account(domain: Core) -> None:
    await seed(domain)
    email = "taro@customer-a.example.jp"
    async with domain.uow() as uow:
        assert (await staff_desk.resend_activation(uow, STAFF, email)).status == "pending"
    async with domain.uow() as uow:
        assert (await staff_desk.disable_account(uow, STAFF, email)).status == "disabled"
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await staff_desk.resend_activation(uow, STAFF, email)
    assert caught.value.message_id == "staff.account_is_disabled"
    async with domain.uow() as uow:
        assert (await staff_desk.enable_account(uow, STAFF, email)).status == "pending"
        with pytest.raises(NotFound):
            await staff_desk.resend_activation(uow, STAFF, "nobody@example.jp")


async def test_the_audit_trail_of_an_account_and_of_a_support_id(domain: Core) -> None:
    await seed(domain)
    email = "taro@customer-a.example.jp"
    async with domain.uow() as uow:
        await staff_desk.disable_account(uow, STAFF, email)
    async with domain.uow() as uow:
        await staff_desk.enable_account(uow, STAFF, email)
    async with domain.uow() as uow:
        sid = SupportId(name="Team_A", name_key="team_a", created_at=uow.clock.now())
        uow.session.add(sid)
        await uow.session.flush()
        audit.record(uow, STAFF, "support_id.issued", support_id_id=sid.id)
        await uow.commit()
    async with domain.uow() as uow:
        by_account = await staff_desk.audit_trail(uow, STAFF, email=email.upper())
        by_sid = await staff_desk.audit_trail(uow, STAFF, support_id="TEAM_A")
        with pytest.raises(NotFound):
            await staff_desk.audit_trail(uow, STAFF, support_id="NOPE")
    assert [(e.action, e.door, e.actor) for e in by_account] == [
        ("account.enabled", "slack", "slack:T1:USTAFF1"),
        ("account.disabled", "slack", "slack:T1:USTAFF1"),
    ]
    assert [e.action for e in by_sid] == ["support_id.issued"]


async def test_staff_see_recent_failed_key_attempts(domain: Core) -> None:
    for actor in ("slack:T1:U1", "mail:x@example.jp"):
        async with domain.uow() as uow:
            with pytest.raises(InvalidSupportKey):
                await support_keys.check_usable(uow, "SK-GUESS-0001", actor)
    async with domain.uow() as uow:
        failures = await staff_desk.recent_failures(uow, STAFF)
    assert {(f.actor, f.scope) for f in failures} == {
        ("slack:T1:U1", "support_key"),
        ("mail:x@example.jp", "support_key"),
    }
    assert all("GUESS" not in f.detail for f in failures)


async def test_accounts_disable_needs_staff_even_when_called_directly(domain: Core) -> None:
    await seed(domain)
    async with domain.uow() as uow:
        with pytest.raises(Forbidden):
            await accounts.disable(uow, CUSTOMER, "taro@customer-a.example.jp")
