"""The registration conversation (SPEC §4.2) driven as a door would, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import registration
from core.actors import Actor
from core.clock import FrozenClock
from core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from core.messages import render
from core.models import Account, AuditRecord, Conversation, OutboxMessage
from core.registration import View
from core.unit_of_work import Core
from tests import factories

from .conftest import ACTOR, DETAILS, Seeded


async def to_company(domain: Core, seeded: Seeded, actor: Actor = ACTOR) -> View:
    async with domain.uow() as uow:
        view = await registration.start(uow, actor)
    async with domain.uow() as uow:
        return await registration.submit_key(uow, actor, view.conversation_id, seeded.key)


async def to_confirm(domain: Core, seeded: Seeded, **changes: object) -> View:
    view = await to_company(domain, seeded)
    async with domain.uow() as uow:
        await registration.confirm_company(uow, ACTOR, view.conversation_id)
    async with domain.uow() as uow:
        return await registration.submit_details(uow, ACTOR, view.conversation_id, {**DETAILS, **changes})


async def refusal(domain: Core, step: object, *args: object) -> ValidationFailed:
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await step(uow, ACTOR, *args)  # type: ignore[operator]
    return caught.value


async def test_the_whole_happy_path_creates_a_pending_account_and_mails_the_link(
    domain: Core, seeded: Seeded
) -> None:
    async with domain.uow() as uow:
        view = await registration.start(uow, ACTOR)
    assert view.step == "support_key" and view.actions == ("submit_key",)
    cid = view.conversation_id

    async with domain.uow() as uow:
        view = await registration.submit_key(uow, ACTOR, cid, "sk-7q2m-4txa-9kpl")
    assert view.step == "company"
    assert view.company is not None
    assert (view.company.name, view.company.postal_code, view.company.phone) == (
        "顧客A株式会社",
        "140-0002",
        "03-5780-2111",
    )
    assert view.company.address == "東京都品川区東品川4-12-7"
    assert render(f"registration.action.{view.actions[0]}", "ja") == "会社情報を確定する"

    async with domain.uow() as uow:
        view = await registration.confirm_company(uow, ACTOR, cid)
    assert view.step == "details"
    assert view.values == {"marketing_opt_in": False, "privacy_consent": False}

    async with domain.uow() as uow:
        view = await registration.submit_details(uow, ACTOR, cid, DETAILS)
    assert view.step == "confirm"
    assert view.values["email"] == "taro.yamada@customer-a.example.jp"
    assert view.values["last_name_kana"] == "ヤマダ" and view.values["first_name_kana"] == "タロウ"
    assert (view.values["prefecture"], view.values["city"]) == ("東京都", "品川区")
    assert view.values["phone"] == "03-1234-5678"
    assert view.company is not None and view.company.id == seeded.company_id

    async with domain.uow() as uow:
        view = await registration.submit(uow, ACTOR, cid)
    assert view.step == "done"
    assert view.values["username"] == "taro.yamada@customer-a.example.jp"
    assert render(view.message_id or "", "ja", **view.params) == (
        "Example Solutions「サポート・お問い合わせ」に登録いたしました。"
    )
    assert "taro.yamada@customer-a.example.jp" in render(view.hint_id or "", "ja", **view.params)

    async with domain.uow() as uow:
        account = (await uow.session.scalars(select(Account))).one()
        mails = (await uow.session.scalars(select(OutboxMessage))).all()
        actions = set((await uow.session.scalars(select(AuditRecord.action))).all())
        conversation = await uow.session.get(Conversation, cid)
    assert account.email == "taro.yamada@customer-a.example.jp"
    assert account.status == "pending" and account.company_id == seeded.company_id
    assert (account.slack_team_id, account.slack_user_id) == ("T1", "U1")
    assert account.marketing_opt_in is False and account.street == "東品川4-12-7 Aビル"
    assert [m.recipients for m in mails] == [["taro.yamada@customer-a.example.jp"]]
    assert {"registration.started", "registration.completed", "account.created"} <= actions
    # Nothing personal lingers in the finished conversation.
    assert conversation is not None and not conversation.data.get("details")


async def test_submitting_twice_shows_done_again_and_creates_one_account(
    domain: Core, seeded: Seeded
) -> None:
    view = await to_confirm(domain, seeded)
    for _ in range(2):
        async with domain.uow() as uow:
            done = await registration.submit(uow, ACTOR, view.conversation_id)
        assert done.step == "done"
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Account)) == 1


async def test_changing_the_company_searches_width_and_case_insensitively_and_picks(
    domain: Core, seeded: Seeded
) -> None:
    view = await to_company(domain, seeded)
    cid = view.conversation_id
    async with domain.uow() as uow:
        view = await registration.change_company(uow, ACTOR, cid)
    assert view.step == "company_search"
    async with domain.uow() as uow:
        view = await registration.search_companies(uow, ACTOR, cid, "ａｂｃ", "")
    assert view.step == "company_results"
    assert {c.name for c in view.results} == {"ＡＢＣ商事", "abc工業"}
    assert view.params == {"count": 2}

    async with domain.uow() as uow:
        view = await registration.search_companies(uow, ACTOR, cid, "ABC", "北海道 札幌市")
    assert [c.name for c in view.results] == ["abc工業"]
    assert view.values == {"company_name": "ABC", "company_area": "北海道 札幌市"}
    picked = view.results[0]

    async with domain.uow() as uow:
        view = await registration.pick_company(uow, ACTOR, cid, picked.id)
    assert view.step == "details"
    assert view.company == picked
    async with domain.uow() as uow:
        view = await registration.submit_details(uow, ACTOR, cid, DETAILS)
    async with domain.uow() as uow:
        await registration.submit(uow, ACTOR, cid)
    async with domain.uow() as uow:
        account = (await uow.session.scalars(select(Account))).one()
    assert account.company_id == seeded.other_ids["abc工業"]


async def test_only_a_company_offered_in_the_results_can_be_picked(domain: Core, seeded: Seeded) -> None:
    view = await to_company(domain, seeded)
    cid = view.conversation_id
    async with domain.uow() as uow:
        await registration.change_company(uow, ACTOR, cid)
    async with domain.uow() as uow:
        await registration.search_companies(uow, ACTOR, cid, "abc")
    error = await refusal(domain, registration.pick_company, cid, seeded.other_ids["顧客Q"])
    assert error.fields == {"company_name": "registration.error.pick"}


async def test_a_company_search_needs_a_name(domain: Core, seeded: Seeded) -> None:
    view = await to_company(domain, seeded)
    async with domain.uow() as uow:
        await registration.change_company(uow, ACTOR, view.conversation_id)
    error = await refusal(domain, registration.search_companies, view.conversation_id, "  ", "東京都")
    assert error.fields == {"company_name": "validation.required"}


async def test_when_no_company_is_found_the_customer_is_sent_to_the_contact_window(
    domain: Core, seeded: Seeded
) -> None:
    view = await to_company(domain, seeded)
    cid = view.conversation_id
    async with domain.uow() as uow:
        await registration.change_company(uow, ACTOR, cid)
    async with domain.uow() as uow:
        view = await registration.search_companies(uow, ACTOR, cid, "顧客A", "大阪府")
    assert view.step == "company_not_found"
    assert view.results == () and "submit" not in view.actions
    text = render(view.message_id or "", "ja", **view.params)
    assert "contact@support.example.com" in text and "見つかりませんでした" in text
    # The end of self-registration: no way on to the details.
    async with domain.uow() as uow:
        with pytest.raises(Conflict):
            await registration.confirm_company(uow, ACTOR, cid)
    async with domain.uow() as uow:
        actions = (await uow.session.scalars(select(AuditRecord.action))).all()
    assert "registration.company_not_found" in actions


async def test_back_from_the_confirmation_keeps_the_details_for_editing(domain: Core, seeded: Seeded) -> None:
    view = await to_confirm(domain, seeded)
    cid = view.conversation_id
    async with domain.uow() as uow:
        view = await registration.back(uow, ACTOR, cid, "details")
    assert view.step == "details" and view.values["last_name"] == "山田"
    async with domain.uow() as uow:
        view = await registration.submit_details(uow, ACTOR, cid, {**view.values, "title": "部長"})
    assert view.step == "confirm" and view.values["title"] == "部長"

    async with domain.uow() as uow:
        view = await registration.back(uow, ACTOR, cid, "company")
    assert view.step == "company" and view.company is not None
    async with domain.uow() as uow:
        await registration.change_company(uow, ACTOR, cid)
    async with domain.uow() as uow:
        view = await registration.search_companies(uow, ACTOR, cid, "顧客Q")
    async with domain.uow() as uow:
        view = await registration.pick_company(uow, ACTOR, cid, view.results[0].id)
    assert view.step == "details" and view.values["title"] == "部長"
    async with domain.uow() as uow:
        view = await registration.submit_details(uow, ACTOR, cid, view.values)
    assert view.company is not None and view.company.id == seeded.other_ids["顧客Q"]


@pytest.mark.parametrize(
    ("field", "value", "message_id"),
    [
        ("last_name", "", "validation.required"),
        ("first_name", " ", "validation.required"),
        ("last_name_kana", "山田", "registration.error.kana"),
        ("first_name_kana", "taro", "registration.error.kana"),
        ("email", "taro@", "registration.error.email"),
        ("email", "info@customer-a.example.jp", "registration.error.email_role"),
        ("phone", "03-1234", "registration.error.phone"),
        ("postal_code", "12345", "registration.error.postal_code"),
        ("street", "", "validation.required"),
        ("privacy_consent", False, "registration.error.consent_required"),
    ],
)
async def test_each_invalid_detail_is_refused_on_its_own_field(
    domain: Core, seeded: Seeded, field: str, value: object, message_id: str
) -> None:
    # With an address typed out, a bad postal code is the only problem (nothing to fill from).
    address = {"prefecture": "東京都", "city": "品川区"}
    with pytest.raises(ValidationFailed) as caught:
        await to_confirm(domain, seeded, **{**address, field: value})
    assert caught.value.fields == {field: message_id}
    assert render(message_id, "ja") and render(message_id, "en")


async def test_an_email_already_used_by_another_account_is_refused(domain: Core, seeded: Seeded) -> None:
    async with domain.uow() as uow:
        company = await factories.company(uow, "別会社")
        await factories.account(uow, company, "taro.yamada@customer-a.example.jp")
        await uow.commit()
    with pytest.raises(ValidationFailed) as caught:
        await to_confirm(domain, seeded, email="TARO.YAMADA@customer-a.example.jp")
    assert caught.value.fields == {"email": "registration.error.email_taken"}


async def test_an_email_taken_between_confirmation_and_submit_returns_to_the_details(
    domain: Core, seeded: Seeded
) -> None:
    view = await to_confirm(domain, seeded)
    async with domain.uow() as uow:
        await factories.account(
            uow, await factories.company(uow, "別会社"), "taro.yamada@customer-a.example.jp"
        )
        await uow.commit()
    error = await refusal(domain, registration.submit, view.conversation_id)
    assert error.fields == {"email": "registration.error.email_taken"}
    async with domain.uow() as uow:
        view = await registration.current(uow, ACTOR, view.conversation_id)
    assert view.step == "details" and view.values["last_name"] == "山田"


async def test_an_invalid_key_is_refused_on_the_key_field(domain: Core, seeded: Seeded) -> None:
    async with domain.uow() as uow:
        view = await registration.start(uow, ACTOR)
    error = await refusal(domain, registration.submit_key, view.conversation_id, "SK-NOPE-NOPE-NOPE")
    assert error.fields == {"support_key": "support_key.invalid"}
    error = await refusal(domain, registration.submit_key, view.conversation_id, "")
    assert error.fields == {"support_key": "validation.required"}


async def test_after_five_bad_keys_the_key_step_shows_the_wait(domain: Core, seeded: Seeded) -> None:
    async with domain.uow() as uow:
        view = await registration.start(uow, ACTOR)
    for _ in range(5):
        await refusal(domain, registration.submit_key, view.conversation_id, "SK-NOPE-NOPE-NOPE")
    # Even the right key is refused now, with the minutes to wait.
    error = await refusal(domain, registration.submit_key, view.conversation_id, seeded.key)
    assert error.fields == {"support_key": "throttle.wait"}
    assert error.params == {"minutes": 15}
    assert "15分後" in render(error.fields["support_key"], "ja", **error.params)


async def test_a_conversation_idle_for_thirty_minutes_expires_and_can_be_started_again(
    domain: Core, seeded: Seeded, clock: FrozenClock
) -> None:
    view = await to_company(domain, seeded)
    clock.advance(timedelta(minutes=29))
    async with domain.uow() as uow:
        await registration.confirm_company(uow, ACTOR, view.conversation_id)  # each step restarts the window
    clock.advance(timedelta(minutes=30))
    async with domain.uow() as uow:
        with pytest.raises(NotFound) as caught:
            await registration.submit_details(uow, ACTOR, view.conversation_id, DETAILS)
    assert caught.value.message_id == "registration.expired"
    assert "30分間" in render("registration.expired", "ja")
    async with domain.uow() as uow:
        assert await uow.session.get(Conversation, view.conversation_id) is None
        fresh = await registration.start(uow, ACTOR)
    assert fresh.step == "support_key" and fresh.conversation_id != view.conversation_id


async def test_starting_again_replaces_the_earlier_conversation(domain: Core, seeded: Seeded) -> None:
    first = await to_company(domain, seeded)
    async with domain.uow() as uow:
        second = await registration.start(uow, ACTOR)
    async with domain.uow() as uow:
        with pytest.raises(NotFound):
            await registration.current(uow, ACTOR, first.conversation_id)
        assert (await registration.current(uow, ACTOR, second.conversation_id)).step == "support_key"
        assert await uow.session.scalar(select(func.count()).select_from(Conversation)) == 1


async def test_an_unknown_conversation_id_reads_as_expired(domain: Core, seeded: Seeded) -> None:
    async with domain.uow() as uow:
        with pytest.raises(NotFound) as caught:
            await registration.submit_key(uow, ACTOR, "no-such-conversation", seeded.key)
    assert caught.value.message_id == "registration.expired"


async def test_another_actor_cannot_continue_someone_elses_conversation(domain: Core, seeded: Seeded) -> None:
    view = await to_company(domain, seeded)
    intruder = Actor(kind="anonymous", ref="slack:T1:U2", door="slack")
    async with domain.uow() as uow:
        with pytest.raises(Forbidden) as caught:
            await registration.confirm_company(uow, intruder, view.conversation_id)
    assert caught.value.message_id == "registration.not_yours"
    async with domain.uow() as uow:
        assert (await registration.current(uow, ACTOR, view.conversation_id)).step == "company"


async def test_a_step_out_of_order_is_a_conflict_naming_the_current_step(
    domain: Core, seeded: Seeded
) -> None:
    view = await to_company(domain, seeded)
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await registration.submit(uow, ACTOR, view.conversation_id)
    assert caught.value.message_id == "registration.wrong_step"
    assert caught.value.params == {"step": "company"}


async def test_a_second_process_continues_the_conversation(
    domain: Core, seeded: Seeded, clock: FrozenClock
) -> None:
    """Another instance: its own engine and Core on the same database, nothing shared."""
    from core.storage import create_engine, session_factory

    view = await to_company(domain, seeded)
    engine = create_engine(domain.settings.database_url)
    try:
        other = Core(session_factory(engine), domain.settings, clock)
        async with other.uow() as uow:
            view = await registration.confirm_company(uow, ACTOR, view.conversation_id)
        async with other.uow() as uow:
            view = await registration.submit_details(uow, ACTOR, view.conversation_id, DETAILS)
    finally:
        await engine.dispose()
    async with domain.uow() as uow:
        done = await registration.submit(uow, ACTOR, view.conversation_id)
    assert done.step == "done"


async def test_an_actor_with_an_account_cannot_start_a_registration(domain: Core) -> None:
    async with domain.uow() as uow:
        with pytest.raises(Conflict) as caught:
            await registration.start(
                uow, Actor(kind="account", ref="slack:T1:U1", door="slack", account_id=7)
            )
    assert caught.value.message_id == "registration.already_registered"


async def test_the_conversation_row_holds_no_support_key(domain: Core, seeded: Seeded) -> None:
    view = await to_confirm(domain, seeded)
    async with domain.uow() as uow:
        row = await uow.session.get(Conversation, view.conversation_id)
    assert row is not None
    assert "7Q2M" not in str(row.data) and "9KPL" not in str(row.data)


async def test_two_instances_submitting_at_once_create_one_account(domain: Core, seeded: Seeded) -> None:
    """A double click handled by two processes: real concurrent connections, one winner."""
    import asyncio

    from core.storage import create_engine, session_factory

    view = await to_confirm(domain, seeded)
    engine = create_engine(domain.settings.database_url)
    try:
        other = Core(session_factory(engine), domain.settings, domain.clock)

        async def submit_via(core: Core) -> View:
            async with core.uow() as uow:
                return await registration.submit(uow, ACTOR, view.conversation_id)

        views = await asyncio.gather(submit_via(domain), submit_via(other))
    finally:
        await engine.dispose()
    assert [v.step for v in views] == ["done", "done"]
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Account)) == 1
        assert await uow.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_a_key_revoked_before_submit_creates_no_account(domain: Core, seeded: Seeded) -> None:
    from core.models import SupportKey

    view = await to_confirm(domain, seeded)
    async with domain.uow() as uow:
        key = (await uow.session.scalars(select(SupportKey))).one()
        key.revoked_at = uow.clock.now()
        await uow.commit()
    async with domain.uow() as uow:
        with pytest.raises(DomainError) as caught:
            await registration.submit(uow, ACTOR, view.conversation_id)
    assert caught.value.message_id == "support_key.invalid"
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Account)) == 0
        with pytest.raises(NotFound):
            await registration.current(uow, ACTOR, view.conversation_id)


async def test_expired_conversations_are_purged_with_the_details_they_hold(
    domain: Core, seeded: Seeded, clock: FrozenClock
) -> None:
    await to_confirm(domain, seeded)
    async with domain.uow() as uow:
        assert await registration.purge_expired(uow) == 0
    clock.advance(timedelta(minutes=31))
    async with domain.uow() as uow:
        assert await registration.purge_expired(uow) == 1
        assert await uow.session.scalar(select(func.count()).select_from(Conversation)) == 0
