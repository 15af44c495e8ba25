"""The import's scratch space: TEMP staging tables on the import's one connection, and
the batched writes that fill them.

Separate because this is what makes the import all-or-nothing and cheap on memory: the
file's rows wait here (PostgreSQL: COPY; SQLite: executemany) until the whole file is
known to be valid, and the database throws them away with the connection if the
process dies. The tables are not part of the schema, so alembic has nothing to manage
here; the real tables only ever come from the migrations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

STAGING = MetaData()


def _temp(name: str, *columns: Column[Any]) -> Table:
    return Table(name, STAGING, *columns, prefixes=["TEMPORARY"])


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
    # The contract's ``issued_by_mail``: the key works from the next business day.
    Column("by_mail", Boolean),
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
ST_ARTICLES = _temp(
    "import_articles",
    Column("pos", Integer),
    Column("code", String),
    Column("title", String),
    Column("body", Text),
    Column("product_family", String),
    Column("visibility", String),
    # JSON text as json.dumps writes it (SQLAlchemy's JSON type writes the same).
    Column("tags", JSON),
    Column("updated_on", Date),
    Column("withdrawn", Boolean),
    Column("title_grams", Text),
    Column("body_grams", Text),
    Column("body_text", Text),
    # Set by the merge: "created" / "updated" / NULL (unchanged), for the audit records.
    Column("change", String),
)
_SQLITE_INDEXES = (
    "CREATE UNIQUE INDEX import_companies_code ON import_companies (code)",
    "CREATE UNIQUE INDEX import_contracts_number ON import_contracts (number)",
    "CREATE UNIQUE INDEX import_keys_hash ON import_keys (key_hash)",
    "CREATE UNIQUE INDEX import_support_ids_name ON import_support_ids (name_key)",
    "CREATE UNIQUE INDEX import_support_id_keys_hash ON import_support_id_keys (key_hash)",
    "CREATE INDEX import_contacts_name ON import_contacts (name_key, email)",
    "CREATE UNIQUE INDEX import_articles_code ON import_articles (code)",
)


class Stager:
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


def create_staging(sync: Connection) -> None:
    """Empty staging tables on this connection (``conn.run_sync(create_staging)``)."""
    STAGING.drop_all(sync, checkfirst=True)
    STAGING.create_all(sync)


async def prepare_for_merge(conn: AsyncConnection) -> None:
    """What the merge's joins need once the staging tables are full."""
    if conn.dialect.name == "sqlite":
        # SQLite joins by nested loops and needs an index on the inner side;
        # PostgreSQL hash-joins the staging tables and needs none.
        for statement in _SQLITE_INDEXES:
            await conn.exec_driver_sql(statement)
    else:
        # Temp tables get no autovacuum statistics; without them the merge's
        # joins are planned for empty tables.
        for table in STAGING.sorted_tables:
            await conn.exec_driver_sql(f"ANALYZE {table.name}")
