"""Sign-in links and email changes are link tokens: purged 30 days after they expire,
like activation links (core/housekeeping.py); an email change holds the address asked for."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import housekeeping
from core.account_tables import EmailChange, SignInLink
from core.unit_of_work import Core
from tests import factories

DAY = timedelta(days=1)


async def test_spent_sign_in_links_and_email_changes_are_purged_after_thirty_days(domain: Core) -> None:
    now = domain.clock.now()
    async with domain.uow() as uow:
        company = await factories.company(uow)
        account = await factories.account(uow, company, "taro@customer-a.example.jp")
        for n, expired in enumerate((now - 31 * DAY, now - 29 * DAY)):
            uow.session.add(
                SignInLink(
                    token_hash=f"{n}" * 64,
                    slack_team_id="T1",
                    slack_user_id="U1",
                    locale="ja",
                    created_at=expired - DAY,
                    expires_at=expired,
                )
            )
            uow.session.add(
                EmailChange(
                    account_id=account.id,
                    new_email=f"new{n}@customer-a.example.jp",
                    token_hash=f"{n}" * 64,
                    created_at=expired - DAY,
                    expires_at=expired,
                )
            )
        await uow.commit()
    purged = await housekeeping.purge(domain)
    assert purged.tokens == 2
    async with domain.uow() as uow:
        assert list(await uow.session.scalars(select(SignInLink.token_hash))) == ["1" * 64]
        assert list(await uow.session.scalars(select(EmailChange.new_email))) == [
            "new1@customer-a.example.jp"
        ]
