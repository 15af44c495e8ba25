"""Throttling of repeated failures per actor (SPEC §4.1: 5 failures in 15 minutes).

Failures are rows, not counters in memory, so every instance sees the same count. The
window slides: the wait is until the oldest counted failure leaves the window.

Concurrent attempts of one actor must not all read the same count before any of them
records its failure (30 key guesses at once would all be evaluated). So an attempt is
counted, evaluated and recorded in one transaction, and ``check`` takes the actor's lock
for that transaction first: on PostgreSQL a transaction-level advisory lock on
(scope, actor), released by the commit that records the failure (or by the caller's
commit or rollback); on SQLite every transaction already holds the one write lock
(``BEGIN IMMEDIATE``, core/storage/sqlite.py). Attempts of one actor therefore run one
after the other and the sixth sees the five failures before it; other actors never wait.
Callers keep the order check → evaluate → ``record_failure`` inside one unit of work and
take scopes in one order (``web.link`` before ``web.post``), so two locks never cross.

The password pages' policy is here too (``visit_link``, ``submit_password_form``,
``count_bad_link``): which scopes a visitor (an IP) is counted in and when; the web door
only turns a ``Refused`` into its 429 page.
"""

from __future__ import annotations

import hashlib
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


# PostgreSQL: one attempt of an actor at a time (see the module's docstring).
_LOCK = Query(select(func.pg_advisory_xact_lock(bindparam("lock_key"))))

# Built once: every key check runs it, and constructing it cost more than running it.
_RECENT = Query(
    select(func.count(), func.min(ThrottleFailure.at)).where(
        ThrottleFailure.scope == bindparam("scope"),
        ThrottleFailure.actor == bindparam("actor"),
        ThrottleFailure.at > bindparam("since"),
    )
)


def lock_key(scope: str, actor: str) -> int:
    """The advisory lock's 64-bit key for (scope, actor): stable across processes."""
    digest = hashlib.blake2b(f"{scope}\0{actor}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def check(uow: UnitOfWork, scope: str, actor: str) -> None:
    """Raise ``Throttled`` (with the minutes to wait) if the actor is over the limit.

    Holds the actor's lock until the transaction ends: evaluate the attempt and record
    its failure in the same unit of work, before committing anything else."""
    if uow.dialect.name == "postgresql":
        await uow.rows(_LOCK, lock_key=lock_key(scope, actor))
    since = uow.clock.now() - WINDOW
    count, oldest = (await uow.rows(_RECENT, scope=scope, actor=actor, since=since))[0]
    if count >= LIMITS.get(scope, MAX_FAILURES) and oldest is not None:
        wait = aware(oldest) + WINDOW - uow.clock.now()
        raise Throttled(minutes=max(1, math.ceil(wait.total_seconds() / 60)))


async def record_failure(uow: UnitOfWork, scope: str, actor: str, detail: str = "") -> None:
    """Add a failure and commit it at once: a failure must count even though the
    caller's own transaction is about to be rolled back by the error it raises."""
    await _add(uow, scope, actor, detail)
    await uow.commit()


async def _add(uow: UnitOfWork, scope: str, actor: str, detail: str) -> None:
    now = uow.clock.now()
    uow.session.add(ThrottleFailure(scope=scope, actor=actor, at=now, detail=detail[:255]))
    # Old rows are useless; drop them while we are here so the table stays small.
    await uow.session.execute(
        delete(ThrottleFailure).where(ThrottleFailure.actor == actor, ThrottleFailure.at < now - 4 * WINDOW)
    )


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
    links. In the caller's unit of work, which reads the link next and, when it is bad,
    counts it there (``count_bad_link``) before anything else commits."""
    try:
        await check(uow, LINK_SCOPE, visitor)
    except Throttled as wait:
        return Refused(LINK_SCOPE, wait)
    return None


async def submit_password_form(uow: UnitOfWork, visitor: str, *, forged: bool = False) -> Refused | None:
    """May this visitor submit a password form? Refused while it has tried too many bad
    links or submitted too often; when allowed the submission counts, whatever its outcome,
    and a form whose token did not match (``forged``) counts as a bad link too, in the
    same commit (before the password is even looked at)."""
    for scope in (LINK_SCOPE, POST_SCOPE):
        try:
            await check(uow, scope, visitor)
        except Throttled as wait:
            return Refused(scope, wait)
    await _add(uow, POST_SCOPE, visitor, "submit")
    if forged:
        await _add(uow, LINK_SCOPE, visitor, "csrf")
    await uow.commit()
    return None


async def count_bad_link(uow: UnitOfWork, visitor: str, reason: str) -> None:
    """A link that did not work (unknown, used, expired, disabled account) or a form
    token that did not match counts against the visitor (committed)."""
    await record_failure(uow, LINK_SCOPE, visitor, reason)
