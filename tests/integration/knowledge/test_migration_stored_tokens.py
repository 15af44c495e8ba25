"""Migration 0019_knowledge_lexemes makes PostgreSQL's tsvectors the stored bigram tokens
as they are (no parser, no positions) plus the article's month and year, for the
articles that existed before it too, and goes back cleanly (core/knowledge/search.py
asks GIN for the year's lexeme in its second window)."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.knowledge import grams
from migrations import alembic_config, upgrade

REVISION = "0019_knowledge_lexemes"
ARTICLE = (
    "INSERT INTO articles (id, code, visibility, withdrawn, updated_on, product_family, changed_at,"
    " title, tags, body, title_grams, body_grams) VALUES (:id, :code, 'public', false, '2025-04-01',"
    " NULL, '2026-11-26 01:00:00+00', :title, '[]', :body, :title_grams, :body_grams)"
)
TITLE, BODY = "帳票出力でエラーになる", "帳票を印刷すると E-1001 のエラーになります。"


def _before() -> str:
    return str(ScriptDirectory.from_config(alembic_config()).get_revision(REVISION).down_revision)


async def _insert(engine: AsyncEngine, id_: int, title: str, body: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(ARTICLE),
            {
                "id": id_,
                "code": f"KB-{id_}",
                "title": title,
                "body": body,
                "title_grams": grams.grams(title),
                "body_grams": grams.grams(body),
            },
        )


async def _docs(engine: AsyncEngine, id_: int) -> tuple[str, str]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT search_doc::text, title_doc::text FROM articles WHERE id = :id"), {"id": id_}
            )
        ).one()
    return str(row[0]), str(row[1])


async def test_the_tsvectors_become_the_stored_tokens_with_month_and_year(postgres: AsyncEngine) -> None:
    await upgrade(postgres, _before())
    await _insert(postgres, 1, TITLE, BODY)
    await upgrade(postgres)
    search_doc, title_doc = await _docs(postgres, 1)
    tokens = set(grams.grams(TITLE).split()) | set(grams.grams(BODY).split())
    # Every token as it is, once, without positions; the month and the year.
    assert search_doc == " ".join(f"'{lexeme}'" for lexeme in sorted(tokens | {"#202504", "#2025"}))
    assert title_doc == " ".join(
        f"'{lexeme}'" for lexeme in sorted(set(grams.grams(TITLE).split()) | {"#202504", "#2025"})
    )
    # A title or body without a letter has no tokens, and no empty lexeme.
    await _insert(postgres, 2, "！？", "---")
    assert await _docs(postgres, 2) == ("'#2025' '#202504'", "'#2025' '#202504'")
    async with postgres.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM articles WHERE search_doc @@ CAST(:q AS tsquery)"),
            {"q": grams.tsquery_lexemes(["帳票出力", "エラー"]) + " & '#2025'"},
        )
    assert found == 1
    async with postgres.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), _before()))
    search_doc, title_doc = await _docs(postgres, 1)
    # Back to 0017's parsed tsvectors: positions (and the title's weight), no year.
    assert "'帳票':1A" in search_doc and "'#2025'" not in search_doc and "'#202504'" in search_doc
    assert "'#2025'" not in title_doc
