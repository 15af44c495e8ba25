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

The modules, in the order an import runs through them:

- ``run``: one import from start to end — its connection, transactions, audit record.
- ``reading``: the three passes over the file; references; what to stage.
- ``fields``: what one value of the file must be (no database, no state).
- ``staging``: the TEMP tables and their batched writes.
- ``merging``: the transaction that writes the real tables from the staged rows.
- ``report``: what the caller sees — refusals, counts, progress.
"""

from core.importing.fields import prefecture_of
from core.importing.report import (
    KINDS,
    Counts,
    ImportRejected,
    ImportReport,
    Progress,
    ProgressCallback,
    describe,
    total_line,
)
from core.importing.run import BATCH_SIZE, import_file

__all__ = [
    "BATCH_SIZE",
    "KINDS",
    "Counts",
    "ImportRejected",
    "ImportReport",
    "Progress",
    "ProgressCallback",
    "describe",
    "import_file",
    "prefecture_of",
    "total_line",
]
