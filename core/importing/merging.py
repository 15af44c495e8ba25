"""The one short transaction that makes a staged, valid file real.

Separate because it is the only phase that writes the real tables (and on SQLite the
only one that holds the write lock): per kind, one set-based UPDATE of the rows that
differ and one INSERT of the rows that are new, matched by natural key, so an import is
idempotent and its row counts are the report. It also checks what depends on live data
that may have changed since the file was made (support IDs a customer has since
created, keys a customer has since put into a support ID) and refuses the whole file
with the row's JSON path when it conflicts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from core.importing.report import (
    MERGE_STEPS,
    READ_SHARE,
    Counts,
    ImportRejected,
    ImportReport,
    Progress,
    ProgressCallback,
)
from core.importing.staging import (
    ST_ARTICLES,
    ST_COMPANIES,
    ST_CONTACTS,
    ST_CONTRACTS,
    ST_KEYS,
    ST_SUPPORT_ID_KEYS,
    ST_SUPPORT_IDS,
)
from core.knowledge.tables import Article
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


def _differs(*pairs: tuple[ColumnElement[Any], ColumnElement[Any]]) -> ColumnElement[bool]:
    return or_(*(a != b for a, b in pairs))


# SQLite's FTS5 indexes of the articles (migrations 0011 and 0017).
_FTS_TABLES = ("articles_fts", "articles_fts_title")


class Merger:
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
        *,
        mail_day: date,
    ) -> None:
        self.conn = conn
        self.report = report
        self.totals = totals
        self.now = now
        # The first day a key of an ``issued_by_mail`` contract works (SPEC §3, §4.1).
        self.mail_day = mail_day
        self.progress = progress
        self.step = 0

    def _advance(self) -> None:
        self.step += 1
        if self.progress is not None:
            share = READ_SHARE + (1 - READ_SHARE) * self.step / MERGE_STEPS
            self.progress(Progress("writing", self.report.rows, min(share, 1.0)))

    async def run(self) -> None:
        for step in (
            self.companies,
            self.contracts,
            self.keys,
            self.support_ids,
            self.support_id_keys,
            self.contacts,
            self.articles,
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
                select(
                    s.c.key_hash,
                    s.c.last4,
                    c.id,
                    case((s.c.by_mail.is_(True), literal("mail", String)), else_=literal("import", String)),
                    case((s.c.by_mail.is_(True), literal(self.mail_day, Date)), else_=null()),
                    self._now(),
                    null(),
                )
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

    async def articles(self) -> None:
        """SPEC §3 ``articles``: updated by code, never deleted (``withdrawn`` hides);
        one audit record per article created or changed, like every other change."""
        s, a = ST_ARTICLES, Article.__table__.c
        match = a.code == s.c.code
        names = ["title", "body", "product_family", "visibility", "updated_on", "withdrawn"]
        differs = or_(
            *(a[n].is_distinct_from(s.c[n]) for n in names),
            cast(a.tags, Text) != cast(s.c.tags, Text),
        )
        await self.conn.execute(update(s).values(change="updated").where(exists().where(match, differs)))
        await self.conn.execute(update(s).values(change="created").where(~exists().where(match)))
        # Derived from the title and body (the index's tokens, the body's plain text).
        grams = ["title_grams", "body_grams", "body_text"]
        sqlite = self.conn.dialect.name == "sqlite"
        if sqlite:
            # FTS5 merges its index segments while rows arrive ("automerge"); for a bulk
            # load that work is thrown away by the final merge: off during the load,
            # then one 'optimize' (measured: 20,000 articles 8.1 s → 2.7 s + 0.5 s). The
            # titles' own index alike (migration 0017).
            for fts in _FTS_TABLES:
                await self.conn.exec_driver_sql(f"INSERT INTO {fts} ({fts}, rank) VALUES ('automerge', 0)")
        updated = await self._rows(
            update(Article)
            .values({**{n: s.c[n] for n in [*names, "tags", *grams]}, "changed_at": self._now()})
            .where(match, s.c.change == "updated")
        )
        created = await self._rows(
            insert(Article).from_select(
                ["code", *names, "tags", *grams, "changed_at"],
                select(s.c.code, *(s.c[n] for n in names), s.c.tags, *(s.c[n] for n in grams), self._now())
                .where(s.c.change == "created")
                .order_by(s.c.pos),
            )
        )
        if sqlite:
            for fts in _FTS_TABLES:
                if created or updated:
                    await self.conn.exec_driver_sql(f"INSERT INTO {fts} ({fts}) VALUES ('optimize')")
                await self.conn.exec_driver_sql(f"INSERT INTO {fts} ({fts}, rank) VALUES ('automerge', 4)")
        if created or updated:
            build = func.json_build_object if self.conn.dialect.name == "postgresql" else func.json_object
            await self.conn.execute(
                insert(AuditRecord).from_select(
                    ["at", "actor_kind", "actor_id", "door", "action", "details"],
                    select(
                        self._now(),
                        literal("system", String),
                        literal("cli", String),
                        literal("cli", String),
                        literal("article.imported", String),
                        build(literal("code", String), s.c.code, literal("change", String), s.c.change),
                    ).where(s.c.change.is_not(None)),
                )
            )
        self._record("articles", created, updated)
