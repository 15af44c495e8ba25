"""Who is staff and what a refusal leaves behind (core.staff), and the staff-channel
"resend activation" use case (staff_desk.resend_activation_for_request)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import staff, staff_desk
from core.actors import SYSTEM_CLI, Actor
from core.config import Settings
from core.errors import Forbidden
from core.models import AuditRecord, OutboxMessage
from core.unit_of_work import Core
from tests import factories

STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")
CUSTOMER = Actor(kind="account", ref="slack:T1:U1", door="slack", account_id=7)
SENDER = "customer@customer-a.example.jp"


def test_a_slack_user_is_staff_when_its_user_id_is_in_staff_users(settings: Settings) -> None:
    assert settings.staff_users == frozenset({"USTAFF1"})
    assert staff.is_staff_slack_user(settings, "T1", "USTAFF1")
    assert staff.is_staff_slack_user(settings, "T9", "USTAFF1")  # single-workspace mode: the one workspace
    assert not staff.is_staff_slack_user(settings, "T1", "U1")


async def test_a_refusal_is_audited_and_committed_before_the_error(domain: Core) -> None:
    async with domain.uow() as uow:
        with pytest.raises(Forbidden) as caught:
            await staff.admit(uow, CUSTOMER, "key issue")
        # The caller's transaction ends in the error; the audit row is already committed.
        await uow.rollback()
    assert caught.value.message_id == "staff.forbidden"
    async with domain.uow() as uow:
        rows = (await uow.session.scalars(select(AuditRecord))).all()
    assert [(r.action, r.details, r.actor_id, r.door) for r in rows] == [
        ("staff.refused", {"attempted": "key issue"}, "account:7", "slack")
    ]


async def test_staff_are_admitted_and_leave_no_trace(domain: Core) -> None:
    async with domain.uow() as uow:
        await staff.admit(uow, STAFF, "find")
    async with domain.uow() as uow:
        assert (await uow.session.scalars(select(AuditRecord))).all() == []


def test_only_staff_and_the_system_pass_the_unaudited_check() -> None:
    staff.require_staff_or_system(STAFF)
    staff.require_staff_or_system(SYSTEM_CLI)
    with pytest.raises(Forbidden) as caught:
        staff.require_staff_or_system(CUSTOMER)
    assert caught.value.message_id == "staff.forbidden"


async def _request(domain: Core) -> None:
    async with domain.uow() as uow:
        await factories.request(uow, 123, SENDER, "有効化メールが届きません", "届きません。", "activation")
        company = await factories.company(uow)
        await factories.account(uow, company, SENDER, status="pending")
        await uow.commit()


async def test_resending_from_a_request_mails_a_new_link_to_whoever_wrote_it(domain: Core) -> None:
    await _request(domain)
    async with domain.uow() as uow:
        account = await staff_desk.resend_activation_for_request(uow, STAFF, "REQ-000123")
    assert account.username == SENDER
    async with domain.uow() as uow:
        mails = (await uow.session.scalars(select(OutboxMessage))).all()
    assert [(m.template, m.recipients) for m in mails] == [("activation_resent", [SENDER])]


async def test_resending_from_a_request_is_refused_to_non_staff_and_audited(domain: Core) -> None:
    await _request(domain)
    async with domain.uow() as uow:
        with pytest.raises(Forbidden) as caught:
            await staff_desk.resend_activation_for_request(uow, CUSTOMER, "REQ-000123")
    assert caught.value.message_id == "staff.forbidden"
    async with domain.uow() as uow:
        refused = (await uow.session.scalars(select(AuditRecord.details))).all()
        mails = (await uow.session.scalars(select(OutboxMessage))).all()
    assert refused == [{"attempted": "account.resend"}] and mails == []
