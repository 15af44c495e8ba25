"""The contact window's inbox: raw mail committed before the SMTP door answers ``250``,
read back for processing, flagged when processing fails.

Storing is the one step a client waits for, so it is one INSERT and one commit and
nothing else; everything else happens to the stored record afterwards (``intake``), and a
crash anywhere after ``250`` leaves the record "received" to be resumed. Separate because
it is the safety argument of the door (no mail is acknowledged and then lost) and the
only part of the window on the SMTP answer's path.
"""

from __future__ import annotations

import hashlib
import logging
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.exc import IntegrityError

from core import audit
from core.contact_window.addresses import SYSTEM_MAIL, format_number
from core.contact_window.assessment import nul_free
from core.models import InboundMail, Request
from core.outbox import enqueue_slack
from core.storage.compiled import Query
from core.unit_of_work import UnitOfWork

log = logging.getLogger("madoguchi.contact_window")
_INBOUND = cast(Table, InboundMail.__table__)
_REQUESTS = cast(Table, Request.__table__)

# The hot path's statements, built once: SQLAlchemy caches their compiled form, but
# building and coercing a statement object per call was ~5 % of a mail's CPU.
_STORE = {
    name: insert_of(_INBOUND).on_conflict_do_nothing(index_elements=["digest"]).returning(_INBOUND.c.digest)
    for name, insert_of in (("postgresql", _pg_insert), ("sqlite", _sqlite_insert))
}
# The same statement for ``UnitOfWork.write_many``: a group of small messages is written
# without SQLAlchemy's execution machinery, which was most of a store's CPU on SQLite.
_STORE_SMALL = Query(_STORE["sqlite"])
# Up to this many bytes in a group: larger groups go through ``session.execute`` (below).
SMALL_GROUP_BYTES = 256 * 1024
# Pending mail, oldest first: at most ``limit`` mails, and only as many as fit in
# ``budget`` bytes (the first always does: its running total is its own size). The
# sizes come from ``length(raw)``, which neither SQLite nor PostgreSQL answers by
# reading the bytes; only the chosen rows' bytes are read.
_HEAD = (
    select(_INBOUND.c.id, func.length(_INBOUND.c.raw).label("size"))
    .where(_INBOUND.c.state == "received", _INBOUND.c.id > bindparam("after"))
    .order_by(_INBOUND.c.id)
    .limit(bindparam("limit"))
    .subquery("head")
)
_RUNNING = select(
    _HEAD.c.id,
    _HEAD.c.size,
    func.sum(_HEAD.c.size).over(order_by=_HEAD.c.id).label("upto"),
).subquery("running")
_PENDING = (
    select(_INBOUND.c.id, _INBOUND.c.raw, _INBOUND.c.mail_from, _INBOUND.c.rcpt_tos)
    .join(_RUNNING, _RUNNING.c.id == _INBOUND.c.id)
    .where((_RUNNING.c.upto <= bindparam("budget", type_=BigInteger)) | (_RUNNING.c.upto == _RUNNING.c.size))
    .order_by(_INBOUND.c.id)
)


# A message stored before, byte for byte: which record, and the request it made.
_RESENT = (
    select(_INBOUND.c.id, _INBOUND.c.digest, _INBOUND.c.state, _REQUESTS.c.number)
    .select_from(_INBOUND.outerjoin(_REQUESTS, _REQUESTS.c.id == _INBOUND.c.request_id))
    .where(_INBOUND.c.digest.in_(bindparam("digests", expanding=True)))
)


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


async def store_inbound(uow: UnitOfWork, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> bool:
    """Commit the raw message; ``False`` if these exact bytes were stored before.

    One INSERT and one commit, nothing else, because the SMTP client waits for it. The
    unique digest turns a client's retry after a lost ``250`` into a no-op.
    """
    try:
        await uow.session.execute(
            insert(InboundMail).values(
                digest=digest(raw),
                mail_from=nul_free(mail_from)[:320],
                rcpt_tos=[nul_free(r)[:320] for r in rcpt_tos],
                raw=raw,
                received_at=uow.clock.now(),
                state="received",
                malformed=False,
                error="",
            )
        )
        await uow.commit()
    except IntegrityError:
        await uow.rollback()
        return False
    return True


async def store_inbound_many(uow: UnitOfWork, items: list[tuple[bytes, str, list[str]]]) -> list[bool]:
    """Several messages in one transaction (group commit for concurrent SMTP sessions).

    One Core ``INSERT … ON CONFLICT (digest) DO NOTHING RETURNING digest`` and the
    commit, because every client of the group waits for its ``250``: a duplicate (of a
    stored message, of one in the batch, or of one another instance stores at the same
    moment) is skipped, not failed. The ORM path with a SELECT first cost twice the CPU.
    """
    now = uow.clock.now()
    rows = []
    seen: set[str] = set()
    digests = []
    size = 0
    for raw, mail_from, rcpt_tos in items:
        d = digest(raw)
        digests.append(d)
        if d in seen:
            continue
        seen.add(d)
        size += len(raw)
        rows.append(
            {
                "digest": d,
                "mail_from": nul_free(mail_from)[:320],
                "rcpt_tos": [nul_free(r)[:320] for r in rcpt_tos],
                "raw": raw,
                "received_at": now,
                "state": "received",
                "malformed": False,
                "error": "",
            }
        )
    if uow.dialect.name != "postgresql" and size <= SMALL_GROUP_BYTES:
        stored = {str(row[0]) for row in await uow.write_many(_STORE_SMALL, rows)}
    else:
        # Through SQLAlchemy, not ``UnitOfWork.write_many``: the rows hold whole messages
        # (up to the SIZE limit), and that path kept ~10 MB more alive at the peak of
        # 100 × 10 MiB (bench.mail_memory 289 → 298–301 MB, docs/performance.md).
        # One statement (SQLAlchemy's multi-row VALUES): on PostgreSQL it commits as it
        # runs. Were the group ever split into several statements, a failure after the
        # first would answer 451 to all: the client's retry finds the stored ones by
        # digest, so nothing is stored twice.
        await uow.each_statement_commits()
        statement = _STORE["postgresql" if uow.dialect.name == "postgresql" else "sqlite"]
        stored = set((await uow.session.execute(statement, rows)).scalars().all())
    await uow.commit()
    fresh = []
    for d in digests:
        fresh.append(d in stored)
        stored.discard(d)  # a second copy in the same batch is a duplicate
    return fresh


async def log_resent(uow: UnitOfWork, raws: list[bytes]) -> None:
    """One log line per message whose exact bytes were stored before (a client retrying
    after a lost ``250``, or the same message sent twice), naming the stored record and
    the request it made. Read after the ``250`` (the door calls it in the background),
    and only for such duplicates: nothing is added to the answer's path."""
    digests = [digest(raw) for raw in raws]
    rows = await uow.session.execute(_RESENT, {"digests": list(set(digests))})
    found = {d: (inbound_id, state, number) for inbound_id, d, state, number in rows.all()}
    for d in digests:
        inbound_id, state, number = found.get(d, (None, "unknown", None))
        request = format_number(number) if number is not None else "-"
        log.info(
            "inbound mail resent: duplicate of #%s %s",
            inbound_id if inbound_id is not None else "?",
            request,
            extra={
                "inbound_id": inbound_id,
                "outcome": "duplicate",
                "request": request,
                "stored_state": state,
            },
        )


async def pending_inbound(uow: UnitOfWork, limit: int = 100) -> list[int]:
    """Stored mails not processed yet, oldest first (after a crash: the backlog)."""
    result = await uow.session.scalars(
        select(InboundMail.id).where(InboundMail.state == "received").order_by(InboundMail.id).limit(limit)
    )
    return list(result.all())


async def load_inbound(uow: UnitOfWork, inbound_id: int) -> tuple[bytes, str, list[str]] | None:
    row = (
        await uow.session.execute(
            select(InboundMail.raw, InboundMail.mail_from, InboundMail.rcpt_tos).where(
                InboundMail.id == inbound_id, InboundMail.state == "received"
            )
        )
    ).first()
    if row is None:
        return None
    return bytes(row[0]), row[1], list(row[2] or [])


async def load_pending(
    uow: UnitOfWork, limit: int = 20, after: int = 0, max_bytes: int = 1 << 62
) -> list[tuple[int, bytes, str, list[str]]]:
    """The oldest stored mails not processed yet (with ids above ``after``), with their
    bytes, in one query: at most ``limit`` of them and, after the first, only while they
    total ``max_bytes`` or less — a batch of fifty 10 MiB mails is half a gigabyte here,
    again pickled for the parser process, and again there."""
    rows = await uow.session.execute(_PENDING, {"after": after, "limit": limit, "budget": max(max_bytes, 1)})
    return [(r[0], bytes(r[1]), r[2], list(r[3] or [])) for r in rows.all()]


async def mark_failed(uow: UnitOfWork, inbound_id: int, error: str) -> None:
    """Processing raised: keep the raw bytes, flag the row for staff, never retry blindly."""
    row = await uow.session.get(InboundMail, inbound_id)
    if row is None or row.state != "received":
        return
    row.state = "failed"
    row.malformed = True
    row.error = error[:2000]
    enqueue_slack(
        uow, "staff_alert", {"message_id": "contact.alert.processing_failed", "params": {"id": inbound_id}}
    )
    audit.record(uow, SYSTEM_MAIL, "contact.processing_failed", inbound_id=inbound_id)
    await uow.commit()
