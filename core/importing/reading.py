"""Reading the vendor file: three streamed passes (companies, contracts, support IDs)
that validate every row, resolve its references and stage it.

Separate because this is the phase that must not hold the database's write lock and
must not hold the file in memory: it keeps only what validation needs (the codes,
numbers and key hashes seen, as plain sets and dicts), stages rows as they come
(``core.importing.staging``) and names the first bad row by its JSON path. The passes
run in that order whatever the order of the arrays in the file, so a contract's company
and a support ID's keys are known before they are referred to; references to rows of
an earlier import are looked up in the database in batches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import support_ids, support_keys
from core.clock import JST
from core.importing.fields import (
    EMAIL,
    MAX,
    date_field,
    elements,
    key_at,
    list_field,
    object_at,
    prefecture_of,
    text_field,
)
from core.importing.report import READ_SHARE, ImportRejected, Progress, ProgressCallback
from core.importing.staging import (
    ST_ARTICLES,
    ST_COMPANIES,
    ST_CONTACTS,
    ST_CONTRACTS,
    ST_KEYS,
    ST_SUPPORT_ID_KEYS,
    ST_SUPPORT_IDS,
    Stager,
)
from core.knowledge import fields as article_fields
from core.knowledge import grams
from core.knowledge.text import plain_text
from core.models import Company, SupportKey
from core.normalize import fold
from core.unit_of_work import UnitOfWork

# References to rows outside the file are looked up in the database this many at a time.
_REF_BATCH = 1_000


class FileReader:
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
        self.articles: dict[str, int] = {}
        self._pending_companies: list[tuple[str, str]] = []
        self._pending_keys: list[tuple[str, str]] = []
        self._read_bytes = 0.0
        self._last_report = 0.0
        self._done = 0.0
        self.stagers: dict[str, Stager] = {}

    def totals(self) -> dict[str, int]:
        """Rows of each kind in the file: what the merge's row counts are taken from."""
        return {
            "companies": len(self.companies),
            "contracts": len(self.contracts),
            "keys": len(self.key_hashes),
            "support_ids": len(self.support_ids),
            "support_id_keys": len(self.assigned),
            "contacts": self.contacts,
            "articles": len(self.articles),
        }

    def stager(self, table: Table) -> Stager:
        if table.name not in self.stagers:
            self.stagers[table.name] = Stager(self.conn, table, self.batch_size)
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
        self._done = max(self._done, min(read, 1.0) * READ_SHARE)
        self.progress(Progress(phase, self.rows, self._done))

    async def _pass(
        self, section: str, handle: Callable[[int, dict[str, Any], str], Awaitable[None]]
    ) -> None:
        start: int | None = None
        position = 0
        with self.path.open("rb") as file:
            for index, row in elements(file, section):
                if start is None:
                    start = file.tell()
                path = f"{section}[{index}]"
                try:
                    await handle(index, object_at(row, path), path)
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
        await self._pass("articles", self._article)
        for stager in self.stagers.values():
            await stager.flush()
        if self.rows == 0:
            raise ImportRejected("$", "import.reason.empty_file")

    async def _company(self, index: int, row: dict[str, Any], path: str) -> None:
        code = text_field(row, "code", path, required=True)
        if code in self.companies:
            raise ImportRejected(
                f"{path}.code", "import.reason.duplicate", first=f"companies[{self.companies[code]}]"
            )
        self.companies[code] = index
        name = text_field(row, "name", path, required=True)
        address = text_field(row, "address", path, required=False)
        await self.stager(ST_COMPANIES).add(
            (
                index,
                code,
                name,
                fold(name),
                text_field(row, "postal_code", path, required=False),
                prefecture_of(address),
                address,
                fold(address),
                text_field(row, "phone", path, required=False),
            )
        )

    async def _contract(self, index: int, row: dict[str, Any], path: str) -> None:
        number = text_field(row, "number", path, required=True)
        if number in self.contracts:
            raise ImportRejected(
                f"{path}.number", "import.reason.duplicate", first=f"contracts[{self.contracts[number]}]"
            )
        self.contracts[number] = index
        company = text_field(row, "company", path, required=True)
        if company not in self.companies and company not in self.db_companies:
            self._pending_companies.append((f"{path}.company", company))
            if len(self._pending_companies) >= _REF_BATCH:
                await self.resolve_refs()
        starts_on = date_field(row, "starts_on", path)
        ends_on = date_field(row, "ends_on", path)
        if ends_on < starts_on:
            raise ImportRejected(f"{path}.ends_on", "import.reason.ends_before_start")
        requires_terms = row.get("requires_terms", False)
        if not isinstance(requires_terms, bool):
            raise ImportRejected(f"{path}.requires_terms", "import.reason.not_a_boolean")
        by_mail = row.get("issued_by_mail", False)
        if not isinstance(by_mail, bool):
            raise ImportRejected(f"{path}.issued_by_mail", "import.reason.not_a_boolean")
        product_family = text_field(row, "product_family", path, required=False)
        end_user = text_field(row, "end_user", path, required=False)
        keys = list_field(row, "keys", path)
        staged_keys = self.stager(ST_KEYS)
        hasher = self.uow.hasher
        for kpos, raw in enumerate(keys):
            key_path = f"{path}.keys[{kpos}]"
            canonical = key_at(raw, key_path)
            digest = hasher.digest(canonical, purpose=support_keys.HASH_PURPOSE)
            if digest in self.key_hashes:
                raise ImportRejected(key_path, "import.reason.duplicate", first=await self._first_key(digest))
            self.key_hashes.add(digest)
            await staged_keys.add((index, kpos, digest, canonical[-4:], number, by_mail))
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
        name = text_field(row, "name", path, required=True, limit="support_id")
        if not support_ids.is_well_formed_name(name):
            raise ImportRejected(f"{path}.name", "import.reason.support_id_name")
        name_key = name.lower()
        if name_key in self.support_ids:
            raise ImportRejected(
                f"{path}.name", "import.reason.duplicate", first=f"support_ids[{self.support_ids[name_key]}]"
            )
        self.support_ids[name_key] = index
        description = text_field(row, "description", path, required=False)
        staged_keys = self.stager(ST_SUPPORT_ID_KEYS)
        for kpos, raw in enumerate(list_field(row, "keys", path)):
            key_path = f"{path}.keys[{kpos}]"
            digest = self.uow.hasher.digest(key_at(raw, key_path), purpose=support_keys.HASH_PURPOSE)
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
        for cpos, email in enumerate(list_field(row, "contacts", path)):
            contact_path = f"{path}.contacts[{cpos}]"
            if not isinstance(email, str):
                raise ImportRejected(contact_path, "import.reason.not_a_string")
            address = email.strip().lower()
            if len(address) > MAX["email"] or not EMAIL.match(address):
                raise ImportRejected(contact_path, "import.reason.bad_email")
            if address not in seen:
                seen.add(address)
                self.contacts += 1
                await contacts.add((index, cpos, name_key, address))
        await self.stager(ST_SUPPORT_IDS).add((index, name, name_key, description))

    async def _article(self, index: int, row: dict[str, Any], path: str) -> None:
        """SPEC §3 ``articles``: matched by code (upper-cased) on re-import."""
        checked = article_fields.check(row, today=self.uow.clock.now().astimezone(JST).date())
        if isinstance(checked, tuple):
            name, reason, params = checked
            raise ImportRejected(f"{path}.{name}", reason, **params)
        if "updated_on" not in row:
            # A file says when its articles were updated; today's date would make a
            # re-import the next day change every article.
            raise ImportRejected(f"{path}.updated_on", "import.reason.missing")
        if checked.code in self.articles:
            raise ImportRejected(
                f"{path}.code", "import.reason.duplicate", first=f"articles[{self.articles[checked.code]}]"
            )
        self.articles[checked.code] = index
        await self.stager(ST_ARTICLES).add(
            (
                index,
                checked.code,
                checked.title,
                checked.body,
                checked.product_family,
                checked.visibility,
                json.dumps(checked.tags),
                checked.updated_on,
                checked.withdrawn,
                grams.grams(checked.title),
                grams.grams(checked.body),
                plain_text(checked.body),
                None,
            )
        )

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
