"""Migration 0017_knowledge_pg puts each article's month into its PostgreSQL tsvectors
(the search asks GIN for the newest months first, core/knowledge/search.py) for the
articles that existed before it too, and goes back cleanly; on SQLite it gives the titles
an FTS5 table of their own (filled for the articles already there); on both it stores
each existing article's body as plain text (``body_text``, what a search's snippets read)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.knowledge import grams
from core.knowledge.text import plain_text
from core.storage import create_engine
from migrations import alembic_config, upgrade

REVISION = "0017_knowledge_pg"
ARTICLE = (
    "INSERT INTO articles (id, code, visibility, withdrawn, updated_on, product_family, changed_at,"
    " title, tags, body, title_grams, body_grams) VALUES (1, 'KB-1', 'public', false, '2025-04-01',"
    " NULL, '2026-11-26 01:00:00+00', :title, '[]', :body, :title_grams, :body_grams)"
)


def _before() -> str:
    return str(ScriptDirectory.from_config(alembic_config()).get_revision(REVISION).down_revision)


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


TITLE, BODY = (
    "帳票出力でエラーになる",
    "## 現象\n帳票を**印刷**すると `E-1001` のエラーになります。\n- [手順](https://example.com/m)",
)


async def _insert_article(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(ARTICLE),
            {
                "title": TITLE,
                "body": BODY,
                "title_grams": grams.grams(TITLE),
                "body_grams": grams.grams(BODY),
            },
        )


async def _columns(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(
            await conn.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("articles")])
        )


async def _body_text(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(text("SELECT body_text FROM articles"))).scalar_one())


async def _lexemes(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT tsvector_to_array(search_doc), tsvector_to_array(title_doc) FROM articles")
            )
        ).one()
    return set(row[0]), set(row[1])


async def test_existing_articles_get_their_month_and_lose_it_going_back(postgres: AsyncEngine) -> None:
    await upgrade(postgres, _before())
    await _insert_article(postgres)
    await upgrade(postgres)
    search_doc, title_doc = await _lexemes(postgres)
    assert "#202504" in search_doc and "#202504" in title_doc
    assert {"帳票", "票出", "印刷"} <= search_doc and "印刷" not in title_doc
    assert (
        await _body_text(postgres)
        == plain_text(BODY)
        == ("現象\n帳票を印刷すると E-1001 のエラーになります。\n・手順 (https://example.com/m)")
    )
    await _downgrade(postgres, _before())
    search_doc, title_doc = await _lexemes(postgres)
    assert not [lexeme for lexeme in search_doc | title_doc if lexeme.startswith("#")]
    assert {"帳票", "票出", "印刷"} <= search_doc
    assert "body_text" not in await _columns(postgres)


async def test_sqlite_gets_the_plain_text_and_goes_up_and_down(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")
    try:
        await upgrade(engine, _before())
        await _insert_article(engine)
        # Up to this revision: 0021 keys both FTS tables differently (rowids negated).
        await upgrade(engine, REVISION)
        assert await _body_text(engine) == plain_text(BODY)
        # The titles' own FTS5 index holds the article that was there before.
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT rowid % 4294967296 FROM articles_fts_title WHERE articles_fts_title MATCH :q"),
                {"q": grams.fts5_query(["帳票出力"])},
            )
            assert found.scalars().all() == [1]
        await _downgrade(engine, _before())
        assert "body_text" not in await _columns(engine)
        async with engine.connect() as conn:
            names = {row[0] for row in await conn.execute(text("SELECT name FROM sqlite_master"))}
        assert not [name for name in names if name.startswith("articles_fts_title")]
        await upgrade(engine)
        async with engine.connect() as conn:
            names = {row[0] for row in await conn.execute(text("SELECT name FROM sqlite_master"))}
        assert {"articles", "articles_fts", "articles_fts_title", "ix_articles_updated_on"} <= names
    finally:
        await engine.dispose()
