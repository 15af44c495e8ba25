"""Staff answers to a person's APPI requests (SPEC §4.11): 開示 (``export``) and 消去
(``preview_erasure``, then ``erase``).

All three admit staff first (``core.staff.admit``: a refusal is audited) and are
audited themselves with counts only, never the address: the trail must not keep what
erasure removes. What erasure keeps and why is in docs/accounts.md, "Personal data
(APPI)".
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, delete, update

from core import audit, staff
from core.actors import Actor
from core.clock import JST
from core.messages import render
from core.privacy.people import Found, collect, key_of, person_for
from core.privacy.registry import Person
from core.privacy.scrub import Pseudonym, Scrubber
from core.unit_of_work import UnitOfWork

FORMAT = "madoguchi-personal-data/1"


@dataclass(frozen=True)
class PersonExport:
    filename: str
    content: bytes
    # table → rows exported (tables with none are listed too, with 0)
    counts: dict[str, int]


@dataclass(frozen=True)
class ErasurePlan:
    email: str
    # table → rows about the person (erased) and rows only mentioning them (scrubbed)
    counts: dict[str, int]
    mentions: dict[str, int]


@dataclass(frozen=True)
class Erased:
    pseudonym: str
    counts: dict[str, int]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


# Any address inside a value; in an exported row every one but the person's and the
# vendor's own is someone else's (a colleague in CC) and is left out.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
OTHER_ADDRESS = "<other address>"


def _redact(value: Any, keep: set[str]) -> Any:
    if isinstance(value, str):
        return _ADDRESS.sub(lambda m: m.group(0) if m.group(0).lower() in keep else OTHER_ADDRESS, value)
    if isinstance(value, list):
        return [_redact(v, keep) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, keep) for k, v in value.items()}
    return value


def _exported_row(found: Found, row: Mapping[str, Any], keep: set[str]) -> dict[str, Any]:
    return {
        k: _plain(_redact(v, keep) if k in found.rule.personal else v)
        for k, v in row.items()
        if k not in found.rule.secret
    }


async def export(uow: UnitOfWork, actor: Actor, email: str) -> PersonExport:
    """Every row about the person in every table (secrets left out), as one JSON file.

    Rows only *mentioning* the person (a colleague's message in their thread) are someone
    else's and are not exported; other people's addresses inside exported rows (a
    colleague in CC of a mail to the person) are replaced by ``<other address>``."""
    await staff.admit(uow, actor, "account export")
    person, _ = await person_for(uow, email)
    found = await collect(uow, person)
    settings = uow.settings
    keep = {
        a.lower()
        for a in (person.email, settings.mail_from, settings.contact_address, settings.inquiry_address)
    }
    tables = {
        name: [_exported_row(f, row, keep) for row in f.about]
        for name, f in sorted(found.items())
        if f.rule.about
    }
    now = uow.clock.now()
    document = {"format": FORMAT, "email": person.email, "exported_at": now.isoformat(), "tables": tables}
    counts = {name: len(rows) for name, rows in tables.items()}
    audit.record(uow, actor, "privacy.exported", account_id=person.account_id, rows=sum(counts.values()))
    await uow.commit()
    stamp = now.astimezone(JST).strftime("%Y%m%d-%H%M")
    name = f"personal-data-{person.account_id or 'no-account'}-{stamp}.json"
    content = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    return PersonExport(name, content, counts)


async def preview_erasure(uow: UnitOfWork, actor: Actor, email: str) -> ErasurePlan:
    """What ``erase`` would change, to show before staff confirm (nothing is changed)."""
    await staff.admit(uow, actor, "account erase")
    person, _ = await person_for(uow, email)
    found = await collect(uow, person)
    return ErasurePlan(
        email=person.email,
        counts={n: len(f.about) for n, f in sorted(found.items()) if f.about},
        mentions={n: len(f.mentioning) for n, f in sorted(found.items()) if f.mentioning},
    )


async def erase(uow: UnitOfWork, actor: Actor, email: str) -> Erased:
    """Replace the person's data everywhere with a pseudonym; irreversible, audited.

    Rows that mean nothing without the person (open links, throttles, a registration in
    progress) are deleted; every other row stays with its personal columns replaced, so
    the audit trail and colleagues' threads still say what happened, to ``erased-…``."""
    await staff.admit(uow, actor, "account erase")
    person, _ = await person_for(uow, email)
    found = await collect(uow, person)
    pseudonym = Pseudonym(
        name=f"erased-{secrets.token_hex(4)}",
        erased_text=render("privacy.erased_text", uow.settings.locale),
    )
    scrub = Scrubber(person, pseudonym)
    counts: dict[str, int] = {}
    for name, f in found.items():
        changed = await _erase_table(uow, f, person, scrub)
        if changed:
            counts[name] = changed
    audit.record(
        uow,
        actor,
        "privacy.erased",
        account_id=person.account_id,
        pseudonym=pseudonym.name,
        rows=sum(counts.values()),
        tables=sorted(counts),
    )
    await uow.commit()
    return Erased(pseudonym.name, counts)


def _where_key(table: Table, row: Mapping[str, Any]) -> Any:
    return and_(*(c == v for c, v in zip(table.primary_key.columns, key_of(table, row), strict=True)))


async def _erase_table(uow: UnitOfWork, f: Found, person: Person, scrub: Scrubber) -> int:
    table, rule = f.table, f.rule
    changed = 0
    for row, about in [(r, True) for r in f.about] + [(r, False) for r in f.mentioning]:
        if about and rule.delete:
            await uow.session.execute(delete(table).where(_where_key(table, row)))
            changed += 1
            continue
        own = about and rule.own is not None and rule.own(row, person)
        values: dict[str, Any] = {}
        for column, treatment in rule.personal.items():
            new = scrub.column(treatment, row[column], own=own, nullable=bool(table.c[column].nullable))
            if new != row[column]:
                values[column] = new
        if about and rule.after is not None:
            values.update(rule.after(row))
        if values:
            await uow.session.execute(update(table).where(_where_key(table, row)).values(**values))
            changed += 1
    return changed
