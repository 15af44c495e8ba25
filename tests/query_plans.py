"""Which statements a service sends, and whether any of their plans reads a big table
whole: the EXPLAIN harness of the index tests (SPEC §9), on SQLite and PostgreSQL.

A deterministic check of the plan, not a timing: the tests load enough rows that a
planner would rather scan than use a useless index, capture every SELECT the real
service function sends, and EXPLAIN each on the same database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from core.unit_of_work import Core


def engine_of(core: Core) -> AsyncEngine:
    engine = core.sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return engine


async def captured(core: Core, run: Callable[[], Awaitable[Any]]) -> list[tuple[str, Any]]:
    """The SELECTs (statement, parameters) that ``run`` sends through SQLAlchemy."""
    engine = engine_of(core)
    statements: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await run()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    assert statements, "the service sent no query"
    return statements


async def full_scans(core: Core, statements: list[tuple[str, Any]], big_tables: Collection[str]) -> list[str]:
    """The plan lines that read one of ``big_tables`` whole, for every statement."""
    bad: list[str] = []
    async with engine_of(core).connect() as conn:
        for statement, parameters in statements:
            if conn.dialect.name == "sqlite":
                rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
                for row in rows:
                    detail = str(row[-1])
                    found = re.match(r"SCAN (\w+)", detail)
                    if found and found.group(1) in big_tables:
                        bad.append(f"{detail}  <-  {statement}")
            else:
                plan = (await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)).scalar()
                nodes = plan if isinstance(plan, list) else json.loads(plan)
                for node in plan_nodes(nodes[0]["Plan"]):
                    if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in big_tables:
                        bad.append(f"Seq Scan on {node['Relation Name']}  <-  {statement}")
    return bad


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A PostgreSQL JSON plan node and every node under it."""
    out = [node]
    for child in node.get("Plans", []):
        out.extend(plan_nodes(child))
    return out
