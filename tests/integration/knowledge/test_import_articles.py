"""The vendor file's ``articles`` part (SPEC §3): all-or-nothing with the row's position,
idempotent, updated by code, ``withdrawn`` hides, every change audited."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import importing
from core.actors import Actor
from core.errors import NotFound
from core.importing import ImportRejected
from core.knowledge import search
from core.knowledge.tables import Article
from core.knowledge.text import plain_text
from core.models import AuditRecord
from core.snapshots import snapshot
from core.unit_of_work import Core
from tests.integration.knowledge.conftest import ARTICLES, Readers, load, vendor_file
from tests.integration.test_import import VENDOR_FILE, dump


def counts(report: importing.ImportReport) -> tuple[int, int, int]:
    c = report.counts["articles"]
    return (c.created, c.updated, c.unchanged)


async def test_articles_are_created_with_their_indexed_form(domain: Core, tmp_path: Path) -> None:
    report = await load(domain, vendor_file(tmp_path, ARTICLES))
    assert counts(report) == (4, 0, 0)
    async with domain.uow() as uow:
        article = await uow.session.scalar(select(Article).where(Article.code == "KB-A-0001"))
        assert article is not None
        assert (article.visibility, article.product_family, article.tags) == (
            "contract",
            "製品Aファミリ",
            ["帳票", "印刷"],
        )
        assert article.title_grams == "帳票 票出 出力 力デ デエ エラ ラー ーニ ニナ ナル ル"
        # The body's plain text, stored for the snippets (no Markdown rendered per hit).
        assert article.body_text == plain_text(article.body)
        assert article.body_text.startswith("現象\n帳票を印刷すると E-1001 が表示されます。")
        audited = (
            await uow.session.scalars(select(AuditRecord).where(AuditRecord.action == "article.imported"))
        ).all()
        assert sorted(a.details["code"] for a in audited) == sorted(a["code"] for a in ARTICLES)
        assert {a.details["change"] for a in audited} == {"created"}


async def test_reimporting_the_same_articles_changes_nothing(domain: Core, tmp_path: Path) -> None:
    path = vendor_file(tmp_path, ARTICLES)
    await load(domain, path)
    before = await dump(domain)
    report = await load(domain, path)
    assert counts(report) == (0, 0, 4)
    after = await dump(domain)
    # Only the import's own "completed" record is new.
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert len(after["audit_log"]) == len(before["audit_log"]) + 1


async def test_a_changed_article_is_updated_by_its_code_and_audited(domain: Core, tmp_path: Path) -> None:
    await load(domain, vendor_file(tmp_path, ARTICLES))
    changed = copy.deepcopy(ARTICLES)
    changed[1]["title"] = "セットアップ手順"
    changed[1]["body"] = "**管理者権限**で実行します。"
    changed[2]["tags"] = ["ライセンス", "更新"]
    report = await load(domain, vendor_file(tmp_path, changed, "v2.json"))
    assert counts(report) == (0, 2, 2)
    async with domain.uow() as uow:
        assert (
            await uow.session.scalar(select(Article.body_text).where(Article.code == "KB-0002"))
            == "管理者権限で実行します。"
        )
        updated = (
            await uow.session.scalars(
                select(AuditRecord).where(AuditRecord.action == "article.imported").order_by(AuditRecord.id)
            )
        ).all()[-2:]
        assert sorted((a.details["code"], a.details["change"]) for a in updated) == [
            ("KB-0002", "updated"),
            ("KB-0003", "updated"),
        ]
    async with snapshot(domain) as snap:
        assert [h.code for h in await search.search(snap, _stranger(), "セットアップ")] == ["KB-0002"]


async def test_withdrawn_true_hides_an_article_from_every_reader(
    domain: Core, readers: Readers, tmp_path: Path
) -> None:
    changed = copy.deepcopy(ARTICLES)
    changed[1]["withdrawn"] = True
    report = await load(domain, vendor_file(tmp_path, changed, "v2.json"))
    assert counts(report) == (0, 1, 3)
    async with snapshot(domain) as snap:
        assert await search.search(snap, readers.holder, "インストール手順") == []
        assert "KB-0002" not in [h.code for h in await search.newest(snap, readers.holder)]
        with pytest.raises(NotFound):
            await search.show(snap, readers.stranger, "KB-0002")
    async with domain.uow() as uow:
        assert await uow.session.scalar(select(Article.withdrawn).where(Article.code == "KB-0002")) is True


def _stranger() -> Actor:
    return Actor(kind="anonymous", ref="slack:T1:U9", door="slack")


def _bad(index: int, **changes: Any) -> list[dict[str, Any]]:
    rows = copy.deepcopy(ARTICLES)
    rows[index].update(changes)
    for key, value in changes.items():
        if value is _DROP:
            del rows[index][key]
    return rows


_DROP = object()
BAD = {
    "no code": (_bad(3, code=_DROP), "articles[3].code", "import.reason.missing"),
    "bad code": (_bad(2, code="KB 0003"), "articles[2].code", "kb.reason.code"),
    "duplicate code": (_bad(3, code="kb-0002"), "articles[3].code", "import.reason.duplicate"),
    "no title": (_bad(1, title=""), "articles[1].title", "import.reason.missing"),
    "bad visibility": (_bad(3, visibility="everyone"), "articles[3].visibility", "kb.reason.visibility"),
    "tags not a list": (_bad(0, tags="帳票"), "articles[0].tags", "import.reason.not_a_list"),
    "bad date": (_bad(3, updated_on="2025/06/01"), "articles[3].updated_on", "import.reason.not_a_date"),
    "no date": (_bad(3, updated_on=_DROP), "articles[3].updated_on", "import.reason.missing"),
    "withdrawn not a boolean": (
        _bad(3, withdrawn="yes"),
        "articles[3].withdrawn",
        "import.reason.not_a_boolean",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
async def test_a_bad_article_is_named_by_position_and_nothing_of_the_file_is_written(
    domain: Core, tmp_path: Path, case: str
) -> None:
    rows, where, reason = BAD[case]
    # The file also holds valid companies, contracts and support IDs: none is written.
    path = tmp_path / "vendor.json"
    path.write_text(json.dumps({**VENDOR_FILE, "articles": rows}, ensure_ascii=False), encoding="utf-8")
    before = await dump(domain)
    with pytest.raises(ImportRejected) as caught:
        await load(domain, path)
    assert (caught.value.path, caught.value.reason) == (where, reason)
    assert importing.describe(caught.value, "ja").startswith(f"{where} を取り込めませんでした")
    assert await dump(domain) == before


async def test_a_file_of_articles_alone_is_a_valid_file(domain: Core, tmp_path: Path) -> None:
    report = await load(domain, vendor_file(tmp_path, ARTICLES[:1]))
    assert report.rows == 1 and counts(report) == (1, 0, 0)
