"""Keeping a message's files: checked, named, typed and hashed, then stored all or none.

``prepare`` is pure (no database) so the costly part — hashing, sniffing — runs where the
bytes already are: the mail door's parser process (through ``contact_window.assess``),
or the Slack door's handler. ``store`` writes a message's files in the caller's unit of
work, after ``check`` has passed all of them: a refusal raises before anything is
written, and the caller's commit stores the files together with the message they belong
to, or neither.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select

from core.attachments.names import sanitise
from core.attachments.sniffing import sniff
from core.attachments.tables import Attachment, AttachmentBlob
from core.clock import aware
from core.config import Settings
from core.errors import DomainError
from core.snapshots import Reader, reads
from core.storage.compiled import Query, Row
from core.unit_of_work import UnitOfWork

MAX_FILES = 10  # per message (SPEC §4.8)
MIB = 1024 * 1024

_ATTACHMENTS = cast(Table, Attachment.__table__)
_BLOBS = cast(Table, AttachmentBlob.__table__)
_INSERT = insert(_ATTACHMENTS).returning(_ATTACHMENTS.c.id)
COLUMNS = (
    _ATTACHMENTS.c.id,
    _ATTACHMENTS.c.owner_kind,
    _ATTACHMENTS.c.owner_id,
    _ATTACHMENTS.c.name,
    _ATTACHMENTS.c.content_type,
    _ATTACHMENTS.c.size,
    _ATTACHMENTS.c.sha256,
    _ATTACHMENTS.c.created_at,
)
_FOR_OWNER = Query(
    select(*COLUMNS)
    .where(
        _ATTACHMENTS.c.owner_kind == bindparam("owner_kind"), _ATTACHMENTS.c.owner_id == bindparam("owner_id")
    )
    .order_by(_ATTACHMENTS.c.id)
)
_ONE = Query(select(*COLUMNS).where(_ATTACHMENTS.c.id == bindparam("id")))
_BYTES = Query(select(_BLOBS.c.data).where(_BLOBS.c.attachment_id == bindparam("id")))


class AttachmentsRefused(DomainError):
    """Raised when a message's files cannot be kept (one too large, too many): none is.

    ``attachments.too_large`` (``name``, ``limit_mib``) or ``attachments.too_many``
    (``count``, ``limit``)."""


@dataclass(frozen=True)
class NewFile:
    """A file as a door received it: the sender's name and the bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Unread:
    """A file the door only counted: larger than the limit, or one of more files than a
    message may carry. Its bytes are not held (a mail's 50 MiB part is never decoded
    just to be refused); ``size`` may be an estimate."""

    name: str
    size: int


@dataclass(frozen=True)
class Prepared:
    """A file ready to store: sanitised name, sniffed type, size and SHA-256."""

    name: str
    content_type: str
    size: int
    sha256: str
    data: bytes


@dataclass(frozen=True)
class AttachmentInfo:
    """A stored file, without its bytes."""

    id: int
    owner_kind: str
    owner_id: int
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime

    def summary(self) -> dict[str, Any]:
        """What a staff post or a mail context carries of it (JSON-safe)."""
        return {"id": self.id, "name": self.name, "size": self.size, "sha256": self.sha256}


Incoming = NewFile | Unread | Prepared


def prepare(settings: Settings, file: Incoming) -> Prepared | Unread:
    """Name, type, size and hash of ``file``; an over-size file becomes ``Unread``."""
    if isinstance(file, Prepared):
        return file
    if isinstance(file, Unread):
        return Unread(sanitise(file.name), file.size)
    if len(file.data) > settings.attachment_max_bytes:
        return Unread(sanitise(file.name), len(file.data))
    return Prepared(
        name=sanitise(file.name),
        content_type=sniff(file.data),
        size=len(file.data),
        sha256=hashlib.sha256(file.data).hexdigest(),
        data=file.data,
    )


def refusal(settings: Settings, files: Sequence[Incoming]) -> AttachmentsRefused | None:
    """Why ``files`` cannot be kept as one message's attachments, or None."""
    if len(files) > MAX_FILES:
        return AttachmentsRefused("attachments.too_many", count=len(files), limit=MAX_FILES)
    for file in files:
        size = file.size if isinstance(file, Unread | Prepared) else len(file.data)
        # An ``Unread`` file has no bytes to keep, whatever limit the door counted it by.
        if isinstance(file, Unread) or size > settings.attachment_max_bytes:
            return AttachmentsRefused(
                "attachments.too_large",
                name=sanitise(file.name),
                limit_mib=f"{settings.attachment_max_bytes / MIB:g}",
            )
    return None


async def store(
    uow: UnitOfWork, owner_kind: str, owner_id: int, files: Sequence[Incoming]
) -> list[AttachmentInfo]:
    """Add ``files`` to ``owner_kind``/``owner_id`` in ``uow`` (the caller commits).

    Raises ``AttachmentsRefused`` before writing anything when they cannot all be kept.
    """
    refused = refusal(uow.settings, files)
    if refused is not None:
        raise refused
    now = uow.clock.now()
    stored: list[AttachmentInfo] = []
    for file in files:
        ready = prepare(uow.settings, file)
        assert isinstance(ready, Prepared)  # refusal() let no over-size file through
        values = {
            "owner_kind": owner_kind,
            "owner_id": owner_id,
            "name": ready.name,
            "content_type": ready.content_type,
            "size": ready.size,
            "sha256": ready.sha256,
            "created_at": now,
        }
        attachment_id = (await uow.session.execute(_INSERT, values)).scalar_one()
        await uow.session.execute(insert(_BLOBS), {"attachment_id": attachment_id, "data": ready.data})
        stored.append(AttachmentInfo(id=attachment_id, **values))  # type: ignore[arg-type]
    return stored


def info(row: Row) -> AttachmentInfo:
    """An ``AttachmentInfo`` from a row of ``COLUMNS`` (for an area that selects its
    messages' files in one query joined to its own table)."""
    attachment_id, owner_kind, owner_id, name, content_type, size, sha256, created_at = row
    return AttachmentInfo(
        attachment_id, owner_kind, owner_id, name, content_type, size, sha256, aware(created_at)
    )


@reads
async def for_owner(source: Reader, owner_kind: str, owner_id: int) -> list[AttachmentInfo]:
    """The files of ``owner_kind``/``owner_id``, oldest first, without their bytes."""
    rows = await source.rows(_FOR_OWNER, owner_kind=owner_kind, owner_id=owner_id)
    return [info(row) for row in rows]


@reads
async def find(source: Reader, attachment_id: int) -> AttachmentInfo | None:
    row = await source.first(_ONE, id=attachment_id)
    return info(row) if row is not None else None


@reads
async def read_bytes(source: Reader, attachment_id: int) -> bytes | None:
    row = await source.first(_BYTES, id=attachment_id)
    return bytes(row[0]) if row is not None else None


async def contents(source: Reader, ids: Sequence[int]) -> list[tuple[AttachmentInfo, bytes]]:
    """The files ``ids`` with their bytes, in that order; one that is gone is left out.
    For sending them (an answer mail's MIME parts), read when the mail is rendered."""
    found: list[tuple[AttachmentInfo, bytes]] = []
    for attachment_id in ids:
        attachment = await find(source, int(attachment_id))
        data = await read_bytes(source, int(attachment_id)) if attachment is not None else None
        if attachment is not None and data is not None:
            found.append((attachment, data))
    return found
