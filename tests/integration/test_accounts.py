"""Accounts: creation at the end of registration, links, passwords, self-service."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import accounts, audit, passwords
from core.actors import Actor
from core.clock import FrozenClock
from core.contact_details import ContactDetails
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.models import Account, AccountToken, OutboxMessage, PendingContact, SupportId, SupportIdContact
from core.unit_of_work import Core
from tests import factories

SLACK_ACTOR = Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1"))
WEB = Actor(kind="anonymous", ref="ip:192.0.2.1", door="web")
MAIL = Actor(kind="anonymous", ref="mail:taro@customer-a.example.jp", door="mail")
STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")


def details(email: str = "Taro.Yamada@Customer-A.example.jp", **changes: Any) -> ContactDetails:
    return factories.details(email, **{"department": "情報システム部", **changes})


async def register(domain: Core, email: str = "Taro.Yamada@Customer-A.example.jp") -> accounts.AccountView:
    async with domain.uow() as uow:
        company = await factories.company(uow)
        created = await accounts.create_account(uow, SLACK_ACTOR, details(email), company.id, "ja")
        await uow.commit()
    return created


async def last_link(domain: Core, template: str | None = None) -> str:
    """The link of the newest mail, as the mail worker would open it."""
    async with domain.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
        if template:
            query = query.where(OutboxMessage.template == template)
        row = (await uow.session.scalars(query)).first()
        assert row is not None
        return str(uow.sealer.open(row.sealed)["link"])


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def test_created_account_has_the_lower_cased_email_as_username_and_waits_for_a_password(
    domain: Core,
) -> None:
    created = await register(domain)
    assert created.username == "taro.yamada@customer-a.example.jp"
    assert created.status == "pending"
    assert (created.slack_team_id, created.slack_user_id) == ("T1", "U1")
    async with domain.uow() as uow:
        found = await accounts.account_for_slack_user(uow, "T1", "U1")
        row = await uow.session.get(Account, created.id)
    assert found is not None and found.id == created.id
    assert row is not None and row.password_hash is None and row.department == "情報システム部"


async def test_welcome_mail_carries_the_link_only_in_its_sealed_part(domain: Core) -> None:
    created = await register(domain)
    async with domain.uow() as uow:
        mail = (await uow.session.scalars(select(OutboxMessage))).one()
        token = (await uow.session.scalars(select(AccountToken))).one()
        secrets = uow.sealer.open(mail.sealed)
    assert mail.template == "account_welcome"
    assert mail.recipients == [created.username]
    assert mail.context == {
        "username": created.username,
        "vendor": domain.settings.vendor_name,
        "service": domain.settings.service_name,
        "company": "顧客A",
        "last_name": "山田",
        "first_name": "太郎",
        "expires_at": "2026年12月3日（木）10時00分",
    }
    assert secrets["link"].startswith("http://127.0.0.1:3000/activate/")
    raw = token_of(secrets["link"])
    assert len(raw) >= 43  # 256 bits, URL-safe base64
    assert raw not in mail.sealed and raw not in str(mail.context)
    assert token.token_hash == domain.hasher.digest(raw, purpose=accounts.TOKEN_HASH_PURPOSE)
    assert token.purpose == "activation"


async def test_a_second_account_with_the_same_email_in_another_case_is_refused(domain: Core) -> None:
    await register(domain, "hanako@customer-a.example.jp")
    async with domain.uow() as uow:
        company = await factories.company(uow)
        assert await accounts.email_taken(uow, "HANAKO@customer-a.example.jp")
        with pytest.raises(Conflict) as caught:
            await accounts.create_account(uow, WEB, details("HANAKO@Customer-A.example.jp"), company.id, "ja")
    assert caught.value.message_id == "accounts.email_taken"


async def test_an_account_without_privacy_consent_is_not_created(domain: Core) -> None:
    async with domain.uow() as uow:
        company = await factories.company(uow)
        with pytest.raises(ValidationFailed) as caught:
            await accounts.create_account(uow, WEB, details(privacy_consent=False), company.id, "ja")
    assert caught.value.fields == {"privacy_consent": "accounts.consent_required"}


async def test_registering_links_the_pending_contacts_of_migrated_support_ids(domain: Core) -> None:
    async with domain.uow() as uow:
        sid = SupportId(
            name="MIGRATED_001", name_key="migrated_001", migrated=True, created_at=uow.clock.now()
        )
        uow.session.add(sid)
        await uow.session.flush()
        uow.session.add(PendingContact(support_id_id=sid.id, email="taro.yamada@customer-a.example.jp"))
        await uow.commit()
    created = await register(domain)
    async with domain.uow() as uow:
        contacts = (await uow.session.scalars(select(SupportIdContact))).all()
        pending = (await uow.session.scalars(select(PendingContact))).all()
        trail = await audit.history(uow, support_id_id=sid.id)
    assert [(c.support_id_id, c.account_id) for c in contacts] == [(sid.id, created.id)]
    assert pending == []
    assert [r.action for r in trail] == ["support_id.contact_linked"]


async def test_setting_a_password_with_the_link_activates_the_account_once(domain: Core) -> None:
    created = await register(domain)
    token = token_of(await last_link(domain))
    async with domain.uow() as uow:
        info = await accounts.inspect_link(uow, token)
    assert (info.username, info.purpose) == (created.username, "activation")
    async with domain.uow() as uow:
        active = await accounts.set_password_with_token(uow, token, "Sakura2026", WEB)
    assert active.status == "active" and active.activated_at is not None
    async with domain.uow() as uow:
        row = await uow.session.get(Account, created.id)
        assert row is not None
        assert await passwords.verify_password(row.password_hash, "Sakura2026")
        with pytest.raises(NotFound) as caught:
            await accounts.set_password_with_token(uow, token, "Sakura2027", WEB)
    assert caught.value.message_id == "accounts.link_used"


async def test_a_weak_password_is_refused_and_leaves_the_link_usable(domain: Core) -> None:
    created = await register(domain)
    token = token_of(await last_link(domain))
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            await accounts.set_password_with_token(uow, token, created.username, WEB)
    assert caught.value.fields["password"] in {"password.is_username", "password.needs_upper"}
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed):
            await accounts.set_password_with_token(uow, token, "password", WEB)
    async with domain.uow() as uow:
        assert (await accounts.set_password_with_token(uow, token, "Passw0rd", WEB)).status == "active"


async def test_the_link_expires_seven_days_after_sending(domain: Core, clock: FrozenClock) -> None:
    await register(domain)
    token = token_of(await last_link(domain))
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    async with domain.uow() as uow:
        await accounts.inspect_link(uow, token)
    clock.advance(timedelta(seconds=1))
    async with domain.uow() as uow:
        with pytest.raises(NotFound) as caught:
            await accounts.set_password_with_token(uow, token, "Sakura2026", WEB)
    assert caught.value.message_id == "accounts.link_expired"


async def test_an_unknown_link_is_told_apart_from_used_and_expired(domain: Core) -> None:
    for token in ("", "x" * 200, "not-a-token-we-sent"):
        async with domain.uow() as uow:
            with pytest.raises(NotFound) as caught:
                await accounts.inspect_link(uow, token)
        assert caught.value.message_id == "accounts.link_unknown"


async def test_a_resent_activation_link_replaces_the_old_one(domain: Core, clock: FrozenClock) -> None:
    created = await register(domain)
    first = token_of(await last_link(domain))
    clock.advance(timedelta(days=6))
    async with domain.uow() as uow:
        assert await accounts.resend_activation(uow, STAFF, created.username.upper()) == "sent"
        await uow.commit()
    second = token_of(await last_link(domain, "activation_resent"))
    async with domain.uow() as uow:
        with pytest.raises(NotFound) as caught:
            await accounts.inspect_link(uow, first)
    assert caught.value.message_id == "accounts.link_expired"
    # The new link has its own seven days.
    clock.advance(timedelta(days=6))
    async with domain.uow() as uow:
        assert (await accounts.set_password_with_token(uow, second, "Sakura2026", WEB)).status == "active"
    async with domain.uow() as uow:
        assert await accounts.resend_activation(uow, STAFF, created.username) == "active"
        assert await accounts.resend_activation(uow, STAFF, "nobody@example.jp") == "unknown"


async def test_password_reset_mails_a_link_that_sets_a_new_password(domain: Core) -> None:
    created = await register(domain)
    first_link = await last_link(domain)
    async with domain.uow() as uow:
        await accounts.set_password_with_token(uow, token_of(first_link), "Sakura2026", WEB)
    async with domain.uow() as uow:
        assert await accounts.request_password_reset(uow, MAIL, created.username)
        assert not await accounts.request_password_reset(uow, MAIL, "nobody@example.jp")
        await uow.commit()
    link = await last_link(domain, "password_reset")
    assert link.startswith("http://127.0.0.1:3000/reset/")
    async with domain.uow() as uow:
        assert (await accounts.inspect_link(uow, token_of(link))).purpose == "reset"
        await accounts.set_password_with_token(uow, token_of(link), "Momiji2026", WEB)
    async with domain.uow() as uow:
        row = await uow.session.get(Account, created.id)
        assert row is not None
        assert await passwords.verify_password(row.password_hash, "Momiji2026")
        trail = [r.action for r in await audit.history(uow, account_id=created.id)]
    assert trail[:2] == ["account.password_set", "account.link_sent"]


async def test_reset_links_beyond_five_an_hour_are_not_sent(domain: Core, clock: FrozenClock) -> None:
    created = await register(domain)
    sent = []
    for _ in range(7):
        async with domain.uow() as uow:
            sent.append(await accounts.request_password_reset(uow, MAIL, created.username))
            await uow.commit()
    assert sent == [True] * 5 + [False] * 2
    clock.advance(timedelta(hours=1))
    async with domain.uow() as uow:
        assert await accounts.request_password_reset(uow, MAIL, created.username)


async def test_self_service_changes_nothing_until_the_caller_commits(domain: Core) -> None:
    created = await register(domain)
    async with domain.uow() as uow:
        assert await accounts.request_password_reset(uow, MAIL, created.username)
        assert await accounts.send_username_reminder(uow, MAIL, created.username)
    async with domain.uow() as uow:
        templates = (await uow.session.scalars(select(OutboxMessage.template))).all()
    assert templates == ["account_welcome"]


async def test_username_reminder_goes_to_the_registered_address_only(domain: Core) -> None:
    created = await register(domain)
    async with domain.uow() as uow:
        assert await accounts.send_username_reminder(uow, MAIL, created.username.upper())
        assert not await accounts.send_username_reminder(uow, MAIL, "stranger@example.jp")
        mail = (
            await uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.template == "username_reminder")
            )
        ).one()
    assert mail.recipients == [created.username]
    assert mail.context["username"] == created.username
    assert mail.sealed == ""


async def test_a_disabled_account_gets_no_links_and_its_open_links_stop_working(domain: Core) -> None:
    created = await register(domain)
    token = token_of(await last_link(domain))
    async with domain.uow() as uow:
        assert (await accounts.disable(uow, STAFF, created.username)).status == "disabled"
    async with domain.uow() as uow:
        with pytest.raises(NotFound):
            await accounts.set_password_with_token(uow, token, "Sakura2026", WEB)
        assert not await accounts.request_password_reset(uow, MAIL, created.username)
        assert not await accounts.send_username_reminder(uow, MAIL, created.username)
        assert await accounts.resend_activation(uow, STAFF, created.username) == "disabled"
    async with domain.uow() as uow:
        assert (await accounts.enable(uow, STAFF, created.username)).status == "pending"
        trail = [r.action for r in await audit.history(uow, account_id=created.id)]
    assert trail[:2] == ["account.enabled", "account.disabled"]


async def test_only_staff_may_disable_an_account(domain: Core) -> None:
    created = await register(domain)
    async with domain.uow() as uow:
        with pytest.raises(Forbidden):
            await accounts.disable(uow, WEB, created.username)
        with pytest.raises(NotFound):
            await accounts.enable(uow, STAFF, "nobody@example.jp")


async def test_linking_a_slack_user_moves_it_from_its_previous_account(domain: Core) -> None:
    first = await register(domain, "first@customer-a.example.jp")
    async with domain.uow() as uow:
        company = await factories.company(uow)
        second = await accounts.create_account(
            uow, WEB, details("second@customer-a.example.jp"), company.id, "en"
        )
        await uow.commit()
    assert second.slack_user_id is None and second.locale == "en"
    async with domain.uow() as uow:
        company = await factories.company(uow)
        third = await accounts.create_account(
            uow, WEB, details("third@customer-a.example.jp"), company.id, "fr"
        )
    assert third.locale == "ja"
    async with domain.uow() as uow:
        await accounts.link_slack_user(uow, SLACK_ACTOR, second.id, "T1", "U1")
    async with domain.uow() as uow:
        found = await accounts.account_for_slack_user(uow, "T1", "U1")
        old = await accounts.account_by_email(uow, first.username)
    assert found is not None and found.id == second.id
    assert old is not None and old.slack_user_id is None


async def test_two_submissions_racing_on_one_link_have_exactly_one_winner(domain: Core) -> None:
    await register(domain)
    token = token_of(await last_link(domain))

    async def submit(password: str) -> str:
        async with domain.uow() as uow:
            try:
                await accounts.set_password_with_token(uow, token, password, WEB)
            except NotFound as refused:
                return refused.message_id
            return "ok"

    outcomes = await asyncio.gather(submit("Sakura2026"), submit("Momiji2026"))
    assert sorted(outcomes) == ["accounts.link_used", "ok"]
    async with domain.uow() as uow:
        used = (await uow.session.scalars(select(AccountToken.used_at))).all()
    assert len(used) == 1 and used[0] is not None


async def test_activation_resends_are_capped_for_customers_but_not_for_staff(domain: Core) -> None:
    created = await register(domain)  # the welcome mail is the first link of the hour
    for _ in range(5):
        async with domain.uow() as uow:
            assert await accounts.resend_activation(uow, MAIL, created.username) == "sent"
            await uow.commit()
    async with domain.uow() as uow:
        assert await accounts.resend_activation(uow, STAFF, created.username) == "sent"
        await uow.commit()
        sent = (await uow.session.scalars(select(AccountToken.purpose))).all()
        trail = [r.action for r in await audit.history(uow, account_id=created.id)]
    assert len(sent) == 6
    assert trail.count("account.link_suppressed") == 1


async def test_other_requests_use_the_database_while_a_password_is_being_hashed(
    domain: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await register(domain)
    link = await last_link(domain)
    real_hash = passwords.hash_password
    seen_meanwhile: list[int] = []

    async def hash_while_another_request_reads(password: str) -> str:
        # On SQLite the process has one connection: this read can only run if the
        # password page gave the database back before hashing.
        async def read() -> None:
            async with domain.uow() as other:
                seen_meanwhile.append(len((await other.session.scalars(select(Account.id))).all()))

        await asyncio.wait_for(read(), timeout=10)
        return await real_hash(password)

    monkeypatch.setattr(passwords, "hash_password", hash_while_another_request_reads)
    async with domain.uow() as uow:
        result = await accounts.set_password_with_token(uow, token_of(link), "Sakura2026", WEB)
    assert seen_meanwhile == [1]
    assert result.status == "active"
    assert created.username == result.username
