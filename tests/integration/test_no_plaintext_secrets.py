"""SPEC §4.1 acceptance: after a full scenario, no table holds a support key, a link
token or a password in the clear, in any spelling."""

from __future__ import annotations

import json
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import (
    accounts,
    contact_window,
    importing,
    profile,
    registration,
    signin,
    staff_desk,
    support_ids,
    support_keys,
    terms,
)
from core.actors import SYSTEM_CLI, Actor
from core.clock import FrozenClock
from core.errors import Forbidden, InvalidSupportKey, ValidationFailed
from core.models import Base, OutboxMessage
from core.normalize import support_key as canonical
from core.outbox_worker import OutboxWorker
from core.unit_of_work import Core
from mail.inbound import InboundProcessor
from mail.transport import build_transport

CUSTOMER = Actor(kind="anonymous", ref="slack:T1:U1", door="slack", slack_user=("T1", "U1"))
WEB = Actor(kind="anonymous", ref="ip:192.0.2.1", door="web")
MAIL = Actor(kind="anonymous", ref="mail:taro.yamada@customer-a.example.jp", door="mail")
STAFF = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")

DETAILS: dict[str, Any] = {
    "last_name": "山田",
    "first_name": "太郎",
    "last_name_kana": "ヤマダ",
    "first_name_kana": "タロウ",
    "department": "",
    "title": "",
    "email": "Taro.Yamada@customer-a.example.jp",
    "phone": "03-1234-5678",
    "postal_code": "1400002",
    "prefecture": "東京都",
    "city": "品川区",
    "street": "東品川4-12-7",
    "marketing_opt_in": False,
    "privacy_consent": True,
}


async def _links(domain: Core) -> list[str]:
    async with domain.uow() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [uow.sealer.open(r.sealed)["link"] for r in rows if r.sealed]


def _mail_text(path: Path) -> str:
    message = message_from_bytes(path.read_bytes(), policy=default)
    return "".join(
        str(part.get_content()) for part in message.walk() if part.get_content_type() == "text/plain"
    )


async def _dump(domain: Core) -> str:
    """Every value of every table, as text (JSON fields in full, bytes as Latin-1)."""
    parts: list[str] = []
    async with domain.uow() as uow:
        for table in Base.metadata.sorted_tables:
            for row in (await uow.session.execute(table.select())).all():
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("latin-1"))
                    elif isinstance(value, dict | list):
                        parts.append(json.dumps(value, ensure_ascii=False))
                    else:
                        parts.append(str(value))
    return "\n".join(parts).casefold()


VENDOR_FILE: dict[str, Any] = {
    "companies": [
        {"code": "C001", "name": "顧客A株式会社", "postal_code": "140-0002",
         "address": "東京都品川区東品川4-12-7", "phone": "03-5780-2111"}
    ],
    "contracts": [
        {"number": "K-0001", "company": "C001", "product_family": "製品Aファミリ", "end_user": "顧客A",
         "starts_on": "2024-01-01", "ends_on": "2027-12-31", "requires_terms": False,
         "keys": ["SK-7Q2M-4TXA-9KPL"]},
        {"number": "K-0002", "company": "C001", "product_family": "製品Bファミリ", "end_user": "顧客A",
         "starts_on": "2024-01-01", "ends_on": "2027-12-31", "requires_terms": True,
         "keys": ["SK-MIGR-0001-0001"]},
        {"number": "K-0003", "company": "C001", "product_family": "製品Cファミリ", "end_user": "顧客A",
         "starts_on": "2024-01-01", "ends_on": "2027-12-31", "requires_terms": False, "keys": []},
    ],
    "support_ids": [
        {"name": "MIGRATED_001", "description": "移行済み", "keys": ["SK-MIGR-0001-0001"],
         "contacts": ["taro.yamada@customer-a.example.jp"]}
    ],
}  # fmt: skip


async def test_no_table_holds_a_key_token_or_password_in_plaintext(
    domain: Core, clock: FrozenClock, tmp_path: Path
) -> None:
    secrets: list[str] = ["SK-7Q2M-4TXA-9KPL", "SK-MIGR-0001-0001"]
    imported = secrets[0]
    vendor_file = tmp_path / "vendor.json"
    vendor_file.write_text(json.dumps(VENDOR_FILE, ensure_ascii=False), encoding="utf-8")
    async with domain.uow() as uow:
        await importing.import_file(uow, SYSTEM_CLI, vendor_file)

    # Two failed guesses, then registration with the key typed in another spelling.
    wrong = "SK-GUES-SWRO-NG42"
    secrets.append(wrong)
    for _ in range(2):
        async with domain.uow() as uow:
            with pytest.raises(InvalidSupportKey):
                await support_keys.check_usable(uow, wrong, CUSTOMER.ref)
    async with domain.uow() as uow:
        view = await registration.start(uow, CUSTOMER)
    cid = view.conversation_id
    async with domain.uow() as uow:
        await registration.submit_key(uow, CUSTOMER, cid, "ｓｋ－７ｑ２ｍ－４ｔｘａ－９ｋｐｌ")
    async with domain.uow() as uow:
        await registration.confirm_company(uow, CUSTOMER, cid)
    async with domain.uow() as uow:
        await registration.submit_details(uow, CUSTOMER, cid, DETAILS)
    async with domain.uow() as uow:
        assert (await registration.submit(uow, CUSTOMER, cid)).step == "done"

    # Activation, a resent link, a reset, a reminder.
    async with domain.uow() as uow:
        assert await accounts.resend_activation(uow, MAIL, DETAILS["email"]) == "sent"
        await uow.commit()
    first_password = "Sakura2026Spring"
    token = (await _links(domain))[-1].rsplit("/", 1)[1]
    async with domain.uow() as uow:
        await accounts.set_password_with_token(uow, token, first_password, WEB)
    clock.advance(timedelta(days=1))
    async with domain.uow() as uow:
        assert await accounts.request_password_reset(uow, MAIL, DETAILS["email"])
        assert await accounts.send_username_reminder(uow, MAIL, DETAILS["email"])
        await uow.commit()
    second_password = "Momiji2026Autumn"
    token = (await _links(domain))[-1].rsplit("/", 1)[1]
    async with domain.uow() as uow:
        with pytest.raises(ValidationFailed):  # a weak attempt first: it must not be stored either
            await accounts.set_password_with_token(uow, token, "weakpass", WEB)
    async with domain.uow() as uow:
        await accounts.set_password_with_token(uow, token, second_password, WEB)
    secrets += [first_password, second_password, "weakpass"]
    links = await _links(domain)
    assert len(links) == 3
    secrets += [link.rsplit("/", 1)[1] for link in links]

    # Staff issue keys (shown once); the customer builds a support ID with one.
    async with domain.uow() as uow:
        issued = await staff_desk.issue_key(uow, STAFF, "K-0003")
    async with domain.uow() as uow:
        mailed = await staff_desk.issue_key(uow, STAFF, "K-0001", by_mail=True)
    secrets += [issued.raw, mailed.raw]
    async with domain.uow() as uow:
        account = await accounts.account_by_email(uow, DETAILS["email"])
    assert account is not None
    member = Actor(kind="account", ref="slack:T1:U1", door="slack", account_id=account.id)
    async with domain.uow() as uow:
        await support_ids.issue(uow, member, issued.raw.lower(), "TEAM_A", "チームA")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, member, "TEAM_A", imported)
    async with domain.uow() as uow:
        await terms.agree(uow, member, "MIGRATED_001", entitled=True)
        listed = await support_ids.list_for_account(uow, member)
    assert {s.name for s in listed} == {"TEAM_A", "MIGRATED_001"}
    async with domain.uow() as uow:
        await staff_desk.revoke_key(uow, STAFF, imported)

    # The contact window: the customer writes that the password is lost; the reset link
    # is mailed by the outbox worker, after which not even its sealed copy remains.
    forgot = EmailMessage()
    forgot["From"] = "Taro Yamada <taro.yamada@customer-a.example.jp>"
    forgot["To"] = domain.settings.contact_address
    forgot["Subject"] = "パスワードを忘れました"
    forgot["Message-ID"] = "<forgot-1@customer-a.example.jp>"
    forgot.set_content("パスワードを再設定したいです。")
    async with domain.uow() as uow:
        await contact_window.store_inbound(
            uow,
            forgot.as_bytes(policy=SMTP),
            "taro.yamada@customer-a.example.jp",
            [domain.settings.contact_address],
        )
    await InboundProcessor(domain).run_once()
    links = await _links(domain)
    assert len(links) == 4 and "/reset/" in links[-1]
    secrets.append(links[-1].rsplit("/", 1)[1])
    await OutboxWorker(domain, build_transport(domain.settings)).drain()
    assert await _links(domain) == []  # every sealed link erased once its mail went out
    assert any(links[-1] in _mail_text(f) for f in Path(domain.settings.outbox_dir).rglob("*.eml"))

    # A sign-in link asked from another workspace, a wrong and a right password on the
    # sign-in page, then an email change whose link waits (sealed) in the outbox.
    async with domain.uow() as uow:
        asked = Actor(kind="anonymous", ref="slack:T2:U9", door="slack", slack_user=("T2", "U9"))
        signin_token = (await signin.issue_link(uow, asked)).url.rsplit("/", 1)[1]
    async with domain.uow() as uow:
        with pytest.raises(Forbidden):
            await signin.sign_in(
                uow, signin_token, DETAILS["email"], "Wrong-Guess-99", client="ip", actor=WEB
            )
    async with domain.uow() as uow:
        await signin.sign_in(uow, signin_token, DETAILS["email"], second_password, client="ip", actor=WEB)
    async with domain.uow() as uow:
        await profile.update_details(uow, member, {**DETAILS, "email": "taro.new@customer-a.example.jp"})
    [change_link] = await _links(domain)
    secrets += [signin_token, "Wrong-Guess-99", change_link.rsplit("/", 1)[1]]

    dump = await _dump(domain)
    # The dump does see the tables: hashes and last-4 digits are there.
    assert "$argon2id$" in dump and "9kpl" in dump and issued.raw[-4:].casefold() in dump
    for secret in secrets:
        for spelling in {secret, canonical(secret)}:
            assert spelling.casefold() not in dump, f"{secret!r} found in the database"
