"""Migration 0021_knowledge_rowids_ascending keys SQLite's two FTS5 indexes of the
articles by the search key negated, so the search walks them forwards, newest first
(core/knowledge/search.py): the articles already there are re-indexed, the triggers key
new and changed articles alike, and it goes back to the ascending key. PostgreSQL: the
revision changes nothing there."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.knowledge import grams
from core.storage import create_engine
from migrations import alembic_config, upgrade

REVISION = "0021_knowledge_rowids_ascending"
BEFORE = "0020_outbox_due_by_channel"
ARTICLE = (
    "INSERT INTO articles (id, code, visibility, withdrawn, updated_on, product_family, changed_at,"
    " title, tags, body, title_grams, body_grams, body_text) VALUES (:id, :code, 'public', false, :day,"
    " NULL, '2026-11-26 01:00:00+00', :title, '[]', :body, :title_grams, :body_grams, :body)"
)
# id → (updated_on, title): the newest is neither the first nor the last id.
ARTICLES = {
    1: ("2025-04-01", "帳票出力でエラーになる"),
    2: ("2026-01-15", "帳票の印刷手順"),
    3: ("2024-12-31", "帳票について"),
}


async def _insert(engine: AsyncEngine, id_: int) -> None:
    day, title = ARTICLES[id_]
    body = f"{title}の本文です。帳票を確認してください。"
    async with engine.begin() as conn:
        await conn.execute(
            text(ARTICLE),
            {
                "id": id_,
                "code": f"KB-{id_}",
                "day": day,
                "title": title,
                "body": body,
                "title_grams": grams.grams(title),
                "body_grams": grams.grams(body),
            },
        )


async def _walk(engine: AsyncEngine, fts: str, order: str) -> list[tuple[int, int]]:
    """(rowid sign, article id) of every article matching 帳票, in ``order`` of rowid."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text(f"SELECT rowid FROM {fts} WHERE {fts} MATCH :q ORDER BY rowid {order}"),
            {"q": grams.fts5_query(["帳票"])},
        )
        return [(1 if rowid > 0 else -1, abs(rowid) % 2**32) for rowid in found.scalars()]


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def test_sqlite_rowids_ascend_from_the_newest_and_go_back(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")
    try:
        await upgrade(engine, BEFORE)
        await _insert(engine, 1)
        await _insert(engine, 2)
        assert await _walk(engine, "articles_fts", "DESC") == [(1, 2), (1, 1)]
        await upgrade(engine, REVISION)
        # Existing articles re-indexed: ascending rowids are newest first.
        for fts in ("articles_fts", "articles_fts_title"):
            assert await _walk(engine, fts, "ASC") == [(-1, 2), (-1, 1)]
        # The triggers key a new article, a changed date and a deletion alike.
        await _insert(engine, 3)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE articles SET updated_on = '2026-06-01' WHERE id = 1"))
        for fts in ("articles_fts", "articles_fts_title"):
            assert await _walk(engine, fts, "ASC") == [(-1, 1), (-1, 2), (-1, 3)]
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM articles WHERE id = 2"))
        for fts in ("articles_fts", "articles_fts_title"):
            assert await _walk(engine, fts, "ASC") == [(-1, 1), (-1, 3)]
        await _downgrade(engine, BEFORE)
        for fts in ("articles_fts", "articles_fts_title"):
            assert await _walk(engine, fts, "DESC") == [(1, 1), (1, 3)]
        await upgrade(engine)
        assert await _walk(engine, "articles_fts", "ASC") == [(-1, 1), (-1, 3)]
    finally:
        await engine.dispose()


async def test_postgresql_goes_up_and_down_unchanged(postgres: AsyncEngine) -> None:
    await upgrade(postgres, BEFORE)
    await upgrade(postgres, REVISION)
    await _downgrade(postgres, BEFORE)
    await upgrade(postgres)
