"""Throttling of repeated failures per actor (SPEC §4.1: 5 failures in 15 minutes).

Failures are rows, not counters in memory, so every instance sees the same count. The
window slides: the wait is until the oldest counted failure leaves the window.

The password pages' policy is here too (``visit_link``, ``submit_password_form``,
``count_bad_link``): which scopes a visitor (an IP) is counted in and when; the web door
only turns a ``Refused`` into its 429 page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select

from core.clock import aware
from core.errors import Throttled
from core.models import ThrottleFailure
from core.snapshots import Query
from core.unit_of_work import UnitOfWork

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)

# The password pages: bad links and bad form tokens of one visitor, and every submission
# of the password form by one visitor.
LINK_SCOPE = "web.link"
POST_SCOPE = "web.post"

# Scopes that count something other than failures have their own limit. "web.post"
# counts every password-form submission of one IP (a person mistyping the policy a few
# times must not be locked out as fast as somebody guessing link tokens).
LIMITS: dict[str, int] = {POST_SCOPE: 10}


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
    count, oldest = (await uow.rows(_RECENT, scope=scope, actor=actor, since=since))[0]
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


# -- the password pages (SPEC §4.3) ---------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """The visitor is over the limit of ``scope``; ``wait`` says for how many minutes."""

    scope: str
    wait: Throttled


async def visit_link(uow: UnitOfWork, visitor: str) -> Refused | None:
    """May this visitor open a password page? Refused while it has tried too many bad
    links; reads only, in the caller's unit of work (the page reads the link next)."""
    try:
        await check(uow, LINK_SCOPE, visitor)
    except Throttled as wait:
        return Refused(LINK_SCOPE, wait)
    return None


async def submit_password_form(uow: UnitOfWork, visitor: str) -> Refused | None:
    """May this visitor submit a password form? Refused while it has tried too many bad
    links or submitted too often; when allowed the submission counts, whatever its outcome
    (committed at once, before the form is even read)."""
    for scope in (LINK_SCOPE, POST_SCOPE):
        try:
            await check(uow, scope, visitor)
        except Throttled as wait:
            return Refused(scope, wait)
    await record_failure(uow, POST_SCOPE, visitor, "submit")
    return None


async def count_bad_link(uow: UnitOfWork, visitor: str, reason: str) -> None:
    """A link that did not work (unknown, used, expired, disabled account) or a form
    token that did not match counts against the visitor (committed)."""
    await record_failure(uow, LINK_SCOPE, visitor, reason)
