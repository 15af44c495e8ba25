"""Migration 0015_find_people fills the name keys of accounts that existed before it, with
the same function the model uses afterwards, so staff find sees old and new alike."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from core.storage import create_engine
from migrations import alembic_config, upgrade


async def test_existing_accounts_get_their_name_keys_and_the_model_keeps_them(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        # The revision before this one, whatever the merge order made it.
        before = ScriptDirectory.from_config(alembic_config()).get_revision("0015_find_people").down_revision
        await upgrade(engine, str(before))
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO companies (id, code, name, name_norm, postal_code, prefecture, address,"
                    " address_norm, phone) VALUES (1, 'C1', '顧客A', '顧客a', '', '', '', '', '')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO accounts (id, email, company_id, last_name, first_name, last_name_kana,"
                    " first_name_kana, department, title, phone, postal_code, prefecture, city, street,"
                    " marketing_opt_in, privacy_consented_at, status, locale, created_at) VALUES"
                    " (1, 'a@customer.example.jp', 1, '鈴木', '花子', 'ｽｽﾞｷ', 'はなこ', '', '', '0312345678',"
                    " '1400002', '東京都', '品川区', '1-1', 0, '2026-11-26 01:00:00', 'active', 'ja',"
                    " '2026-11-26 01:00:00')"
                )
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT name_norm, kana_norm FROM accounts WHERE id = 1"))).one()
        assert tuple(row) == ("鈴木花子", "スズキハナコ")
    finally:
        await engine.dispose()


def test_the_model_recomputes_the_keys_on_every_change_of_a_name() -> None:
    from core.models import Account

    account = Account(last_name="山田", first_name="太郎", last_name_kana="やまだ", first_name_kana="ﾀﾛｳ")
    assert (account.name_norm, account.kana_norm) == ("山田太郎", "ヤマダタロウ")
    account.first_name = "次郎"
    account.first_name_kana = "ジロウ"
    assert (account.name_norm, account.kana_norm) == ("山田次郎", "ヤマダジロウ")
