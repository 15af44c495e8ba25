"""Forgetting on schedule: what the service keeps only for a while, and for how long.

Why: an unfinished registration conversation holds a customer's personal details; a
spent link token, an old failed attempt and a delivered outbox row (names, addresses,
the rendered context of a mail) are of no use after a while, and the tables would only
grow. The periods live here, in one place. ``madoguchi serve`` runs ``purge`` every
hour; ``madoguchi purge`` runs it once (for cron, or after a long stop). The same hourly
run closes answered inquiries whose auto-close day has come (``inquiries.auto_close``)
and, on a business morning, queues the staff channel's digest of overdue and due-today
inquiries (``inquiries.digest``, once per day across instances).

What is never purged: accounts, support IDs, keys, requests and their messages, the
inbound mail they came from, and the audit trail (SPEC §8) — those are the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select

from core import inquiries, registration
from core.account_tables import EmailChange, SignInLink
from core.inquiries.digest import morning_digest
from core.models import AccountToken, OutboxMessage, ThrottleFailure
from core.unit_of_work import Core

# A link past its expiry still gets the "this link has expired" page for a month, then
# the page for an unknown link.
TOKENS_KEPT = timedelta(days=30)
# Staff read failed attempts with `/support-admin attempts`; a month covers an incident.
FAILURES_KEPT = timedelta(days=30)
# Sent or given-up outbox rows: staff can still see what went out while a customer asks
# about it; replies thread on request_messages, not on outbox rows.
OUTBOX_KEPT = timedelta(days=30)
# Rows per transaction: on SQLite a delete holds the one write lock, and SMTP answers and
# Slack requests wait behind it; small chunks keep that wait short on a first large run.
CHUNK = 500


@dataclass(frozen=True)
class Purged:
    conversations: int
    tokens: int
    failures: int
    outbox: int
    # Not purged but closed: answered inquiries whose auto-close day came (SPEC §4.8).
    inquiries_closed: int = 0
    # Whether this run queued the staff channel's morning digest (once per business day).
    digest_posted: bool = False

    @property
    def total(self) -> int:
        return self.conversations + self.tokens + self.failures + self.outbox


async def purge(core: Core) -> Purged:
    """Delete everything past its period, a chunk per transaction. Safe to run in several
    instances at once (a row deleted twice is deleted once)."""
    async with core.uow() as uow:
        conversations = await registration.purge_expired(uow)
        now = uow.clock.now()
    tokens = await _purge(core, AccountToken.id, AccountToken.expires_at < now - TOKENS_KEPT)
    # Sign-in links and email changes (core.signin, core.profile) are link tokens too; an
    # email change also holds the address asked for.
    tokens += await _purge(core, SignInLink.id, SignInLink.expires_at < now - TOKENS_KEPT)
    tokens += await _purge(core, EmailChange.id, EmailChange.expires_at < now - TOKENS_KEPT)
    failures = await _purge(core, ThrottleFailure.id, ThrottleFailure.at < now - FAILURES_KEPT)
    outbox = await _purge(
        core,
        OutboxMessage.id,
        OutboxMessage.status.in_(("sent", "failed")),
        OutboxMessage.created_at < now - OUTBOX_KEPT,
    )
    closed = await inquiries.auto_close(core)
    digest = await morning_digest(core)
    return Purged(
        conversations=conversations,
        tokens=tokens,
        failures=failures,
        outbox=outbox,
        inquiries_closed=closed,
        digest_posted=digest.posted,
    )


async def _purge(core: Core, key: Any, *where: ColumnElement[bool]) -> int:
    table = key.class_
    total = 0
    while True:
        async with core.uow() as uow:
            chosen = select(key).where(*where).limit(CHUNK).scalar_subquery()
            result = await uow.session.execute(
                delete(table).where(key.in_(chosen)).execution_options(synchronize_session=False)
            )
            await uow.commit()
        count = int(getattr(result, "rowcount", 0) or 0)
        total += count
        if count < CHUNK:
            return total
