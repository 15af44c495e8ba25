"""Throttling of repeated failures per actor (SPEC §4.1: 5 failures in 15 minutes).

Failures are rows, not counters in memory, so every instance sees the same count. The
window slides: the wait is until the oldest counted failure leaves the window.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select

from core.clock import aware
from core.errors import Throttled
from core.models import ThrottleFailure
from core.snapshots import Query, rows
from core.unit_of_work import UnitOfWork

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)

# Scopes that count something other than failures have their own limit. "web.post"
# counts every password-form submission of one IP (a person mistyping the policy a few
# times must not be locked out as fast as somebody guessing link tokens).
LIMITS: dict[str, int] = {"web.post": 10}


# Built once: every key check runs it, and constructing it cost more than running it.
_RECENT = Query(
    select(func.count(), func.min(ThrottleFailure.at)).where(
        ThrottleFailure.scope == bindparam("scope"),
        ThrottleFailure.actor == bindparam("actor"),
        ThrottleFailure.at > bindparam("since"),
    )
)


async def check(uow: UnitOfWork, scope: str, actor: str) -> None:
    """Raise ``Throttled`` (with the minutes to wait) if the actor is over the limit."""
    since = uow.clock.now() - WINDOW
    count, oldest = (await rows(uow, _RECENT, scope=scope, actor=actor, since=since))[0]
    if count >= LIMITS.get(scope, MAX_FAILURES) and oldest is not None:
        wait = aware(oldest) + WINDOW - uow.clock.now()
        raise Throttled(minutes=max(1, math.ceil(wait.total_seconds() / 60)))


async def record_failure(uow: UnitOfWork, scope: str, actor: str, detail: str = "") -> None:
    """Add a failure and commit it at once: a failure must count even though the
    caller's own transaction is about to be rolled back by the error it raises."""
    now = uow.clock.now()
    uow.session.add(ThrottleFailure(scope=scope, actor=actor, at=now, detail=detail[:255]))
    # Old rows are useless; drop them while we are here so the table stays small.
    await uow.session.execute(
        delete(ThrottleFailure).where(ThrottleFailure.actor == actor, ThrottleFailure.at < now - 4 * WINDOW)
    )
    await uow.commit()


async def recent_failures(
    uow: UnitOfWork, *, scope: str | None = None, limit: int = 100
) -> list[ThrottleFailure]:
    """For staff: the latest failed attempts, newest first."""
    query = select(ThrottleFailure).order_by(ThrottleFailure.at.desc()).limit(limit)
    if scope is not None:
        query = query.where(ThrottleFailure.scope == scope)
    return list((await uow.session.scalars(query)).all())
