"""Terms agreement, SPEC §4.5: once per support ID and terms version, by one contact."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import support_ids, terms
from core.errors import DomainError, Forbidden, ValidationFailed
from core.messages import render
from core.models import SupportId
from core.unit_of_work import Core
from tests import factories

from .conftest import STAFF, World, audit_actions, outbox_rows


async def _terms_world(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["kta"], "NEEDS-TERMS")
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "NEEDS-TERMS", "bob@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.add_cc(uow, world.a, "NEEDS-TERMS", "team@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "PLAIN")


async def test_a_support_id_with_a_terms_contract_is_pending_for_each_of_its_contacts(
    domain: Core, world: World
) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        assert await terms.pending_for_account(uow, world.alice.id) == ["NEEDS-TERMS"]
        assert await terms.pending_for_account(uow, world.bob.id) == ["NEEDS-TERMS"]
        assert await terms.pending_for_account(uow, world.carol.id) == []
        notice = await terms.notice_for_account(uow, world.alice.id)
        assert await terms.notice_for_account(uow, world.carol.id) is None
    assert notice is not None
    text = terms.render_notice(notice, "ja")
    assert text.startswith("サービス仕様書・約款への同意のお願い")
    assert "NEEDS-TERMS" in text and domain.settings.terms_link in text
    assert "/support agree NEEDS-TERMS" in text


async def test_one_contact_agreeing_clears_the_notice_for_every_contact_and_is_recorded(
    domain: Core, world: World
) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        agreement = await terms.agree(uow, world.b, "needs-terms", entitled=True)
    assert agreement.already is False
    assert agreement.account_id == world.bob.id
    assert agreement.terms_version == domain.settings.terms_version
    assert agreement.agreed_at == domain.clock.now()
    async with domain.uow() as uow:
        assert await terms.pending_for_account(uow, world.alice.id) == []
        detail = await support_ids.show(uow, world.a, "NEEDS-TERMS")
    assert detail.terms_required and detail.terms_agreed_at == domain.clock.now()
    mails = await outbox_rows(domain, "terms_agreed")
    assert sorted(m.recipients[0] for m in mails) == [
        "alice@customer-a.example.jp",
        "bob@customer-a.example.jp",
        "team@customer-a.example.jp",
    ]
    assert "terms.agreed" in await audit_actions(domain)


async def test_agreeing_again_is_not_an_error_and_keeps_the_first_agreement(
    domain: Core, world: World
) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        await terms.agree(uow, world.b, "NEEDS-TERMS", entitled=True)
    async with domain.uow() as uow:
        again = await terms.agree(uow, world.a, "NEEDS-TERMS", entitled=True)
    assert again.already is True and again.account_id == world.bob.id
    assert len(await outbox_rows(domain, "terms_agreed")) == 3


async def test_agreeing_needs_the_declaration_of_being_entitled_to_bind_the_customer(
    domain: Core, world: World
) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await terms.agree(uow, world.a, "NEEDS-TERMS", entitled=False)
    assert caught.value.fields == {"entitled": "terms.declaration_required"}
    async with domain.uow() as uow:
        assert await terms.pending_for_account(uow, world.alice.id) == ["NEEDS-TERMS"]


async def test_a_support_id_without_terms_contracts_has_nothing_to_agree(domain: Core, world: World) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        with pytest.raises(DomainError) as caught:
            await terms.agree(uow, world.a, "PLAIN", entitled=True)
    assert caught.value.message_id == "terms.not_required"


async def test_only_contacts_can_agree(domain: Core, world: World) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        with pytest.raises(DomainError, match=r"support_id.not_found"):
            await terms.agree(uow, world.c, "NEEDS-TERMS", entitled=True)
    async with domain.uow() as uow:
        with pytest.raises(Forbidden, match=r"terms.contacts_only"):
            await terms.agree(uow, STAFF, "NEEDS-TERMS", entitled=True)


async def test_a_new_terms_version_needs_agreement_again(domain: Core, world: World) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        await terms.agree(uow, world.a, "NEEDS-TERMS", entitled=True)
    domain.settings.terms_version = "2027-01"
    async with domain.uow() as uow:
        assert await terms.pending_for_account(uow, world.alice.id) == ["NEEDS-TERMS"]
    async with domain.uow() as uow:
        assert (await terms.agree(uow, world.a, "NEEDS-TERMS", entitled=True)).already is False


async def test_adding_a_terms_key_to_an_agreed_free_support_id_makes_it_pending(
    domain: Core, world: World
) -> None:
    await _terms_world(domain, world)
    async with domain.uow() as uow:
        extra = await factories.contract(
            uow, await factories.company(uow, "顧客M"), number="K-0200", requires_terms=True
        )
        raw = await factories.key(uow, extra)
        await uow.commit()
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "PLAIN", raw)
    async with domain.uow() as uow:
        assert await terms.pending_for_account(uow, world.alice.id) == ["NEEDS-TERMS", "PLAIN"]
        ids = (await uow.session.scalars(select(SupportId.name))).all()
    assert set(ids) == {"NEEDS-TERMS", "PLAIN"}


def test_the_notice_title_is_the_spec_wording() -> None:
    assert render("terms.notice.title", "ja") == "サービス仕様書・約款への同意のお願い"
