"""What ``/readyz``, ``/healthz`` and ``/metrics`` ask the database: does it answer, at
which schema revision, and how much of the outbox is waiting since when. Asked through a
unit of work, so a database that cannot hand out a connection in time shows as
unhealthy, as a request would find it.

The outbox's depth and the age of its oldest waiting row come from one grouped query
over the waiting rows only (``ix_outbox_due`` leads with the status): a scrape costs
what the backlog costs, which is nothing on a healthy service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, column, func, literal_column, or_, select, table

from core.models import OutboxMessage
from core.snapshots import Query, Reader, reads

_PING = Query(select(literal_column("1")))
_REVISION = Query(select(column("version_num")).select_from(table("alembic_version")))
_WAITING = Query(
    select(OutboxMessage.channel, OutboxMessage.status, func.count(), func.min(OutboxMessage.created_at))
    .where(or_(OutboxMessage.status == bindparam("pending"), OutboxMessage.status == bindparam("sending")))
    .group_by(OutboxMessage.channel, OutboxMessage.status)
)
CHANNELS = ("mail", "slack")
WAITING = ("pending", "sending")


@dataclass(frozen=True)
class OutboxWaiting:
    """Rows waiting per (channel, status), zero where none wait; and per channel the
    creation time of the oldest waiting row (None: nothing waits)."""

    depth: dict[tuple[str, str], int]
    oldest: dict[str, datetime | None]

    def age_seconds(self, now: datetime) -> dict[str, float]:
        return {
            channel: 0.0 if at is None else max(0.0, (now - at).total_seconds())
            for channel, at in self.oldest.items()
        }


@reads
async def database_answers(source: Reader) -> bool:
    return await source.first(_PING) is not None


@reads
async def schema_revision(source: Reader) -> str | None:
    """The revision alembic recorded (None on an empty database; raises without its table)."""
    row = await source.first(_REVISION)
    return None if row is None else str(row[0])


@reads
async def outbox_waiting(source: Reader) -> OutboxWaiting:
    depth = {(channel, status): 0 for channel in CHANNELS for status in WAITING}
    oldest: dict[str, datetime | None] = dict.fromkeys(CHANNELS)
    for channel, status, count, first in await source.rows(_WAITING, pending="pending", sending="sending"):
        depth[(str(channel), str(status))] = int(count)
        if first is not None:
            # SQLite hands back naive datetimes; every stored time is UTC.
            at = first if first.tzinfo is not None else first.replace(tzinfo=UTC)
            earlier = oldest.get(str(channel))
            oldest[str(channel)] = at if earlier is None else min(earlier, at)
    return OutboxWaiting(depth, oldest)
