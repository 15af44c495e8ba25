"""``converted`` (the storage fence's row conversion, core/storage/compiled.py) gives
what applying every column's result processor gives, on SQLite and PostgreSQL's compilations;
and the Slack door's ``esc`` escapes as the three replaces did."""

from __future__ import annotations

import random

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from bot import blocks as bk
from core.storage.compiled import Processor, Query, Row, converted

_T = Table(
    "t",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("on", Date),
    Column("at", DateTime),
    Column("flag", Boolean),
    Column("data", JSON),
)


def convert(row: tuple[object, ...], processors: tuple[Processor, ...]) -> Row:
    """Every column through its processor, None left alone: what ``converted`` must equal."""
    return tuple(
        value if p is None or value is None else p(value) for value, p in zip(row, processors, strict=True)
    )


def test_converted_is_convert_row_for_row() -> None:
    rows = [
        (1, "a", "2025-01-02", "2025-01-02 03:04:05.000006", 1, '{"x": [1, 2]}'),
        (2, None, None, None, None, None),
        (3, "", "1999-12-31", "2000-01-01 00:00:00.000000", 0, "null"),
    ]
    query = Query(select(_T))
    compiled = query.compiled(sqlite.dialect())
    assert compiled.processed, "dates, booleans and JSON have result processors on SQLite"
    assert converted(rows, compiled) == [convert(row, compiled.result) for row in rows]
    assert converted([], compiled) == []
    plain = Query(select(_T.c.id, _T.c.name)).compiled(sqlite.dialect())
    assert plain.processed == () and not any(plain.result)
    pg = Query(select(_T.c.id, _T.c.name, _T.c.on)).compiled(postgresql.asyncpg.dialect())
    assert converted([(1, "a", None)], pg) == [convert((1, "a", None), pg.result)]


def _stock_esc(text: object) -> str:
    if isinstance(text, bk.Mrkdwn):
        return text
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_esc_escapes_as_the_three_replaces_did() -> None:
    alphabet = "a&<>;amp全角ｱ \n*`|"
    rng = random.Random(7)
    samples: list[object] = ["", "&amp;", "<@U1>", "a>b", 12, None, bk.Mrkdwn("<keep>")]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(500)]
    for sample in samples:
        got = bk.esc(sample)
        assert isinstance(got, bk.Mrkdwn)
        assert got == _stock_esc(sample)
