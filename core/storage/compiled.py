"""Statements compiled once and run on a bare sqlite3 connection; rows made into
detached ORM objects without the ORM's load (``detached``).

Mirrors SQLAlchemy 2.1.x's compiler (``SQLCompiler.positiontup``, ``.binds``, a type's
``bind_processor`` / ``result_processor``); pyproject pins SQLAlchemy below 2.2.
tests/integration/test_snapshots.py checks that a query run here answers like the same
statement run by SQLAlchemy, with the same Python types.

Why: the Slack door's hot reads (who is this, which support IDs are theirs, is a terms
agreement pending) cost more CPU through SQLAlchemy's execution machinery — statement
cache key, result metadata — than the statement itself (docs/performance.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Insert, Select, Update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect

Row = tuple[Any, ...]
Processor = Callable[[Any], Any] | None


class Query:
    """A ``select()`` built once (with ``bindparam`` placeholders), compiled once per
    database, and run by a snapshot or a unit of work with keyword parameters.

    An ``update()`` or ``insert()`` too, run by a unit of work only (a snapshot is
    read-only): its ``rows`` are what its RETURNING names, if anything."""

    def __init__(self, statement: Select[*tuple[Any, ...]] | Update | Insert) -> None:
        self.statement = statement
        # False for an UPDATE or INSERT without RETURNING.
        self.returns_rows = bool(statement.exported_columns)
        self._compiled: dict[str, Compiled] = {}

    def compiled(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = compile_statement(self.statement, dialect)
        return found


@dataclass(frozen=True)
class Compiled:
    sql: str
    names: tuple[str, ...]
    bind: tuple[Processor, ...]
    result: tuple[Processor, ...]


def compile_statement(statement: Select[*tuple[Any, ...]] | Update | Insert, dialect: Dialect) -> Compiled:
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise ValueError(f"{dialect.name}: a snapshot query needs a positional paramstyle")
    binds = compiled.binds
    names: list[str] = []
    bind: list[Processor] = []
    for name in compiled.positiontup:
        param = binds[name]
        if param.expanding:
            raise ValueError("a snapshot query cannot take a list parameter (IN): join instead")
        names.append(param.key)
        bind.append(param.type.dialect_impl(dialect).bind_processor(dialect))
    selected = statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
    result = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected)
    return Compiled(compiled.string, tuple(names), tuple(bind), result)


def run_sqlite(raw: sqlite3.Connection, compiled: Compiled, params: dict[str, Any]) -> list[Row]:
    args = [
        value if bind is None else bind(value)
        for value, bind in zip((params[n] for n in compiled.names), compiled.bind, strict=True)
    ]
    fetched = raw.execute(compiled.sql, args).fetchall()
    if not any(compiled.result):
        return fetched
    return [convert(row, compiled.result) for row in fetched]


def convert(row: Sequence[Any], processors: tuple[Processor, ...]) -> Row:
    return tuple(
        value if p is None or value is None else p(value) for value, p in zip(row, processors, strict=True)
    )


M = TypeVar("M")


def detached(model: type[M], keys: Sequence[str], values: Sequence[Any]) -> M:
    """An ORM object of stored column values (``keys``: its attribute names), made as an
    ORM load makes one — without ``__init__``, whose validators would derive again what
    was stored (an ``Account``'s name keys: 88 µs against 3 µs) — and in no session.
    Mirrors SQLAlchemy 2.1's ``ClassManager.new_instance`` and the instance dict."""
    instance: M = sa_inspect(model).class_manager.new_instance()
    instance.__dict__.update(zip(keys, values, strict=True))
    return instance
