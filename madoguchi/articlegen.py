"""Deterministic Japanese-like knowledge articles, streamed to a vendor file's
``articles`` part (SPEC §3), for ``bench/knowledge.py`` and the index tests.

The same ``n`` always gives the same article, and nothing is held in memory. Words are
drawn with Zipf-like weights from a vocabulary of real support vocabulary (kanji
compounds, katakana loan words, a few Latin words), so a search word is as common or as
rare as in a real knowledge base; ``RARE`` / ``COMMON`` name words of known frequency for
the benches and tests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

_KANJI = [
    "帳票",
    "印刷",
    "帳簿",
    "設定",
    "接続",
    "画面",
    "登録",
    "更新",
    "削除",
    "検索",
    "保存",
    "起動",
    "停止",
    "障害",
    "復旧",
    "認証",
    "権限",
    "端末",
    "環境",
    "手順",
    "原因",
    "対処",
    "確認",
    "表示",
    "出力",
    "入力",
    "変換",
    "集計",
    "伝票",
    "請求",
    "在庫",
    "受注",
    "発注",
    "会計",
    "給与",
    "勤怠",
    "部門",
    "税率",
    "月次",
    "年次",
    "仕訳",
    "残高",
    "決算",
    "承認",
    "申請",
    "通知",
    "送信",
    "受信",
    "同期",
    "移行",
    "初期",
    "既定",
    "制限",
    "容量",
    "速度",
    "応答",
    "遅延",
    "文字",
    "項目",
    "様式",
    "用紙",
    "余白",
    "罫線",
    "書式",
    "宛名",
    "住所",
    "郵便",
    "番号",
    "日付",
    "期間",
    "締日",
    "端数",
    "金額",
    "数量",
    "単価",
    "合計",
    "消費",
    "区分",
    "明細",
    "履歴",
    "操作",
    "管理",
    "利用",
    "契約",
    "保守",
    "製品",
    "機能",
    "構成",
    "証明",
    "暗号",
    "監査",
    "記録",
    "警告",
    "失敗",
    "成功",
    "完了",
    "中断",
    "再開",
    "再試行",
]
_KATAKANA = [
    "インストール",
    "アップデート",
    "ライセンス",
    "データベース",
    "サーバー",
    "クライアント",
    "ネットワーク",
    "バックアップ",
    "プリンタ",
    "ファイル",
    "フォルダ",
    "パスワード",
    "アカウント",
    "ログイン",
    "エラー",
    "メッセージ",
    "ブラウザ",
    "ダウンロード",
    "アップロード",
    "テンプレート",
    "レポート",
    "セットアップ",
    "バージョン",
    "パッチ",
    "ドライバ",
    "キャッシュ",
    "タイムアウト",
    "プロキシ",
    "ポート",
    "サービス",
]
_LATIN = ["PDF", "CSV", "Excel", "Windows", "Linux", "SQL", "API", "OAuth", "TLS", "HTTP"]


def _compounds(count: int) -> list[str]:
    """Made-up two-kanji compounds from the real words' characters: the long tail of a
    real vocabulary (product names, screen names, jargon)."""
    chars = sorted({c for word in _KANJI for c in word})
    rnd = random.Random(20261201)
    made: list[str] = []
    known = set(_KANJI)
    while len(made) < count:
        word = rnd.choice(chars) + rnd.choice(chars)
        if word not in known:
            known.add(word)
            made.append(word)
    return made


VOCABULARY = tuple(_KANJI + _KATAKANA + _LATIN + _compounds(3_000))
# Zipf-like: the k-th word is drawn with weight 1/(k+50); the most common word (帳票)
# is in about one article in ten, the real words of rank ~100 in one in thirty.
_CUMULATIVE = tuple(accumulate(1 / (k + 50) for k in range(len(VOCABULARY))))
_PARTICLES = ("を", "が", "に", "で", "と", "の", "は", "から", "まで", "や")
_ENDINGS = (
    "します。",
    "できません。",
    "されます。",
    "になります。",
    "してください。",
    "が表示されます。",
    "を確認します。",
    "に失敗します。",
)
_TITLE_ENDINGS = ("でエラーになる", "の手順", "ができない", "について", "の設定方法", "が遅い", "の確認方法")
FAMILIES = ("製品Aファミリ", "製品Bファミリ", "製品Cシリーズ", "クラウド基盤", "セキュリティ", None)
VISIBILITIES = ("public", "customers", "contract")

# Words for benches: 2-character ones (帳票 is the most common word), longer ones, and
# two-word queries.
TWO_CHAR = ("帳票", "印刷", "在庫", "用紙", "罫線")
LONGER = ("インストール", "データベース", "タイムアウト", "パスワード", "ネットワーク")
TWO_WORDS = ("帳票 印刷", "設定 ファイル", "在庫 エラー", "用紙 余白", "ライセンス 更新")


def _word(rnd: random.Random) -> str:
    at = rnd.random() * _CUMULATIVE[-1]
    low, high = 0, len(_CUMULATIVE) - 1
    while low < high:
        mid = (low + high) // 2
        if _CUMULATIVE[mid] < at:
            low = mid + 1
        else:
            high = mid
    return VOCABULARY[low]


def code_for(n: int) -> str:
    return f"KB-{n:07d}"


def article(n: int) -> dict[str, Any]:
    """The n-th article: the same dict for the same ``n``."""
    rnd = random.Random(n * 7919 + 17)
    title = _word(rnd) + rnd.choice(("", "の" + _word(rnd))) + rnd.choice(_TITLE_ENDINGS)
    sentences = []
    for _ in range(rnd.randint(4, 8)):
        parts = [_word(rnd) + rnd.choice(_PARTICLES) for _ in range(rnd.randint(1, 3))]
        sentences.append("".join(parts) + _word(rnd) + rnd.choice(_ENDINGS))
    body = "## 現象\n" + "".join(sentences[:2]) + "\n\n## 対処\n" + "\n".join(f"- {s}" for s in sentences[2:])
    return {
        "code": code_for(n),
        "title": title,
        "body": body,
        "product_family": FAMILIES[n % len(FAMILIES)],
        "visibility": VISIBILITIES[n % 7 % 3],
        "tags": [_word(rnd)],
        "updated_on": f"{2015 + n % 11}-{1 + n % 12:02d}-{1 + n % 28:02d}",
        "withdrawn": n % 97 == 0,
    }


def articles(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for n in range(start, start + count):
        yield article(n)


def write(path: Path, count: int) -> Path:
    """A vendor file holding only ``count`` articles, written row by row."""
    with path.open("w", encoding="utf-8") as out:
        out.write('{"articles": [\n')
        for n, row in enumerate(articles(count)):
            out.write(("," if n else "") + json.dumps(row, ensure_ascii=False) + "\n")
        out.write("]}\n")
    return path
