"""SPEC §3, §4.1, §4.11: a key sent by mail — staff ``key issue CONTRACT mail`` or a
contract ``issued_by_mail`` in the vendor file — works from the next business day. Tried
earlier it is refused with the day it starts to work; the clock is moved over a weekend
and a public holiday (勤労感謝の日, Mon 2026-11-23) to that day."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core import importing
from core.actors import SYSTEM_CLI
from core.clock import JST, FrozenClock
from core.models import SupportKey
from tests import factories
from tests.integration.slack.conftest import Slack

STAFF = "USTAFF1"
FRIDAY = datetime(2026, 11, 20, 10, 0, tzinfo=JST)
HOLIDAY = datetime(2026, 11, 23, 9, 0, tzinfo=JST)
TUESDAY = datetime(2026, 11, 24, 9, 0, tzinfo=JST)
NOT_YET = "このサポートキーはメールでお送りしたもので、2026年11月24日（火）からご利用いただけます。"


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


@pytest.fixture
async def customer(slack: Slack, clock: FrozenClock) -> None:
    clock.set(FRIDAY)
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        await factories.contract(uow, company, number="K-0001")
        await factories.account(
            uow, company, "me@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        await uow.commit()


async def test_a_key_issued_for_mail_is_refused_until_the_next_business_day(
    slack: Slack, clock: FrozenClock, customer: None
) -> None:
    issued = text_of(await slack.command("/support-admin", "key issue K-0001 mail", user=STAFF))
    assert "2026年11月24日（火）から有効" in issued
    key = re.search(r"`(SK-[A-Z0-9-]+)`", issued)
    assert key is not None
    raw = key.group(1)

    refused = text_of(await slack.command("/support", f"id new {raw} MAILED_01"))
    assert NOT_YET in refused and "MAILED_01」を発行" not in refused
    clock.set(HOLIDAY)
    assert NOT_YET in text_of(await slack.command("/support", f"id new {raw} MAILED_01"))
    async with slack.door.core.uow() as uow:
        assert (await uow.session.scalars(select(SupportKey.support_id_id))).all() == [None]

    clock.set(TUESDAY)
    accepted = text_of(await slack.command("/support", f"id new {raw} MAILED_01"))
    assert "サポートID「MAILED_01」を発行しました。" in accepted


async def test_a_key_issued_at_the_desk_works_at_once(slack: Slack, customer: None) -> None:
    issued = text_of(await slack.command("/support-admin", "key issue K-0001", user=STAFF))
    assert "2026年11月20日（金）から有効" in issued
    raw = re.findall(r"`(SK-[A-Z0-9-]+)`", issued)[0]
    assert "を発行しました" in text_of(await slack.command("/support", f"id new {raw} DESK_01"))


async def test_key_issue_with_another_word_than_mail_issues_nothing(slack: Slack, customer: None) -> None:
    answer = text_of(await slack.command("/support-admin", "key issue K-0001 post", user=STAFF))
    assert "「post」は指定できません。" in answer and "/support-admin key issue CONTRACT mail" in answer
    async with slack.door.core.uow() as uow:
        assert (await uow.session.scalars(select(SupportKey))).all() == []


async def test_keys_of_a_contract_issued_by_mail_in_the_vendor_file_wait_for_the_next_business_day(
    slack: Slack, clock: FrozenClock, customer: None, tmp_path: Path
) -> None:
    vendor = {
        "companies": [{"code": "C9", "name": "顧客B", "address": "東京都港区1-1", "phone": "03-0000-0000"}],
        "contracts": [
            {
                "number": "K-MAIL",
                "company": "C9",
                "product_family": "製品Aファミリ",
                "starts_on": "2024-01-01",
                "ends_on": "2027-12-31",
                "issued_by_mail": True,
                "keys": ["SK-MAIL-MAIL-0001"],
            },
            {
                "number": "K-HAND",
                "company": "C9",
                "starts_on": "2024-01-01",
                "ends_on": "2027-12-31",
                "keys": ["SK-HAND-HAND-0002"],
            },
        ],
    }
    path = tmp_path / "vendor.json"
    path.write_text(json.dumps(vendor, ensure_ascii=False), encoding="utf-8")
    async with slack.door.core.uow() as uow:
        await importing.import_file(uow, SYSTEM_CLI, path)
    # Importing the same file again on another day changes nothing (SPEC §3).
    clock.set(HOLIDAY)
    async with slack.door.core.uow() as uow:
        await importing.import_file(uow, SYSTEM_CLI, path)
        rows = {k.last4: (k.issued_via, k.usable_from) for k in await uow.session.scalars(select(SupportKey))}
    assert rows["0001"][0] == "mail" and str(rows["0001"][1]) == "2026-11-24"
    assert rows["0002"] == ("import", None)

    assert NOT_YET in text_of(await slack.command("/support", "id new SK-MAIL-MAIL-0001 MAILED_02"))
    assert "を発行しました" in text_of(await slack.command("/support", "id new SK-HAND-HAND-0002 HAND_02"))
    clock.set(TUESDAY)
    assert "を発行しました" in text_of(await slack.command("/support", "id new SK-MAIL-MAIL-0001 MAILED_02"))


async def test_an_issued_by_mail_that_is_not_a_boolean_is_refused_with_its_position(
    slack: Slack, customer: None, tmp_path: Path
) -> None:
    vendor = {
        "companies": [{"code": "C9", "name": "顧客B"}],
        "contracts": [
            {
                "number": "K-MAIL",
                "company": "C9",
                "starts_on": "2024-01-01",
                "ends_on": "2027-12-31",
                "issued_by_mail": "yes",
                "keys": ["SK-MAIL-MAIL-0001"],
            }
        ],
    }
    path = tmp_path / "vendor.json"
    path.write_text(json.dumps(vendor, ensure_ascii=False), encoding="utf-8")
    async with slack.door.core.uow() as uow:
        with pytest.raises(importing.ImportRejected) as refused:
            await importing.import_file(uow, SYSTEM_CLI, path)
    assert refused.value.path == "contracts[0].issued_by_mail"


async def test_the_registration_modal_tells_a_mailed_key_its_day_on_the_key_block(
    slack: Slack, clock: FrozenClock, customer: None
) -> None:
    issued = text_of(await slack.command("/support-admin", "key issue K-0001 mail", user=STAFF))
    raw = re.findall(r"`(SK-[A-Z0-9-]+)`", issued)[0]
    await slack.command("/support", "register", user="U7")
    view = slack.fake.of("views.open")[-1].body["view"]
    answer = await slack.interaction(slack.view_submission(view, {"support_key": raw}, user="U7"))
    assert answer["response_action"] == "errors"
    assert NOT_YET in answer["errors"]["support_key"]
    clock.set(TUESDAY)
    await slack.command("/support", "register", user="U7")
    view = slack.fake.of("views.open")[-1].body["view"]
    answer = await slack.interaction(slack.view_submission(view, {"support_key": raw}, user="U7"))
    assert answer["response_action"] == "update" and "顧客A株式会社" in str(answer["view"])
