"""Articles for the knowledge tests: a vendor file's ``articles`` part, a customer with a
key of 製品Aファミリ in force, one whose contract has ended, and one without keys."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core import importing
from core.actors import SYSTEM_CLI, Actor
from core.models import SupportId, SupportIdContact, SupportKey
from core.storage import create_engine
from core.unit_of_work import Core
from tests import factories
from tests.conftest import _pg_admin

ARTICLES: list[dict[str, Any]] = [
    {
        "code": "KB-A-0001",
        "title": "帳票出力でエラーになる",
        "body": "## 現象\n帳票を**印刷**すると `E-1001` が表示されます。\n\n- 設定を確認する\n- [手順書](https://example.com/manual)",
        "product_family": "製品Aファミリ",
        "visibility": "contract",
        "tags": ["帳票", "印刷"],
        "updated_on": "2025-04-01",
        "withdrawn": False,
    },
    {
        "code": "KB-0002",
        "title": "インストール手順",
        "body": "セットアップの前に管理者権限を確認してください。",
        "product_family": None,
        "visibility": "public",
        "tags": [],
        "updated_on": "2025-03-01",
    },
    {
        "code": "KB-0003",
        "title": "ライセンスの更新",
        "body": "契約更新後にライセンスを再登録します。インストール済みの環境でも必要です。",
        "product_family": None,
        "visibility": "customers",
        "tags": ["ライセンス"],
        "updated_on": "2025-05-01",
    },
    {
        "code": "KB-0004",
        "title": "印刷の設定",
        "body": "プリンタの帳票用紙を選びます。",
        "product_family": "製品Bファミリ",
        "visibility": "public",
        "tags": [],
        "updated_on": "2025-06-01",
    },
]


def vendor_file(tmp_path: Path, articles: list[dict[str, Any]], name: str = "vendor.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"articles": articles}, ensure_ascii=False), encoding="utf-8")
    return path


async def load(domain: Core, path: Path) -> importing.ImportReport:
    async with domain.uow() as uow:
        return await importing.import_file(uow, SYSTEM_CLI, path)


@dataclass
class Readers:
    holder: Actor  # contact of a support ID with a key of 製品Aファミリ in force
    ended: Actor  # contact of a support ID whose 製品Aファミリ contract has ended
    no_key: Actor  # an active account with no support ID
    pending: Actor  # an account that has not set its password yet
    stranger: Actor  # a Slack user without an account


def _actor(account_id: int | None, user: str) -> Actor:
    if account_id is None:
        return Actor(kind="anonymous", ref=f"slack:T1:{user}", door="slack")
    return Actor(kind="account", ref=f"slack:T1:{user}", door="slack", account_id=account_id)


@pytest.fixture
async def readers(domain: Core, tmp_path: Path) -> Readers:
    await load(domain, vendor_file(tmp_path, ARTICLES))
    async with domain.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        live = await factories.contract(uow, company, number="K-LIVE")
        ended = await factories.contract(
            uow, company, number="K-ENDED", starts_on=date(2020, 1, 1), ends_on=date(2025, 12, 31)
        )
        accounts = [await factories.account(uow, company) for _ in range(3)]
        pending = await factories.account(uow, company, status="pending")
        for n, (contract, account) in enumerate(((live, accounts[0]), (ended, accounts[1]))):
            sid = SupportId(name=f"SID_{n}", name_key=f"sid_{n}", created_at=uow.clock.now())
            uow.session.add(sid)
            await uow.session.flush()
            await factories.key(uow, contract)
            uow.session.add(
                SupportIdContact(support_id_id=sid.id, account_id=account.id, added_at=uow.clock.now())
            )
            await uow.session.execute(
                update(SupportKey).where(SupportKey.contract_id == contract.id).values(support_id_id=sid.id)
            )
        await uow.commit()
    return Readers(
        holder=_actor(accounts[0].id, "U1"),
        ended=_actor(accounts[1].id, "U2"),
        no_key=_actor(accounts[2].id, "U3"),
        pending=_actor(pending.id, "U4"),
        stranger=_actor(None, "U9"),
    )


@pytest.fixture
async def postgres() -> AsyncIterator[AsyncEngine]:
    """An empty PostgreSQL database of its own, no schema (the migration tests build it)."""
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL only")
    name = f"madoguchi_t_{uuid.uuid4().hex[:12]}"
    await _pg_admin(admin, f'CREATE DATABASE "{name}"')
    engine = create_engine(make_url(admin).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await _pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
