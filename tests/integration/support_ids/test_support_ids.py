"""Support IDs, SPEC §4.4: every rule and every refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event, select

from core import support_ids
from core.errors import Conflict, Forbidden, InvalidSupportKey, NotFound, ValidationFailed
from core.messages import render
from core.models import SupportKey
from core.snapshots import Snapshot, open_for
from core.unit_of_work import Core, UnitOfWork
from tests import factories

from .conftest import STAFF, World, audit_actions, outbox_rows


async def test_issuing_makes_the_issuer_its_first_contact_and_puts_the_key_in_it(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        detail = await support_ids.issue(uow, world.a, world.keys["k1a"], "Team-A_01", "本社システム")
    assert detail.name == "Team-A_01"
    assert detail.description == "本社システム"
    assert [c.email for c in detail.contacts] == ["alice@customer-a.example.jp"]
    assert [k.masked for k in detail.keys] == ["****-****-9KPL"]
    assert detail.maintenance_ends_on == date(2026, 12, 31)


async def test_a_name_taken_in_another_case_is_refused_with_the_spec_message(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "TeamA")
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await support_ids.issue(uow, world.c, world.keys["kqa"], "teama")
    assert render(caught.value.message_id, "ja") == "このサポートIDは既に既存のサポートIDに使用されています。"
    async with domain.uow() as uow:
        key = await uow.session.scalar(select(SupportKey).where(SupportKey.last4 == "3333"))
        assert key is not None and key.support_id_id is None


async def test_a_name_typed_in_full_width_is_the_same_name(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "TEAMA")
    async with domain.uow() as uow:
        with pytest.raises(Conflict, match=r"support_id.name_taken"):
            await support_ids.issue(uow, world.c, world.keys["kqa"], "ｔｅａｍａ")


@pytest.mark.parametrize("name", ["team a", "チーム", "team.a", "team/a", "team+a", "a@b"])
async def test_a_name_with_characters_other_than_letters_digits_hyphen_underscore_is_refused(
    domain: Core, world: World, name: str
) -> None:
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await support_ids.issue(uow, world.a, world.keys["k1a"], name)
    assert caught.value.fields == {"name": "support_id.name_invalid"}


async def test_an_empty_name_is_refused(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await support_ids.issue(uow, world.a, world.keys["k1a"], "   ")
    assert caught.value.fields == {"name": "support_id.name_required"}


async def test_a_name_of_80_characters_is_accepted_and_81_is_refused(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await support_ids.issue(uow, world.a, world.keys["k1a"], "N" * 81)
    assert caught.value.fields == {"name": "support_id.name_too_long"}
    async with domain.uow() as uow:
        detail = await support_ids.issue(uow, world.a, world.keys["k1a"], "N" * 80)
    assert detail.name == "N" * 80


async def test_a_description_of_255_characters_is_accepted_and_256_is_refused(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await support_ids.issue(uow, world.a, world.keys["k1a"], "D1", "説" * 256)
    assert caught.value.fields == {"description": "support_id.description_too_long"}
    async with domain.uow() as uow:
        detail = await support_ids.issue(uow, world.a, world.keys["k1a"], "D1", "説" * 255)
    assert len(detail.description) == 255


async def test_a_key_of_30_characters_is_accepted_and_31_is_refused(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        k = await factories.contract(uow, await factories.company(uow, "顧客Z"))
        thirty = await factories.key(uow, k, "A" * 30)
        await uow.commit()
    async with domain.uow() as uow:
        with pytest.raises(InvalidSupportKey):
            await support_ids.issue(uow, world.a, "A" * 31, "LONGKEY")
    async with domain.uow() as uow:
        detail = await support_ids.issue(uow, world.a, thirty, "LONGKEY")
    assert detail.keys[0].last4 == "AAAA"


async def test_issuing_with_a_key_already_in_a_support_id_issues_nothing(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "FIRST")
    async with domain.uow() as uow:
        with pytest.raises(InvalidSupportKey) as caught:
            await support_ids.issue(uow, world.a, world.keys["k1a"], "SECOND")
    assert render(caught.value.message_id, "ja") == "無効なサポートキーです。"
    async with domain.uow() as uow:
        with pytest.raises(NotFound):
            await support_ids.show(uow, world.a, "SECOND")


async def test_issuing_with_an_unknown_or_expired_key_is_invalid(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        old = await factories.contract(uow, await factories.company(uow, "顧客X"), ends_on=date(2026, 11, 25))
        expired = await factories.key(uow, old)
        await uow.commit()
    for raw in ("SK-NOPE-NOPE-NOPE", expired):
        async with domain.uow() as uow:
            with pytest.raises(InvalidSupportKey):
                await support_ids.issue(uow, world.a, raw, "NEWID")


async def test_issuing_with_a_key_whose_contract_is_in_another_support_id_is_refused(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "FIRST")
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await support_ids.issue(uow, world.b, world.keys["k1b"], "SECOND")
    assert caught.value.message_id == "support_id.same_contract"


async def test_the_list_shows_family_end_user_and_the_latest_maintenance_end(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ZETA", "z")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "ZETA", world.keys["k2a"])
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["kta"], "alpha", "a")
    async with domain.uow() as uow:
        rows = await support_ids.list_for_account(uow, world.a)
    assert [r.name for r in rows] == ["alpha", "ZETA"]
    zeta = rows[1]
    assert zeta.description == "z"
    assert zeta.product_families == ("製品Aファミリ", "製品Bファミリ")
    assert zeta.end_users == ("顧客A",)
    assert zeta.maintenance_ends_on == date(2027, 3, 31)
    async with domain.uow() as uow:
        assert await support_ids.list_for_account(uow, world.c) == []


async def test_the_list_is_answered_from_a_snapshot_and_every_other_service_from_a_unit_of_work(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE", "one")
    async with domain.uow() as uow:
        in_transaction = await support_ids.list_for_account(uow, world.a)
    source = open_for(domain, support_ids.list_for_account)
    assert isinstance(source, Snapshot)
    async with source as snap:
        assert await support_ids.list_for_account(snap, world.a) == in_transaction
    for writes in (
        support_ids.show,
        support_ids.issue,
        support_ids.add_key,
        support_ids.remove_key,
        support_ids.add_contact,
        support_ids.remove_contact,
        support_ids.add_cc,
        support_ids.remove_cc,
    ):
        assert isinstance(open_for(domain, support_ids.list_for_account, writes), UnitOfWork), writes


async def test_the_list_takes_the_same_number_of_queries_for_one_or_many_support_ids(
    domain: Core, world: World
) -> None:
    engine = domain.sessions.kw["bind"]
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with domain.uow() as uow:
            await support_ids.list_for_account(uow, world.a)
        with_one = len(statements)
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        async with domain.uow() as uow:
            for n in range(6):
                c = await factories.contract(uow, await factories.company(uow, f"顧客{n}"))
                raw = await factories.key(uow, c)
                await uow.commit()
                await support_ids.issue(uow, world.a, raw, f"MANY{n}")
        statements.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        async with domain.uow() as uow:
            rows = await support_ids.list_for_account(uow, world.a)
        assert len(rows) == 7
        assert len(statements) == with_one
    finally:
        if event.contains(engine.sync_engine, "before_cursor_execute", count):
            event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_the_detail_masks_keys_but_the_last_four_and_shows_contacts_and_cc(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "DETAIL")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "DETAIL", world.keys["k1b"])
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "DETAIL", "BOB@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.add_cc(uow, world.b, "DETAIL", "team-ml@customer-a.example.jp")
    async with domain.uow() as uow:
        detail = await support_ids.show(uow, world.b, "detail")
    assert sorted(k.masked for k in detail.keys) == ["****-****-1111", "****-****-9KPL"]
    assert all("7Q2M" not in k.masked for k in detail.keys)
    assert {k.contract_number for k in detail.keys} == {"K-0001"}
    assert [c.email for c in detail.contacts] == ["alice@customer-a.example.jp", "bob@customer-a.example.jp"]
    assert detail.cc == ("team-ml@customer-a.example.jp",)


async def test_adding_a_key_whose_contract_is_in_another_support_id_gives_the_same_contract_message(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k2a"], "TWO")
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await support_ids.add_key(uow, world.a, "TWO", world.keys["k1b"])
    assert render(caught.value.message_id, "ja") == (
        "同一契約番号(電話/メール問い合わせ用)のサポートキーが、他のサポートIDに追加されています。"
    )


async def test_all_keys_of_one_contract_may_join_the_same_support_id(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        view = await support_ids.add_key(uow, world.a, "ONE", "sk-aaaa-bbbb-1111")
    assert view.masked == "****-****-1111"


async def test_adding_a_key_taken_by_a_colleague_names_the_support_id_and_suggests_its_contacts(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ALICE")
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.b, world.keys["k2a"], "BOB")
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await support_ids.add_key(uow, world.b, "BOB", world.keys["k1a"])
    assert caught.value.message_id == "support_id.key_taken_by_colleague"
    text = render(caught.value.message_id, "ja", **caught.value.params)
    assert "ALICE" in text and "山田 太郎" in text and "依頼" in text


async def test_adding_a_key_taken_by_another_company_is_just_an_invalid_key(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ALICE")
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.c, world.keys["kqa"], "CAROL")
    async with domain.uow() as uow:
        with pytest.raises(InvalidSupportKey):
            await support_ids.add_key(uow, world.c, "CAROL", world.keys["k1a"])


async def test_adding_a_key_already_in_this_support_id_says_so(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        with pytest.raises(Conflict, match=r"support_id.key_already_here"):
            await support_ids.add_key(uow, world.a, "ONE", world.keys["k1a"])


async def test_adding_an_invalid_key_is_refused_and_counts_towards_the_throttle(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        with pytest.raises(InvalidSupportKey):
            await support_ids.add_key(uow, world.a, "ONE", "SK-NOPE-NOPE-NOPE")
    from core import throttle

    async with domain.uow() as uow:
        failures = await throttle.recent_failures(uow, scope="support_key")
    assert [f.actor for f in failures] == [world.a.ref]


async def test_a_removed_key_is_free_again_and_can_be_added_back(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "ONE", world.keys["k2a"])
    async with domain.uow() as uow:
        removed = await support_ids.remove_key(uow, world.a, "ONE", world.keys["k2a"])
    assert removed.masked == "****-****-2222"
    async with domain.uow() as uow:
        assert [k.last4 for k in (await support_ids.show(uow, world.a, "ONE")).keys] == ["9KPL"]
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "ONE", world.keys["k2a"])
    async with domain.uow() as uow:
        await support_ids.remove_key(uow, world.a, "ONE", world.keys["k2a"])
    async with domain.uow() as uow:
        detail = await support_ids.issue(uow, world.b, world.keys["k2a"], "BOBS")
    assert [k.last4 for k in detail.keys] == ["2222"]


async def test_a_key_can_be_removed_by_its_last_four_characters(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "ONE", world.keys["k1b"])
    async with domain.uow() as uow:
        await support_ids.remove_key(uow, world.a, "ONE", "1111")
    async with domain.uow() as uow:
        with pytest.raises(NotFound, match=r"support_id.key_not_here"):
            await support_ids.remove_key(uow, world.a, "ONE", "1111")
    async with domain.uow() as uow:
        with pytest.raises(NotFound, match=r"support_id.key_not_here"):
            await support_ids.remove_key(uow, world.a, "ONE", world.keys["k2a"])


async def test_a_contact_adds_a_registered_account_who_is_notified(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        added = await support_ids.add_contact(uow, world.a, "ONE", "bob@customer-a.example.jp")
    assert added.account_id == world.bob.id
    mails = await outbox_rows(domain, "contact_added")
    assert [(m.recipients, m.locale) for m in mails] == [(["bob@customer-a.example.jp"], "en")]
    assert mails[0].context["support_id"] == "ONE"
    async with domain.uow() as uow:
        assert [s.name for s in await support_ids.list_for_account(uow, world.b)] == ["ONE"]
    async with domain.uow() as uow:
        with pytest.raises(Conflict, match=r"support_id.contact_exists"):
            await support_ids.add_contact(uow, world.b, "ONE", "alice@customer-a.example.jp")


async def test_an_unregistered_email_cannot_become_a_contact(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        with pytest.raises(NotFound, match=r"support_id.contact_unknown"):
            await support_ids.add_contact(uow, world.a, "ONE", "nobody@customer-a.example.jp")


async def test_the_last_contact_cannot_be_removed_but_others_can(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await support_ids.remove_contact(uow, world.a, "ONE", "alice@customer-a.example.jp")
    assert caught.value.message_id == "support_id.last_contact"
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "ONE", "bob@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.remove_contact(uow, world.b, "ONE", "alice@customer-a.example.jp")
    async with domain.uow() as uow:
        assert [c.email for c in (await support_ids.show(uow, world.b, "ONE")).contacts] == [
            "bob@customer-a.example.jp"
        ]
    async with domain.uow() as uow:
        with pytest.raises(NotFound):
            await support_ids.show(uow, world.a, "ONE")
    async with domain.uow() as uow:
        with pytest.raises(NotFound, match=r"support_id.contact_not_found"):
            await support_ids.remove_contact(uow, world.b, "ONE", "carol@customer-q.example.jp")


async def test_a_non_contact_gets_the_same_answer_as_for_a_name_that_does_not_exist(
    domain: Core, world: World
) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "SECRET")
    answers = []
    for name in ("SECRET", "NO-SUCH-ID"):
        for call in (
            lambda uow, n=name: support_ids.show(uow, world.c, n),
            lambda uow, n=name: support_ids.add_key(uow, world.c, n, world.keys["kqa"]),
            lambda uow, n=name: support_ids.remove_key(uow, world.c, n, world.keys["k1a"]),
            lambda uow, n=name: support_ids.add_contact(uow, world.c, n, "carol@customer-q.example.jp"),
            lambda uow, n=name: support_ids.remove_contact(uow, world.c, n, "alice@customer-a.example.jp"),
            lambda uow, n=name: support_ids.add_cc(uow, world.c, n, "x@customer-q.example.jp"),
            lambda uow, n=name: support_ids.remove_cc(uow, world.c, n, "x@customer-q.example.jp"),
        ):
            async with domain.uow() as uow:
                with pytest.raises(NotFound) as caught:
                    await call(uow)
            answers.append((caught.value.message_id, caught.value.params))
    assert {a[0] for a in answers} == {"support_id.not_found"}
    async with domain.uow() as uow:
        detail = await support_ids.show(uow, world.a, "SECRET")
    assert [c.email for c in detail.contacts] == ["alice@customer-a.example.jp"]


async def test_staff_see_and_change_any_support_id(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        assert (await support_ids.show(uow, STAFF, "one")).name == "ONE"
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, STAFF, "ONE", "carol@customer-q.example.jp")
    async with domain.uow() as uow:
        assert [s.name for s in await support_ids.list_for_account(uow, STAFF, world.carol.id)] == ["ONE"]


async def test_an_actor_without_an_account_cannot_use_support_ids(domain: Core, world: World) -> None:
    from core.actors import Actor

    stranger = Actor(kind="anonymous", ref="slack:T1:UNEW", door="slack")
    async with domain.uow() as uow:
        with pytest.raises(Forbidden, match=r"support_id.account_required"):
            await support_ids.issue(uow, stranger, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        with pytest.raises(Forbidden):
            await support_ids.list_for_account(uow, world.a, world.carol.id)


async def test_cc_addresses_are_validated_added_and_removed(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    for bad in (
        "not-an-address",
        "a@b",
        "x@example.com\r\nBcc: y@example.com",
        "contact@support.example.com",
    ):
        async with domain.uow() as uow:
            with pytest.raises(ValidationFailed) as caught:
                await support_ids.add_cc(uow, world.a, "ONE", bad)
        assert caught.value.fields == {"email": "support_id.cc_invalid"}
    async with domain.uow() as uow:
        assert await support_ids.add_cc(uow, world.a, "ONE", " Team@Customer-A.example.jp ") == (
            "team@customer-a.example.jp"
        )
    async with domain.uow() as uow:
        with pytest.raises(Conflict, match=r"support_id.cc_exists"):
            await support_ids.add_cc(uow, world.a, "ONE", "team@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.remove_cc(uow, world.a, "ONE", "team@customer-a.example.jp")
    async with domain.uow() as uow:
        with pytest.raises(NotFound, match=r"support_id.cc_not_found"):
            await support_ids.remove_cc(uow, world.a, "ONE", "team@customer-a.example.jp")


async def test_key_changes_are_mailed_to_contacts_and_cc_addresses(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "ONE", "bob@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.add_cc(uow, world.a, "ONE", "team@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "ONE", world.keys["k1b"])
    async with domain.uow() as uow:
        await support_ids.remove_key(uow, world.b, "ONE", world.keys["k1b"])
    for template in ("key_added", "key_removed"):
        mails = await outbox_rows(domain, template)
        assert sorted((m.recipients[0], m.locale) for m in mails) == [
            ("alice@customer-a.example.jp", "ja"),
            ("bob@customer-a.example.jp", "en"),
            ("team@customer-a.example.jp", "ja"),
        ]
        assert all(m.context["key"] == "****-****-1111" for m in mails)
        assert all("AAAA" not in str(m.context) for m in mails)


async def test_every_change_is_audited(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["k1a"], "ONE")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, world.a, "ONE", world.keys["k1b"])
    async with domain.uow() as uow:
        await support_ids.remove_key(uow, world.a, "ONE", world.keys["k1b"])
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "ONE", "bob@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.remove_contact(uow, world.a, "ONE", "bob@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.add_cc(uow, world.a, "ONE", "team@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.remove_cc(uow, world.a, "ONE", "team@customer-a.example.jp")
    assert await audit_actions(domain) == [
        "support_id.issued",
        "support_id.key_added",
        "support_id.key_removed",
        "support_id.contact_added",
        "support_id.contact_removed",
        "support_id.cc_added",
        "support_id.cc_removed",
    ]
    from core import audit

    async with domain.uow() as uow:
        rows = await audit.history(uow, account_id=world.alice.id)
    assert {r.door for r in rows} == {"slack"}
    assert all(r.actor_id == f"account:{world.alice.id}" for r in rows)
