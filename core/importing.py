"""The vendor data import (SPEC §3, §9 "Data size"): companies, contracts with their
support keys, and support IDs pre-made for customers migrated from an older service.

Why it is built this way:

* **Streamed.** A vendor file may hold 1,000,000 keys; it is read with ijson, one row
  at a time, in three passes (companies, contracts, support IDs), so references are
  resolved in that order whatever the order of the arrays in the file. Memory holds
  only what validation needs (the set of codes, numbers and key hashes seen).
* **All-or-nothing.** Rows are validated and written to TEMP staging tables on one
  connection (PostgreSQL: COPY; SQLite: executemany), which the database throws away
  if the process dies. Only when the whole file is valid does one short transaction
  merge the staging tables into the real ones with set-based statements, and check
  what depends on the live data (support IDs a customer has since created, keys a
  customer has since added to a support ID). A bad row anywhere — even the last — is
  reported with its JSON path (``contracts[12345].ends_on``) and nothing is written.
  On SQLite the staging phase does not hold the write lock, so a running service
  keeps working; only the merge does.
* **Idempotent.** Everything is matched by its natural key (company code, contract
  number, key hash, support-ID name case-insensitively, contact email); rows that are
  equal are left alone and counted as unchanged. The import creates and updates, never
  deletes: keys, contacts or companies that are missing from a later file stay.
* **Secrets.** Keys are kept only as keyed hashes (``support_keys.digest``) and their
  last four characters.

The caller (the CLI) supplies a progress callback; nothing here knows about terminals.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import ijson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    exists,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ColumnElement

from core import support_ids, support_keys
from core.actors import Actor
from core.contact_details import PREFECTURES
from core.errors import DomainError
from core.messages import render
from core.models import (
    Account,
    AuditRecord,
    Company,
    Contract,
    PendingContact,
    SupportId,
    SupportIdContact,
    SupportKey,
)
from core.normalize import fold
from core.normalize import support_key as canonical_key
from core.storage import DEFERRED_BEGIN
from core.unit_of_work import UnitOfWork

KINDS = ("companies", "contracts", "keys", "support_ids", "support_id_keys", "contacts")
BATCH_SIZE = 5_000
_REF_BATCH = 1_000
_SQLITE_CACHE_KIB = 256 * 1024
_IMPORTED_TABLES = (
    "companies",
    "contracts",
    "support_keys",
    "support_ids",
    "support_id_contacts",
    "pending_contacts",
)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Lengths of the columns the values go into (core.models).
_MAX = {
    "code": 64,
    "name": 255,
    "postal_code": 8,
    "address": 255,
    "phone": 32,
    "number": 64,
    "company": 64,
    "product_family": 255,
    "end_user": 255,
    "support_id": 80,
    "description": 255,
    "email": 254,
}


class ImportRejected(DomainError):
    """Raised when the file is wrong at ``path``; nothing of the file was written.

    ``reason`` is a catalog id (``import.reason.*``) rendered with the other params.
    """

    def __init__(self, path: str, reason: str, **params: Any) -> None:
        super().__init__("import.rejected", path=path, reason=reason, **params)
        self.path = path
        self.reason = reason


def describe(error: ImportRejected, locale: str) -> str:
    """``contracts[12].ends_on: not a date`` in the reader's language."""
    params = {k: v for k, v in error.params.items() if k not in ("path", "reason")}
    return render("import.rejected", locale, path=error.path, reason=render(error.reason, locale, **params))


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class ImportReport:
    counts: dict[str, Counts] = field(default_factory=lambda: {kind: Counts() for kind in KINDS})
    rows: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in self.counts.values())


@dataclass(frozen=True)
class Progress:
    """Where the import is: ``phase`` is companies | contracts | support_ids while the
    file is read, then writing; ``done`` estimates the fraction of the whole import."""

    phase: str
    rows: int
    done: float


ProgressCallback = Callable[[Progress], None]

# Share of the total time spent reading and staging (measured with bench/scale.py);
# the rest is the merge, reported step by step.
_READ_SHARE = 0.7
_MERGE_STEPS = 6


def prefecture_of(address: str) -> str:
    """The prefecture an address starts with, or ""."""
    text = address.strip()
    for name in PREFECTURES:
        if text.startswith(name):
            return name
    return ""


# --- staging tables -------------------------------------------------------------------

_staging = MetaData()


def _temp(name: str, *columns: Column[Any]) -> Table:
    return Table(name, _staging, *columns, prefixes=["TEMPORARY"])


ST_COMPANIES = _temp(
    "import_companies",
    Column("pos", Integer),
    Column("code", String),
    Column("name", String),
    Column("name_norm", String),
    Column("postal_code", String),
    Column("prefecture", String),
    Column("address", String),
    Column("address_norm", String),
    Column("phone", String),
)
ST_CONTRACTS = _temp(
    "import_contracts",
    Column("pos", Integer),
    Column("number", String),
    Column("company_code", String),
    Column("product_family", String),
    Column("end_user", String),
    Column("starts_on", Date),
    Column("ends_on", Date),
    Column("requires_terms", Boolean),
)
ST_KEYS = _temp(
    "import_keys",
    Column("pos", Integer),
    Column("kpos", Integer),
    Column("key_hash", String),
    Column("last4", String),
    Column("contract_number", String),
)
ST_SUPPORT_IDS = _temp(
    "import_support_ids",
    Column("pos", Integer),
    Column("name", String),
    Column("name_key", String),
    Column("description", String),
)
ST_SUPPORT_ID_KEYS = _temp(
    "import_support_id_keys",
    Column("pos", Integer),
    Column("kpos", Integer),
    Column("name_key", String),
    Column("key_hash", String),
)
ST_CONTACTS = _temp(
    "import_contacts",
    Column("pos", Integer),
    Column("cpos", Integer),
    Column("name_key", String),
    Column("email", String),
)
_STAGING_INDEXES = (
    "CREATE UNIQUE INDEX import_companies_code ON import_companies (code)",
    "CREATE UNIQUE INDEX import_contracts_number ON import_contracts (number)",
    "CREATE UNIQUE INDEX import_keys_hash ON import_keys (key_hash)",
    "CREATE UNIQUE INDEX import_support_ids_name ON import_support_ids (name_key)",
    "CREATE UNIQUE INDEX import_support_id_keys_hash ON import_support_id_keys (key_hash)",
    "CREATE INDEX import_contacts_name ON import_contacts (name_key, email)",
)


class _Stager:
    """Buffers rows for one staging table and writes them in batches."""

    def __init__(self, conn: AsyncConnection, table: Table, batch_size: int) -> None:
        self._conn = conn
        self._table = table
        self._names = [c.name for c in table.columns]
        self._copy = conn.dialect.name == "postgresql"
        # Each COPY is a round trip plus a look-up of the column types: fewer, larger.
        self._batch_size = batch_size * 4 if self._copy else batch_size
        self._rows: list[tuple[Any, ...]] = []
        self._dates = {i for i, c in enumerate(table.columns) if isinstance(c.type, Date)}
        self._sql = f"INSERT INTO {table.name} ({', '.join(self._names)}) VALUES ({', '.join('?' * len(self._names))})"

    async def add(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        if self._copy:
            # COPY is an order of magnitude faster than INSERT on PostgreSQL.
            raw = await self._conn.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                self._table.name, records=rows, columns=self._names
            )
        else:
            if self._dates:
                rows = [self._iso(r) for r in rows]
            # Plain executemany of tuples: SQLAlchemy's per-row parameter processing
            # for an insert() of dicts costs more than SQLite's own work here.
            await self._conn.exec_driver_sql(self._sql, rows)

    def _iso(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """SQLite keeps dates as ISO text, as SQLAlchemy's Date type writes them."""
        return tuple(v.isoformat() if i in self._dates else v for i, v in enumerate(row))


# --- reading and validating -----------------------------------------------------------


def _items(handle: BinaryIO, section: str) -> Iterator[tuple[int, Any]]:
    """(index, row) for every element of the top-level array ``section``."""
    try:
        yield from enumerate(ijson.items(handle, f"{section}.item", use_float=True))
    except ijson.JSONError as exc:
        raise ImportRejected("$", "import.reason.invalid_json", detail=str(exc)[:200]) from exc


def _text(row: dict[str, Any], name: str, path: str, *, required: bool, limit: str | None = None) -> str:
    value = row.get(name)
    if value is None:
        if required:
            raise ImportRejected(f"{path}.{name}", "import.reason.missing")
        return ""
    if not isinstance(value, str):
        raise ImportRejected(f"{path}.{name}", "import.reason.not_a_string")
    value = value.strip()
    if required and not value:
        raise ImportRejected(f"{path}.{name}", "import.reason.missing")
    maximum = _MAX[limit or name]
    if len(value) > maximum:
        raise ImportRejected(f"{path}.{name}", "import.reason.too_long", max=maximum)
    return value


def _date(row: dict[str, Any], name: str, path: str) -> date:
    value = row.get(name)
    if value is None:
        raise ImportRejected(f"{path}.{name}", "import.reason.missing")
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ImportRejected(f"{path}.{name}", "import.reason.not_a_date")


def _list(row: dict[str, Any], name: str, path: str) -> list[Any]:
    value = row.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportRejected(f"{path}.{name}", "import.reason.not_a_list")
    return value


def _object(row: Any, path: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ImportRejected(path, "import.reason.not_an_object")
    return row


def _key(value: Any, path: str) -> str:
    """The canonical spelling of a key (what is hashed), or the reason it is refused."""
    if not isinstance(value, str):
        raise ImportRejected(path, "import.reason.not_a_string")
    if len(value.strip()) > support_keys.MAX_LENGTH:
        raise ImportRejected(path, "import.reason.key_too_long", max=support_keys.MAX_LENGTH)
    if not support_keys.is_well_formed(value):
        raise ImportRejected(path, "import.reason.key_malformed")
    return canonical_key(value)


class _Reader:
    """The three passes over the file; everything they learn stays in plain sets/dicts."""

    def __init__(
        self,
        uow: UnitOfWork,
        conn: AsyncConnection,
        path: Path,
        progress: ProgressCallback | None,
        batch_size: int,
    ) -> None:
        self.uow = uow
        self.conn = conn
        self.path = path
        self.size = max(1, path.stat().st_size)
        self.progress = progress
        self.batch_size = batch_size
        self.rows = 0
        self.companies: dict[str, int] = {}
        self.contracts: dict[str, int] = {}
        self.key_hashes: set[str] = set()
        self.support_ids: dict[str, int] = {}
        self.assigned: set[str] = set()
        self.db_companies: set[str] = set()
        self.db_keys: set[str] = set()
        self.contacts = 0
        self._pending_companies: list[tuple[str, str]] = []
        self._pending_keys: list[tuple[str, str]] = []
        self._read_bytes = 0.0
        self._last_report = 0.0
        self._done = 0.0
        self.stagers: dict[str, _Stager] = {}

    def totals(self) -> dict[str, int]:
        """Rows of each kind in the file: what the merge's row counts are taken from."""
        return {
            "companies": len(self.companies),
            "contracts": len(self.contracts),
            "keys": len(self.key_hashes),
            "support_ids": len(self.support_ids),
            "support_id_keys": len(self.assigned),
            "contacts": self.contacts,
        }

    def stager(self, table: Table) -> _Stager:
        if table.name not in self.stagers:
            self.stagers[table.name] = _Stager(self.conn, table, self.batch_size)
        return self.stagers[table.name]

    def _report(self, phase: str, region_start: int, position: int, *, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < 0.1:
            return
        self._last_report = now
        # File positions move in read-buffer steps, so the estimate is kept monotonic.
        read = (self._read_bytes + max(0, position - region_start)) / self.size
        self._done = max(self._done, min(read, 1.0) * _READ_SHARE)
        self.progress(Progress(phase, self.rows, self._done))

    async def _pass(
        self, section: str, handle: Callable[[int, dict[str, Any], str], Awaitable[None]]
    ) -> None:
        start: int | None = None
        position = 0
        with self.path.open("rb") as file:
            for index, row in _items(file, section):
                if start is None:
                    start = file.tell()
                path = f"{section}[{index}]"
                try:
                    await handle(index, _object(row, path), path)
                except ImportRejected:
                    # An unresolved reference in an earlier row is the first error.
                    await self.resolve_refs()
                    raise
                self.rows += 1
                if self.rows % 256 == 0:
                    position = file.tell()
                    self._report(section, start, position)
        if start is not None:
            self._read_bytes += position - start
        await self.resolve_refs()
        self._report(section, start or 0, position, force=True)

    async def read(self) -> None:
        await self._pass("companies", self._company)
        await self._pass("contracts", self._contract)
        await self._pass("support_ids", self._support_id)
        for stager in self.stagers.values():
            await stager.flush()
        if self.rows == 0:
            raise ImportRejected("$", "import.reason.empty_file")

    async def _company(self, index: int, row: dict[str, Any], path: str) -> None:
        code = _text(row, "code", path, required=True)
        if code in self.companies:
            raise ImportRejected(
                f"{path}.code", "import.reason.duplicate", first=f"companies[{self.companies[code]}]"
            )
        self.companies[code] = index
        name = _text(row, "name", path, required=True)
        address = _text(row, "address", path, required=False)
        await self.stager(ST_COMPANIES).add(
            (
                index,
                code,
                name,
                fold(name),
                _text(row, "postal_code", path, required=False),
                prefecture_of(address),
                address,
                fold(address),
                _text(row, "phone", path, required=False),
            )
        )

    async def _contract(self, index: int, row: dict[str, Any], path: str) -> None:
        number = _text(row, "number", path, required=True)
        if number in self.contracts:
            raise ImportRejected(
                f"{path}.number", "import.reason.duplicate", first=f"contracts[{self.contracts[number]}]"
            )
        self.contracts[number] = index
        company = _text(row, "company", path, required=True)
        if company not in self.companies and company not in self.db_companies:
            self._pending_companies.append((f"{path}.company", company))
            if len(self._pending_companies) >= _REF_BATCH:
                await self.resolve_refs()
        starts_on = _date(row, "starts_on", path)
        ends_on = _date(row, "ends_on", path)
        if ends_on < starts_on:
            raise ImportRejected(f"{path}.ends_on", "import.reason.ends_before_start")
        requires_terms = row.get("requires_terms", False)
        if not isinstance(requires_terms, bool):
            raise ImportRejected(f"{path}.requires_terms", "import.reason.not_a_boolean")
        product_family = _text(row, "product_family", path, required=False)
        end_user = _text(row, "end_user", path, required=False)
        keys = _list(row, "keys", path)
        staged_keys = self.stager(ST_KEYS)
        hasher = self.uow.hasher
        for kpos, raw in enumerate(keys):
            key_path = f"{path}.keys[{kpos}]"
            canonical = _key(raw, key_path)
            digest = hasher.digest(canonical, purpose=support_keys.HASH_PURPOSE)
            if digest in self.key_hashes:
                raise ImportRejected(key_path, "import.reason.duplicate", first=await self._first_key(digest))
            self.key_hashes.add(digest)
            await staged_keys.add((index, kpos, digest, canonical[-4:], number))
        await self.stager(ST_CONTRACTS).add(
            (index, number, company, product_family, end_user, starts_on, ends_on, requires_terms)
        )

    async def _first_key(self, digest: str) -> str:
        await self.stager(ST_KEYS).flush()
        row = (
            await self.conn.execute(
                select(ST_KEYS.c.pos, ST_KEYS.c.kpos).where(ST_KEYS.c.key_hash == digest).limit(1)
            )
        ).first()
        return f"contracts[{row.pos}].keys[{row.kpos}]" if row else "?"

    async def _support_id(self, index: int, row: dict[str, Any], path: str) -> None:
        name = _text(row, "name", path, required=True, limit="support_id")
        if not support_ids.is_well_formed_name(name):
            raise ImportRejected(f"{path}.name", "import.reason.support_id_name")
        name_key = name.lower()
        if name_key in self.support_ids:
            raise ImportRejected(
                f"{path}.name", "import.reason.duplicate", first=f"support_ids[{self.support_ids[name_key]}]"
            )
        self.support_ids[name_key] = index
        description = _text(row, "description", path, required=False)
        staged_keys = self.stager(ST_SUPPORT_ID_KEYS)
        for kpos, raw in enumerate(_list(row, "keys", path)):
            key_path = f"{path}.keys[{kpos}]"
            digest = self.uow.hasher.digest(_key(raw, key_path), purpose=support_keys.HASH_PURPOSE)
            if digest in self.assigned:
                raise ImportRejected(
                    key_path, "import.reason.duplicate", first=await self._first_assignment(digest)
                )
            self.assigned.add(digest)
            if digest not in self.key_hashes and digest not in self.db_keys:
                self._pending_keys.append((key_path, digest))
                if len(self._pending_keys) >= _REF_BATCH:
                    await self.resolve_refs()
            await staged_keys.add((index, kpos, name_key, digest))
        contacts = self.stager(ST_CONTACTS)
        seen: set[str] = set()
        for cpos, email in enumerate(_list(row, "contacts", path)):
            contact_path = f"{path}.contacts[{cpos}]"
            if not isinstance(email, str):
                raise ImportRejected(contact_path, "import.reason.not_a_string")
            address = email.strip().lower()
            if len(address) > _MAX["email"] or not _EMAIL.match(address):
                raise ImportRejected(contact_path, "import.reason.bad_email")
            if address not in seen:
                seen.add(address)
                self.contacts += 1
                await contacts.add((index, cpos, name_key, address))
        await self.stager(ST_SUPPORT_IDS).add((index, name, name_key, description))

    async def _first_assignment(self, digest: str) -> str:
        await self.stager(ST_SUPPORT_ID_KEYS).flush()
        table = ST_SUPPORT_ID_KEYS
        row = (
            await self.conn.execute(
                select(table.c.pos, table.c.kpos).where(table.c.key_hash == digest).limit(1)
            )
        ).first()
        return f"support_ids[{row.pos}].keys[{row.kpos}]" if row else "?"

    async def resolve_refs(self) -> None:
        """References to rows that are not in the file must already be in the database."""
        if self._pending_companies:
            pending, self._pending_companies = self._pending_companies, []
            codes = {code for _, code in pending}
            found = await self.conn.scalars(select(Company.code).where(Company.code.in_(codes)))
            self.db_companies.update(found)
            for ref_path, code in pending:
                if code not in self.db_companies:
                    raise ImportRejected(ref_path, "import.reason.unknown_company", code=code)
        if self._pending_keys:
            pending_keys, self._pending_keys = self._pending_keys, []
            digests = {digest for _, digest in pending_keys}
            found = await self.conn.scalars(
                select(SupportKey.key_hash).where(SupportKey.key_hash.in_(digests))
            )
            self.db_keys.update(found)
            for ref_path, digest in pending_keys:
                if digest not in self.db_keys:
                    raise ImportRejected(ref_path, "import.reason.unknown_key")


# --- merging --------------------------------------------------------------------------


def _differs(*pairs: tuple[ColumnElement[Any], ColumnElement[Any]]) -> ColumnElement[bool]:
    return or_(*(a != b for a, b in pairs))


class _Merger:
    """The one transaction that makes the staged file real.

    Per kind: one UPDATE of the rows that differ, one INSERT of the rows that are new;
    their row counts are the report (unchanged = rows in the file − both).
    """

    def __init__(
        self,
        conn: AsyncConnection,
        report: ImportReport,
        totals: dict[str, int],
        now: datetime,
        progress: ProgressCallback | None,
    ) -> None:
        self.conn = conn
        self.report = report
        self.totals = totals
        self.now = now
        self.progress = progress
        self.step = 0

    def _advance(self) -> None:
        self.step += 1
        if self.progress is not None:
            share = _READ_SHARE + (1 - _READ_SHARE) * self.step / _MERGE_STEPS
            self.progress(Progress("writing", self.report.rows, min(share, 1.0)))

    async def run(self) -> None:
        for step in (
            self.companies,
            self.contracts,
            self.keys,
            self.support_ids,
            self.support_id_keys,
            self.contacts,
        ):
            await step()
            self._advance()

    async def _rows(self, statement: Any) -> int:
        return max(0, (await self.conn.execute(statement)).rowcount)

    def _record(self, kind: str, created: int, updated: int = 0) -> None:
        total = self.totals.get(kind, created + updated)
        self.report.counts[kind] = Counts(created, updated, max(0, total - created - updated))

    def _now(self) -> ColumnElement[Any]:
        return literal(self.now, DateTime(timezone=True))

    async def companies(self) -> None:
        s, c = ST_COMPANIES, Company.__table__.c
        match = c.code == s.c.code
        names = ["name", "name_norm", "postal_code", "prefecture", "address", "address_norm", "phone"]
        updated = await self._rows(
            update(Company)
            .values({n: s.c[n] for n in names})
            .where(match, _differs(*((c[n], s.c[n]) for n in names)))
        )
        created = await self._rows(
            insert(Company).from_select(
                ["code", *names],
                select(s.c.code, *(s.c[n] for n in names)).where(~exists().where(match)).order_by(s.c.pos),
            )
        )
        self._record("companies", created, updated)

    async def contracts(self) -> None:
        s, c, co = ST_CONTRACTS, Contract.__table__.c, Company.__table__.c
        match = c.number == s.c.number
        by_code = co.code == s.c.company_code
        names = ["product_family", "end_user", "starts_on", "ends_on", "requires_terms"]
        updated = await self._rows(
            update(Contract)
            .values(company_id=co.id, **{n: s.c[n] for n in names})
            .where(match, by_code, _differs((c.company_id, co.id), *((c[n], s.c[n]) for n in names)))
        )
        created = await self._rows(
            insert(Contract).from_select(
                ["number", "company_id", *names],
                select(s.c.number, co.id, *(s.c[n] for n in names))
                .join(Company, by_code)
                .where(~exists().where(match))
                .order_by(s.c.pos),
            )
        )
        self._record("contracts", created, updated)

    async def keys(self) -> None:
        s, k, c = ST_KEYS, SupportKey.__table__.c, Contract.__table__.c
        match = k.key_hash == s.c.key_hash
        by_number = c.number == s.c.contract_number
        updated = await self._rows(
            update(SupportKey).values(contract_id=c.id).where(match, by_number, k.contract_id != c.id)
        )
        # In hash order: the unique index on key_hash then grows at its end instead of
        # at a million random places, which a small page cache cannot hold.
        created = await self._rows(
            insert(SupportKey).from_select(
                ["key_hash", "last4", "contract_id", "issued_via", "usable_from", "issued_at", "revoked_at"],
                select(s.c.key_hash, s.c.last4, c.id, literal("import", String), null(), self._now(), null())
                .join(Contract, by_number)
                .where(~exists().where(match))
                .order_by(s.c.key_hash),
            )
        )
        self._record("keys", created, updated)

    async def support_ids(self) -> None:
        s, t = ST_SUPPORT_IDS, SupportId.__table__.c
        match = t.name_key == s.c.name_key
        taken = (
            await self.conn.execute(
                select(s.c.pos).join(SupportId, match).where(t.migrated.is_(False)).order_by(s.c.pos).limit(1)
            )
        ).first()
        if taken is not None:
            raise ImportRejected(f"support_ids[{taken.pos}].name", "import.reason.support_id_taken")
        updated = await self._rows(
            update(SupportId)
            .values(description=s.c.description)
            .where(match, t.description != s.c.description)
        )
        created = await self._rows(
            insert(SupportId).from_select(
                ["name", "name_key", "description", "migrated", "created_at"],
                select(s.c.name, s.c.name_key, s.c.description, literal(True, Boolean), self._now())
                .where(~exists().where(match))
                .order_by(s.c.pos),
            )
        )
        if created:
            # One audit record per support ID created, so staff reading a support ID's
            # history see where it came from.
            audited = exists().where(
                AuditRecord.support_id_id == t.id, AuditRecord.action == "support_id.imported"
            )
            await self.conn.execute(
                insert(AuditRecord).from_select(
                    ["at", "actor_kind", "actor_id", "door", "action", "support_id_id", "details"],
                    select(
                        self._now(),
                        literal("system", String),
                        literal("cli", String),
                        literal("cli", String),
                        literal("support_id.imported", String),
                        t.id,
                        literal({}, JSON),
                    )
                    .select_from(s)
                    .join(SupportId, match)
                    .where(~audited),
                )
            )
        self._record("support_ids", created, updated)

    async def support_id_keys(self) -> None:
        s, k, t = ST_SUPPORT_ID_KEYS, SupportKey.__table__.c, SupportId.__table__.c
        match = k.key_hash == s.c.key_hash
        # A key a customer has put into another support ID is not taken away by an import.
        current = SupportId.__table__.alias("current_support_id")
        elsewhere = (
            await self.conn.execute(
                select(s.c.pos, s.c.kpos)
                .join(SupportKey, match)
                .join(current, current.c.id == k.support_id_id)
                .where(current.c.name_key != s.c.name_key)
                .order_by(s.c.pos, s.c.kpos)
                .limit(1)
            )
        ).first()
        if elsewhere is not None:
            raise ImportRejected(
                f"support_ids[{elsewhere.pos}].keys[{elsewhere.kpos}]",
                "import.reason.key_in_other_support_id",
            )
        created = await self._rows(
            update(SupportKey)
            .values(support_id_id=t.id)
            .where(match, t.name_key == s.c.name_key, k.support_id_id.is_(None))
        )
        # SPEC §4.4: all keys of one contract number belong to one support ID.
        other = SupportKey.__table__.alias("other_key")
        split = (
            await self.conn.execute(
                select(s.c.pos, s.c.kpos)
                .join(SupportKey, match)
                .join(
                    other,
                    and_(
                        other.c.contract_id == k.contract_id,
                        other.c.support_id_id.is_not(None),
                        other.c.support_id_id != k.support_id_id,
                    ),
                )
                .order_by(s.c.pos, s.c.kpos)
                .limit(1)
            )
        ).first()
        if split is not None:
            raise ImportRejected(
                f"support_ids[{split.pos}].keys[{split.kpos}]", "import.reason.contract_split"
            )
        self._record("support_id_keys", created)

    async def contacts(self) -> None:
        """Registered accounts become contacts now; other addresses wait in
        ``pending_contacts`` until an account with that email registers."""
        s, t, a = ST_CONTACTS, SupportId.__table__.c, Account.__table__.c
        by_name = t.name_key == s.c.name_key
        by_email = a.email == s.c.email
        linked = exists().where(SupportIdContact.support_id_id == t.id, SupportIdContact.account_id == a.id)
        pending = exists().where(PendingContact.support_id_id == t.id, PendingContact.email == s.c.email)
        has_account = exists().where(by_email)
        created = await self._rows(
            insert(SupportIdContact).from_select(
                ["support_id_id", "account_id", "added_at"],
                select(t.id, a.id, self._now())
                .select_from(s)
                .join(SupportId, by_name)
                .join(Account, by_email)
                .where(~linked),
            )
        )
        created += await self._rows(
            insert(PendingContact).from_select(
                ["support_id_id", "email"],
                select(t.id, s.c.email).select_from(s).join(SupportId, by_name).where(~has_account, ~pending),
            )
        )
        self._record("contacts", created)


# --- the service ----------------------------------------------------------------------


async def _settle_postgres(conn: AsyncConnection) -> None:
    """Make the lookups fast right after a big import instead of after autovacuum:
    rows inserted into a GIN index wait in its pending list, which every search then
    reads whole (and the planner, seeing it, prefers a sequential scan); fresh
    statistics let the planner see the tables' new size; and a VACUUM now sets the
    visibility map, which autovacuum would otherwise do minutes later over a million
    new rows while people are being served (it was seen doubling a lookup's p99)."""
    for index in ("ix_companies_name_norm_trgm", "ix_companies_address_norm_trgm"):
        await conn.execute(
            text("SELECT gin_clean_pending_list(to_regclass(:name)) WHERE to_regclass(:name) IS NOT NULL"),
            {"name": index},
        )
    await conn.commit()
    # VACUUM cannot run inside a transaction block.
    autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
    for name in _IMPORTED_TABLES:
        await autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {name}")


def _create_staging(sync: Connection) -> None:
    """The import's scratch space: TEMP tables that live and die with this one
    connection. They are not part of the schema, so alembic has nothing to manage here;
    the real tables only ever come from the migrations."""
    _staging.drop_all(sync, checkfirst=True)
    _staging.create_all(sync)


async def import_file(
    uow: UnitOfWork,
    actor: Actor,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Imports the vendor file at ``path``; raises ``ImportRejected`` and writes nothing
    if any row is wrong. Commits on its own connection (not ``uow.session``)."""
    started = time.monotonic()
    engine = uow.session.bind
    if not isinstance(engine, AsyncEngine):
        raise TypeError("the import needs a unit of work bound to an engine")
    report = ImportReport()
    async with engine.connect() as conn:
        try:
            await conn.execution_options(**{DEFERRED_BEGIN: True})
            await conn.run_sync(_create_staging)
            if conn.dialect.name == "sqlite":
                # The merge touches every page of the big indexes; SQLite's default
                # 2 MiB cache would re-read them from disk again and again.
                await conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            reader = _Reader(uow, conn, path, progress, batch_size)
            await reader.read()
            report.rows = reader.rows
            totals = reader.totals()
            del reader  # the validation sets are no longer needed during the merge
            if conn.dialect.name == "sqlite":
                # SQLite joins by nested loops and needs an index on the inner side;
                # PostgreSQL hash-joins the staging tables and needs none.
                for statement in _STAGING_INDEXES:
                    await conn.exec_driver_sql(statement)
            else:
                # Temp tables get no autovacuum statistics; without them the merge's
                # joins are planned for empty tables.
                for table in _staging.sorted_tables:
                    await conn.exec_driver_sql(f"ANALYZE {table.name}")
            await conn.commit()

            await conn.execution_options(**{DEFERRED_BEGIN: False})
            now = uow.clock.now()
            await _Merger(conn, report, totals, now, progress).run()
            report.seconds = time.monotonic() - started
            await conn.execute(
                insert(AuditRecord).values(
                    at=now,
                    actor_kind=actor.kind,
                    actor_id=actor.ref if actor.account_id is None else f"account:{actor.account_id}",
                    door=actor.door,
                    action="import.completed",
                    details={
                        "file": path.name,
                        "counts": {kind: vars(c) for kind, c in report.counts.items()},
                    },
                )
            )
            await conn.commit()
            if conn.dialect.name == "postgresql":
                await _settle_postgres(conn)
        finally:
            # TEMP tables live as long as the database connection; the pool would keep
            # them (and their disk space) around, so this connection is closed for good.
            await conn.invalidate()
    return report


def total_line(report: ImportReport) -> Sequence[tuple[str, Counts]]:
    return [(kind, report.counts[kind]) for kind in KINDS]
