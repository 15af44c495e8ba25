"""A deterministic vendor data file of any size, written row by row (SPEC §3, §9).

Used by ``bench/scale.py`` and by the import tests: the same arguments always give the
same bytes, and nothing is held in memory, so a file of 1,000,000 keys costs a few MiB
of RAM to write. ``key_for(n)`` gives the n-th key, so a benchmark can look keys up
without reading the file back.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, no 0/O/1/I
_SPACE = 32**12
# An odd multiplier modulo a power of two is a bijection: distinct n, distinct keys.
_MULTIPLIER = 0x5DEECE66D

PREFECTURES = (
    ("東京都", ("千代田区", "中央区", "港区", "品川区", "新宿区", "渋谷区")),
    ("大阪府", ("大阪市北区", "大阪市中央区", "堺市堺区")),
    ("神奈川県", ("横浜市西区", "川崎市川崎区", "相模原市中央区")),
    ("愛知県", ("名古屋市中区", "豊田市")),
    ("福岡県", ("福岡市博多区", "北九州市小倉北区")),
    ("北海道", ("札幌市中央区", "旭川市")),
    ("宮城県", ("仙台市青葉区",)),
    ("広島県", ("広島市中区",)),
)
_WORDS = (
    "山田",
    "日本",
    "東西",
    "大和",
    "富士",
    "青葉",
    "ミライ",
    "サクラ",
    "テック",
    "システム",
    "ソリューション",
    "データ",
    "ネット",
    "エンジニアリング",
    "製作所",
    "電機",
    "物産",
    "商事",
    "Global",
    "Digital",
    "Works",
    "Labs",
)
_FAMILIES = ("製品Aファミリ", "製品Bファミリ", "製品Cシリーズ", "クラウド基盤", "セキュリティ")


def key_for(n: int) -> str:
    """The n-th generated support key (``SK-XXXX-XXXX-XXXX``), unique for every n."""
    value = (n * _MULTIPLIER + 12345) % _SPACE
    chars = []
    for _ in range(12):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    body = "".join(chars)
    return f"SK-{body[0:4]}-{body[4:8]}-{body[8:12]}"


def company_code(n: int) -> str:
    return f"C{n:07d}"


def contract_number(n: int) -> str:
    return f"K-{n:08d}"


def support_id_name(n: int) -> str:
    return f"MIGRATED_{n:07d}"


def company_name(n: int) -> str:
    rng = random.Random(n * 7919)
    words = rng.sample(_WORDS, 2)
    return f"株式会社{words[0]}{words[1]}{n}"


@dataclass(frozen=True)
class Shape:
    """How many rows of each kind; keys = contracts × keys_per_contract."""

    companies: int
    contracts: int
    keys_per_contract: int
    support_ids: int

    @property
    def keys(self) -> int:
        return self.contracts * self.keys_per_contract


FULL = Shape(companies=100_000, contracts=500_000, keys_per_contract=2, support_ids=100_000)


def scaled(keys: int) -> Shape:
    """The SPEC §9 proportions (10 keys : 5 contracts : 1 company : 1 support ID)."""
    contracts = max(1, keys // 2)
    return Shape(
        companies=max(1, keys // 10),
        contracts=contracts,
        keys_per_contract=2,
        support_ids=max(1, min(keys // 10, contracts)),
    )


def write(path: Path, shape: Shape, *, last_row: dict[str, Any] | None = None) -> None:
    """Writes the file; ``last_row`` replaces the last support ID (to plant a bad row)."""
    with path.open("w", encoding="utf-8") as out:
        _write(out, shape, last_row)


def _row(out: IO[str], first: bool, row: dict[str, Any]) -> None:
    out.write("\n" if first else ",\n")
    out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))


def _write(out: IO[str], shape: Shape, last_row: dict[str, Any] | None) -> None:
    out.write('{"companies":[')
    for n in range(shape.companies):
        prefecture, cities = PREFECTURES[n % len(PREFECTURES)]
        city = cities[(n // len(PREFECTURES)) % len(cities)]
        _row(
            out,
            n == 0,
            {
                "code": company_code(n),
                "name": company_name(n),
                "postal_code": f"{100 + n % 800:03d}-{n % 10000:04d}",
                "address": f"{prefecture}{city}{n % 9 + 1}-{n % 30 + 1}-{n % 20 + 1}",
                "phone": f"03-{n % 10000:04d}-{(n * 7) % 10000:04d}",
            },
        )
    out.write('\n],\n"contracts":[')
    for n in range(shape.contracts):
        company = n % shape.companies
        keys = [key_for(n * shape.keys_per_contract + k) for k in range(shape.keys_per_contract)]
        year = 2020 + n % 6
        _row(
            out,
            n == 0,
            {
                "number": contract_number(n),
                "company": company_code(company),
                "product_family": _FAMILIES[n % len(_FAMILIES)],
                "end_user": company_name(company),
                "starts_on": f"{year}-04-01",
                "ends_on": f"{year + 5 + n % 4}-03-31",
                "requires_terms": n % 5 == 0,
                "keys": keys,
            },
        )
    out.write('\n],\n"support_ids":[')
    # Support ID n holds every key of contract n × (contracts // support_ids), so the
    # same-contract rule holds; its contacts are two addresses of that company.
    stride = max(1, shape.contracts // max(1, shape.support_ids))
    for n in range(shape.support_ids):
        contract = (n * stride) % shape.contracts
        row: dict[str, Any] = {
            "name": support_id_name(n),
            "description": f"移行済みサポートID {n}",
            "keys": [key_for(contract * shape.keys_per_contract + k) for k in range(shape.keys_per_contract)],
            "contacts": [f"user{n}@customer{n % 997}.example.jp", f"tanaka{n}@customer{n % 997}.example.jp"],
        }
        if last_row is not None and n == shape.support_ids - 1:
            row = last_row
        _row(out, n == 0, row)
    out.write("\n]}\n")
