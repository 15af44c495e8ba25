"""Statements compiled once and run on a bare sqlite3 connection (on PostgreSQL, on the
asyncpg connection: ``core.storage.postgres``); rows made into detached ORM objects
without the ORM's load (``detached``).

Mirrors SQLAlchemy 2.1.x's compiler (``SQLCompiler.positiontup``, ``.binds``, a type's
``bind_processor`` / ``result_processor``); pyproject pins SQLAlchemy below 2.2.
tests/integration/test_snapshots.py checks that a query run here answers like the same
statement run by SQLAlchemy, with the same Python types.

Why: the Slack door's hot reads (who is this, which support IDs are theirs, is a terms
agreement pending) cost more CPU through SQLAlchemy's execution machinery — statement
cache key, result metadata — than the statement itself (docs/performance.md). The same
holds for the mail door's batch writes, one ``insert()`` executed for many rows: there
SQLAlchemy's per-row parameter processing (``construct_params``) was most of the cost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Insert, Select, Update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.sql.compiler import SQLCompiler

Row = tuple[Any, ...]
# Shapes of one statement with list parameters kept at once (``Query.shaped``): a batch's
# lists have a few dozen lengths; a statement meeting many more starts its cache again.
SHAPES_KEPT = 256
Processor = Callable[[Any], Any] | None


Statement = Select[*tuple[Any, ...]] | Update | Insert


class Query:
    """A ``select()`` built once (with ``bindparam`` placeholders), compiled once per
    database, and run by a snapshot or a unit of work with keyword parameters.

    An ``update()`` or ``insert()`` too, run by a unit of work only (a snapshot is
    read-only): its ``rows`` are what its RETURNING names, if anything. A plain
    ``insert(table)`` takes its rows as dicts of column values, many at once
    (``UnitOfWork.write_many``): compiled once per set of columns given, the other
    columns' Python-side defaults filled in as SQLAlchemy fills them."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        # False for an UPDATE or INSERT without RETURNING.
        self.returns_rows = bool(statement.exported_columns)
        self._compiled: dict[tuple[str, tuple[str, ...]], Compiled] = {}
        self._unfenced: set[str] = set()
        # A statement with list parameters (``IN``): SQLAlchemy's compiled form per
        # database, and one ``Compiled`` per shape (the lists' lengths), made when first
        # asked for (``shaped``).
        self._lists: dict[str, tuple[SQLCompiler, tuple[str, ...]]] = {}
        self._shapes: dict[tuple[str, tuple[int, ...]], Compiled] = {}

    def compiled(self, dialect: Dialect, columns: tuple[str, ...] = ()) -> Compiled:
        key = (dialect.name, columns)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = compile_statement(self.statement, dialect, columns)
        return found

    def fenced(self, dialect: Dialect, params: dict[str, Any] | None = None) -> Compiled | None:
        """``compiled``, or None when it cannot run outside SQLAlchemy's execution (a
        result type whose processor depends on the column type the driver reports, such
        as a numeric on asyncpg): SQLAlchemy's path runs it then. A statement with list
        parameters is compiled for the lengths of the lists in ``params`` (``shaped``):
        pass what it will run with (``arguments`` spreads the lists' items)."""
        if dialect.name in self._unfenced:
            return None
        try:
            if dialect.name not in self._lists:
                return self.compiled(dialect)
        except _ListParameters:  # compiled above, so it compiles: shaped per call below
            compiled = self.statement.compile(dialect=dialect)
            lists = tuple(name for name, bind in compiled.binds.items() if bind.expanding)
            self._lists[dialect.name] = (compiled, lists)
        except (ValueError, TypeError, InvalidRequestError):
            self._unfenced.add(dialect.name)
            return None
        return self.shaped(dialect, params) if params is not None else None

    def shaped(self, dialect: Dialect, params: dict[str, Any]) -> Compiled | None:
        """The statement with each list parameter written out for its length in
        ``params`` (``IN (?, ?, ?)``; an empty list as SQLAlchemy writes one), as
        SQLAlchemy's own ``construct_expanded_state`` shapes it at every execution —
        here once per shape. None when the statement takes no lists."""
        found = self._lists.get(dialect.name)
        if found is None:
            return None
        compiled, lists = found
        key = (dialect.name, tuple(len(params[name]) for name in lists))
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= SHAPES_KEPT:  # lists of every length: start again
                self._shapes.clear()
            dummy: dict[str, Any] = {name: None for name in compiled.binds}
            dummy.update({name: [None] * length for name, length in zip(lists, key[1], strict=True)})
            state = compiled.construct_expanded_state(dummy)
            assert state.positiontup is not None
            binds = compiled.binds
            names = tuple(state.positiontup)
            bind = tuple(state.processors.get(name) for name in names)
            # Values written into the statement (``channel == 'mail'``) by their names.
            constants = tuple(
                (name, binds[name].effective_value, False)
                for name in names
                if name in binds and not binds[name].required and not binds[name].expanding
            )
            expansion = tuple((name, tuple(state.parameter_expansion.get(name, ()))) for name in lists)
            result = _result_processors(self.statement, dialect)
            shape = self._shapes[key] = Compiled(state.statement, names, bind, result, constants, expansion)
        return shape


@dataclass(frozen=True)
class Compiled:
    sql: str
    names: tuple[str, ...]
    bind: tuple[Processor, ...]
    result: tuple[Processor, ...]
    # The parameters the rows do not give: an insert's columns left out (their Python-side
    # defaults, a value or a callable called per row) and the values written into the
    # statement itself (``.values(state="processed")``), by name.
    defaults: tuple[tuple[str, Any, bool], ...] = ()
    # A shape of a statement with list parameters (``Query.shaped``): each list's name and
    # the names its items are bound as.
    expansion: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The result's columns that have a processor, by position: what ``converted`` applies
    # (a search hit's row has seven columns and one processor, a date).
    processed: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        processed = tuple((n, p) for n, p in enumerate(self.result) if p is not None)
        object.__setattr__(self, "processed", processed)


def compile_statement(statement: Statement, dialect: Dialect, columns: tuple[str, ...] = ()) -> Compiled:
    if isinstance(statement, Insert) and columns and set(columns) <= set(statement.table.c.keys()):
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    else:
        compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise ValueError(f"{dialect.name}: a snapshot query needs a positional paramstyle")
    binds = compiled.binds
    names: list[str] = []
    bind: list[Processor] = []
    defaults: list[tuple[str, Any, bool]] = []
    for name in compiled.positiontup:
        param = binds[name]
        if param.expanding:
            raise _ListParameters(
                f"{name}: a list parameter; run it as Query.fenced(dialect, params) shapes it"
            )
        if isinstance(statement, Insert) and param.key not in columns and param.key in statement.table.c:
            defaults.append(_default(statement, param.key))
        elif not param.required and param.key not in columns:  # a value in the statement
            defaults.append((param.key, param.effective_value, False))
        names.append(param.key)
        bind.append(param.type.dialect_impl(dialect).bind_processor(dialect))
    result = _result_processors(statement, dialect)
    return Compiled(compiled.string, tuple(names), tuple(bind), result, tuple(defaults))


class _ListParameters(ValueError):
    """The statement takes a list parameter: compiled per shape (``Query.shaped``)."""


def _result_processors(statement: Statement, dialect: Dialect) -> tuple[Processor, ...]:
    selected = statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
    return tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected)


def _default(statement: Insert, name: str) -> tuple[str, Any, bool]:
    """A column's Python-side default, as SQLAlchemy applies it when a row leaves the
    column out: a constant, or a callable (``list``, ``dict``) called for each row."""
    default: Any = statement.table.c[name].default
    if default is not None and default.is_scalar:
        return name, default.arg, False
    if default is not None and default.is_callable:
        return name, default.arg, True
    raise ValueError(f"{name}: no value given and no Python-side default to fill in")


def arguments(compiled: Compiled, params: dict[str, Any]) -> list[Any]:
    """The statement's positional parameters of ``params``, as SQLAlchemy's bind
    processors make them (defaults filled in)."""
    if compiled.expansion:
        params = dict(params)
        for name, names in compiled.expansion:
            params.update(zip(names, params[name], strict=True))
    if compiled.defaults:
        params = _filled(params, compiled.defaults)
    return [
        value if bind is None else bind(value)
        for value, bind in zip((params[n] for n in compiled.names), compiled.bind, strict=True)
    ]


def run_sqlite(raw: sqlite3.Connection, compiled: Compiled, params: dict[str, Any]) -> list[Row]:
    args = arguments(compiled, params)
    fetched = raw.execute(compiled.sql, args).fetchall()
    if not compiled.processed:
        return fetched
    return converted(fetched, compiled)


def write_sqlite(raw: sqlite3.Connection, compiled: Compiled, rows: Sequence[dict[str, Any]]) -> list[Row]:
    """One statement for each of ``rows`` (parameter dicts with the same keys), in this
    order; what the statements returned (an insert's RETURNING), all in one list.

    Without RETURNING the rows go in one ``executemany``; with it, one ``execute`` a row
    (sqlite3's ``executemany`` drops what RETURNING answers), still without
    SQLAlchemy's machinery between them."""
    if compiled.defaults:
        rows = [_filled(row, compiled.defaults) for row in rows]
    names, bind = compiled.names, compiled.bind
    args = [
        [value if b is None else b(value) for value, b in zip((row[n] for n in names), bind, strict=True)]
        for row in rows
    ]
    if not compiled.result:
        raw.executemany(compiled.sql, args)
        return []
    returned: list[Row] = []
    for one in args:
        returned.extend(converted(raw.execute(compiled.sql, one).fetchall(), compiled))
    return returned


def _filled(row: dict[str, Any], defaults: tuple[tuple[str, Any, bool], ...]) -> dict[str, Any]:
    row = dict(row)
    for name, value, call in defaults:
        if name not in row:
            row[name] = value(None) if call else value
    return row


def converted(rows: Sequence[Sequence[Any]], compiled: Compiled) -> list[Row]:
    """Each row with ``compiled``'s result processors applied, as SQLAlchemy's result
    does (None stays None), visiting only the columns that have one."""
    processed = compiled.processed
    out: list[Row] = []
    for row in rows:
        values = list(row)
        for n, p in processed:
            value = values[n]
            if value is not None:
                values[n] = p(value)
        out.append(tuple(values))
    return out


M = TypeVar("M")


def detached(model: type[M], keys: Sequence[str], values: Sequence[Any]) -> M:
    """An ORM object of stored column values (``keys``: its attribute names), made as an
    ORM load makes one — without ``__init__``, whose validators would derive again what
    was stored (an ``Account``'s name keys: 88 µs against 3 µs) — and in no session.
    Mirrors SQLAlchemy 2.1's ``ClassManager.new_instance`` and the instance dict."""
    instance: M = sa_inspect(model).class_manager.new_instance()
    instance.__dict__.update(zip(keys, values, strict=True))
    return instance
