"""Every answer of the knowledge search on a loaded database, as JSON lines, so two
versions of the code can be compared byte for byte (issue 13: a faster search must find
the same articles, in the same order, with the same snippets and blocks).

    python -m bench.knowledge_answers URL OUT [--seed]

URL: a database loaded like bench/knowledge.py's (its reader U1 holds a key of
製品Aファミリ); ``--seed`` adds U2, an active customer without a key (once per database).
Queries: the bench's words and edge cases (width/kana variants, one character, a word
in titles and bodies, three words, none found, punctuation only) × limits 10, 150, 3, 1
× readers U1, U2 and an unregistered user; the blocks of ``/support kb`` (ja, en) for
limit 10; the newest per reader. Then ``cmp`` the files of the two versions.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from tempfile import TemporaryDirectory

from bench import knowledge as kb
from bot.views.knowledge import results
from core import accounts
from core.actors import Actor
from core.clock import FrozenClock
from core.knowledge import search
from core.snapshots import snapshot
from core.storage import create_engine, session_factory
from core.unit_of_work import Core
from madoguchi import articlegen
from tests import factories

QUERIES = [
    *articlegen.TWO_CHAR,
    *articlegen.LONGER,
    *articlegen.TWO_WORDS,
    *("ｲﾝｽﾄｰﾙ", "いんすとーる", "インストール", "ＰＤＦ", "pdf", "Excel", "EXCEL", "csv 出力"),
    *("紙", "票", "帳", "帳票 印刷 設定", "存在しない語", "帳票、印刷", "", "、、", "設定方法"),
    *("でエラーになる", "手順", "の手順", "について", "帳票 ライセンス", "ライセンス", "更新 ライセンス"),
    *("印刷 帳票", "検索", "エラー", "ファイル 設定 更新", "出力で", "力エ", "データベース 接続"),
    *("タイムアウト 設定", "罫線 用紙 余白", "帳票出力", "ネットワーク 障害", "API", "oauth 認証"),
    *("在庫 受注 発注", "起動", "停止 起動", "余白", "e", "1", "2025", "ません", "セン", "ス"),
]
LIMITS = (10, 150, 3, 1)


async def main(url: str, out: Path, seed: bool) -> None:
    engine = create_engine(url)
    with TemporaryDirectory() as var:
        core = Core(session_factory(engine), kb._settings(url, Path(var)), FrozenClock(kb.NOW))
        try:
            if seed:
                async with core.uow() as uow:
                    company = await factories.company(uow, "鍵なし株式会社", code="C-NOKEY")
                    await factories.account(
                        uow, company, "nokey@customer.example.jp", slack_team_id="T1", slack_user_id="U2"
                    )
                    await uow.commit()
            readers = []
            for user in ("U1", "U2"):
                async with snapshot(core) as snap:
                    who = await accounts.slack_identity(snap, "T1", user)
                readers.append(
                    Actor(kind="account", ref=f"slack:T1:{user}", door="slack", account_id=who.account_id)
                )
            readers.append(Actor(kind="anonymous", ref="slack:T1:U9", door="slack", account_id=None))
            entries = 0
            with out.open("w", encoding="utf-8") as f:
                for reader in readers:
                    for words in QUERIES:
                        for limit in LIMITS:
                            async with snapshot(core) as snap:
                                hits = await search.search(snap, reader, words, limit)
                            entry: dict[str, object] = {
                                "reader": reader.ref,
                                "q": words,
                                "limit": limit,
                                "hits": [asdict(hit) for hit in hits],
                            }
                            if limit == search.LIMIT:
                                entry["ja"] = results(hits, "ja", words)
                                entry["en"] = results(hits, "en", words)
                            f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
                            entries += 1
                    async with snapshot(core) as snap:
                        newest = [asdict(hit) for hit in await search.newest(snap, reader)]
                    f.write(json.dumps({"newest": newest}, ensure_ascii=False, default=str) + "\n")
                    entries += 1
            print(f"{out}: {entries} entries")
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), "--seed" in sys.argv))
