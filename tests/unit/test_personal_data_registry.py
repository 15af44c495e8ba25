"""Every table of ``Base.metadata`` says where its personal data is (core.privacy.registry):
a new table, or a new column that looks personal, without a declaration fails here — so
``account export`` and ``account erase`` never silently miss it."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Text

from core.models import Base
from core.privacy.registry import RULES, Rule, Treatment, undeclared


def test_every_table_and_every_personal_looking_column_is_declared() -> None:
    assert undeclared(Base.metadata) == []


def test_a_new_table_without_a_rule_is_reported() -> None:
    md = MetaData()
    Table("widgets", md, Column("id", Integer, primary_key=True))
    assert undeclared(md, RULES) == ["widgets"]


def test_a_personal_column_nobody_declared_is_reported() -> None:
    md = MetaData()
    Table(
        "callbacks",
        md,
        Column("id", Integer, primary_key=True),
        Column("phone", String(32)),
        Column("caller_name", String(64)),
        Column("notes", Text),
        Column("payload", JSON),
        Column("kind", String(8)),
    )
    rules = {"callbacks": Rule(personal={"phone": Treatment.CLEAR})}
    assert undeclared(md, rules) == ["callbacks.caller_name", "callbacks.notes", "callbacks.payload"]


def test_a_declared_column_the_table_lacks_is_reported() -> None:
    md = MetaData()
    Table("notes", md, Column("id", Integer, primary_key=True))
    rules = {"notes": Rule(personal={"body": Treatment.TEXT})}
    assert undeclared(md, rules) == ["notes.body (declared, no such column)"]
