"""What ``/healthz`` and ``/metrics`` ask the database: does it answer, and how much of
the outbox is waiting. Asked through a unit of work, so a database that cannot hand out
a connection in time shows as unhealthy, as a request would find it."""

from __future__ import annotations

from sqlalchemy import bindparam, func, literal_column, or_, select

from core.models import OutboxMessage
from core.snapshots import Query, Reader, reads

_PING = Query(select(literal_column("1")))
_DEPTH = Query(
    select(OutboxMessage.channel, OutboxMessage.status, func.count())
    .where(or_(OutboxMessage.status == bindparam("pending"), OutboxMessage.status == bindparam("sending")))
    .group_by(OutboxMessage.channel, OutboxMessage.status)
)
CHANNELS = ("mail", "slack")
WAITING = ("pending", "sending")


@reads
async def database_answers(source: Reader) -> bool:
    return await source.first(_PING) is not None


@reads
async def outbox_depth(source: Reader) -> dict[tuple[str, str], int]:
    """Rows waiting per (channel, status), zero where none wait."""
    depth = {(channel, status): 0 for channel in CHANNELS for status in WAITING}
    for channel, status, count in await source.rows(_DEPTH, pending="pending", sending="sending"):
        depth[(str(channel), str(status))] = int(count)
    return depth
