"""``/support-admin account create`` (SPEC §4.11): staff register a customer whose company
the registration wizard could not find — the company from the registration's search, the
details with the wizard's own checks — and the customer gets the account notification
mail; bad input changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from core.models import Account, AuditRecord, OutboxMessage
from tests import factories
from tests.integration.slack.conftest import TEAM, Slack

STAFF = "USTAFF1"
GOOD = {
    "last_name": "鈴木",
    "first_name": "一郎",
    "last_name_kana": "すずき",
    "first_name_kana": "ｲﾁﾛｳ",
    "email": "Ichiro.Suzuki@customer-b.example.jp",
    "phone": "０３－５５５５－６６６６",
    "postal_code": "1000005",
    "prefecture": "東京都",
    "city": "千代田区",
    "street": "丸の内1-1-1",
    "department": "",
    "title": "",
}


@pytest.fixture
async def company(slack: Slack) -> int:
    async with slack.door.core.uow() as uow:
        row = await factories.company(uow, "見つからない商事株式会社", address="大阪府大阪市北区梅田1-1")
        await factories.company(uow, "別の会社")
        await uow.commit()
        return row.id


def submission(
    company_id: int | None, values: dict[str, Any], consent: bool = True, user: str = STAFF
) -> dict:
    state: dict[str, Any] = {
        "company": {
            "staff_account_company": {
                "type": "external_select",
                "selected_option": {"value": str(company_id), "text": {"type": "plain_text", "text": "x"}}
                if company_id is not None
                else None,
            }
        }
    }
    for name, value in values.items():
        state[name] = {"value": {"type": "plain_text_input", "value": value}}
    options = [{"value": "yes"}] if consent else []
    state["privacy_consent"] = {"value": {"type": "checkboxes", "selected_options": options}}
    state["marketing_opt_in"] = {"value": {"type": "checkboxes", "selected_options": []}}
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A1",
        "trigger_id": "trigger-view",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "staff_account_create",
            "hash": "h1",
            "blocks": [],
            "state": {"values": state},
        },
    }


async def counts(slack: Slack) -> tuple[int, int, int]:
    async with slack.door.core.uow() as uow:
        accounts = await uow.session.scalar(select(func.count()).select_from(Account))
        mails = await uow.session.scalar(select(func.count()).select_from(OutboxMessage))
        created = await uow.session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action.like("account.created%"))
        )
    return int(accounts or 0), int(mails or 0), int(created or 0)


async def test_the_command_opens_the_modal_with_the_company_menu_and_the_wizards_fields(
    slack: Slack, company: int
) -> None:
    answer = await slack.command("/support-admin", "account create", user=STAFF)
    assert "アカウント作成の画面を開きました" in json.dumps(answer, ensure_ascii=False)
    opened = slack.fake.of("views.open")[-1].body
    assert opened["trigger_id"] == f"trigger-{slack.trigger}"
    view = opened["view"]
    assert view["callback_id"] == "staff_account_create"
    ids = [b.get("block_id") for b in view["blocks"]]
    for name in (
        "company",
        "last_name",
        "last_name_kana",
        "email",
        "phone",
        "postal_code",
        "privacy_consent",
    ):
        assert name in ids
    menu = view["blocks"][ids.index("company")]["element"]
    assert menu["type"] == "external_select" and menu["action_id"] == "staff_account_company"


async def test_the_company_menu_is_the_registration_search_for_staff_only(slack: Slack, company: int) -> None:
    def suggestion(user: str, text: str) -> dict[str, Any]:
        return {
            "type": "block_suggestion",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "team": {"id": TEAM, "domain": "example"},
            "api_app_id": "A1",
            "action_id": "staff_account_company",
            "block_id": "company",
            "value": text,
            "view": {"id": "V1", "type": "modal", "callback_id": "staff_account_create"},
        }

    found = await slack.interaction(suggestion(STAFF, "ｶﾗﾅｲ商事"))
    assert [o["value"] for o in found["options"]] == [str(company)]
    assert "見つからない商事株式会社" in found["options"][0]["text"]["text"]
    assert (await slack.interaction(suggestion("U1", "見つからない")))["options"] == []


async def test_staff_create_a_pending_account_and_the_notification_mail_goes_out(
    slack: Slack, company: int
) -> None:
    answer = await slack.interaction(submission(company, GOOD))
    assert answer["response_action"] == "update"
    assert "ichiro.suzuki@customer-b.example.jp" in json.dumps(answer, ensure_ascii=False)
    assert "見つからない商事株式会社" in json.dumps(answer, ensure_ascii=False)
    async with slack.door.core.uow() as uow:
        account = await uow.session.scalar(select(Account))
        mail = await uow.session.scalar(select(OutboxMessage))
        audited = (await uow.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id))).all()
    assert account is not None and account.company_id == company and account.status == "pending"
    # The wizard's normalisation: kana, phone, postal code, lower-cased address.
    assert (account.last_name_kana, account.first_name_kana) == ("スズキ", "イチロウ")
    assert account.phone == "03-5555-6666" and account.postal_code == "100-0005"
    assert account.email == "ichiro.suzuki@customer-b.example.jp"
    # The customer's account, not linked to the staff member's Slack user.
    assert account.slack_user_id is None and account.slack_team_id is None
    assert mail is not None and mail.recipients == [account.email] and mail.template == "account_welcome"
    assert "account.created" in audited and "account.created_by_staff" in audited


@pytest.mark.parametrize(
    ("company_given", "changes", "consent", "field"),
    [
        (False, {}, True, "company"),
        (True, {"last_name_kana": "Suzuki"}, True, "last_name_kana"),
        (True, {"email": "info@customer-b.example.jp"}, True, "email"),
        (True, {"postal_code": "12345"}, True, "postal_code"),
        (True, {"phone": ""}, True, "phone"),
        (True, {}, False, "privacy_consent"),
    ],
)
async def test_bad_input_is_shown_on_its_field_and_changes_nothing(
    slack: Slack, company: int, company_given: bool, changes: dict[str, str], consent: bool, field: str
) -> None:
    before = await counts(slack)
    answer = await slack.interaction(
        submission(company if company_given else None, {**GOOD, **changes}, consent)
    )
    assert answer["response_action"] == "errors"
    assert field in answer["errors"] and answer["errors"][field]
    assert await counts(slack) == before


async def test_an_address_already_registered_is_refused_and_changes_nothing(
    slack: Slack, company: int
) -> None:
    async with slack.door.core.uow() as uow:
        row = await uow.session.get(factories.Company, company)
        assert row is not None
        await factories.account(uow, row, GOOD["email"])
        await uow.commit()
    before = await counts(slack)
    answer = await slack.interaction(submission(company, GOOD))
    assert answer["errors"]["email"]
    assert await counts(slack) == before


async def test_a_customer_cannot_create_accounts(slack: Slack, company: int) -> None:
    refused = await slack.command("/support-admin", "account create", user="U1")
    assert "この操作はスタッフのみ行えます。" in json.dumps(refused, ensure_ascii=False)
    assert not slack.fake.of("views.open")
    before = await counts(slack)
    answer = await slack.interaction(submission(company, GOOD, user="U1"))
    assert "スタッフのみ" in json.dumps(answer, ensure_ascii=False)
    assert await counts(slack) == before
