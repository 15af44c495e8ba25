"""Addresses our mail cannot reach: remembered as bouncing (no automatic mail goes to them
for ``BOUNCE_MEMORY``), and staff told, grouped and capped.

Two sources mark an address: a delivery report that came back to one of our signed
return paths, about a recipient of the mail that path names (``intake``), and a relay
that refused a recipient with 5xx (``core.delivery``). Either way staff get at most one
alert per ``ALERT_WINDOW``, naming a few addresses and counting every address marked
since the previous alert. A burst of bounces, forged or real, must not become a burst of
posts. Whatever is not posted is still marked and audited (``contact.bounce``).
Separate because both sources share these rules and neither owns the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core import audit
from core.actors import Actor
from core.clock import aware
from core.contact_window.assessment import nul_free
from core.models import AuditRecord, MailAddressState
from core.outbox import enqueue_slack
from core.unit_of_work import UnitOfWork

ALERT_WINDOW = timedelta(minutes=10)
ALERT_NAMES = 5  # addresses named in one alert; the rest are counted
BOUNCED = "contact.bounce"
ALERTED = "contact.bounce_alert"
# How far back "since the previous alert" looks (bounded, so the count reads one day of
# the audit trail at most, through its index on ``at``).
_LOOKBACK = timedelta(days=1)


async def mark_bouncing(uow: UnitOfWork, actor: Actor, failures: Iterable[tuple[str, str]]) -> list[str]:
    """Remember each ``(address, reason)`` as bouncing now, audited; the addresses
    marked (lower-cased, each once)."""
    now = uow.clock.now()
    marked: list[str] = []
    for address, reason in failures:
        lowered = nul_free(address.strip().lower())[:320]
        if not lowered or lowered in marked:
            continue
        reason = nul_free(reason)[:2000]
        state = await uow.session.get(MailAddressState, lowered)
        if state is None:
            uow.session.add(MailAddressState(email=lowered, bounced_at=now, bounce_reason=reason))
        else:
            state.bounced_at = now
            state.bounce_reason = reason
        audit.record(uow, actor, BOUNCED, address=lowered, reason=reason[:200])
        marked.append(lowered)
    return marked


async def alert_bounces(
    uow: UnitOfWork, actor: Actor, message_id: str, addresses: list[str], **params: Any
) -> bool:
    """One staff alert (``message_id``) naming up to ``ALERT_NAMES`` of ``addresses`` and
    counting every address marked since the previous alert; nothing when an alert went
    out within ``ALERT_WINDOW``. Call it after ``mark_bouncing``; True if it alerted."""
    if not addresses:
        return False
    now = uow.clock.now()
    recent = AuditRecord.at > now - _LOOKBACK  # keeps both reads on the index of ``at``
    last = (
        await uow.session.execute(
            select(AuditRecord.id, AuditRecord.at)
            .where(AuditRecord.action == ALERTED, recent)
            .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
            .limit(1)
        )
    ).first()
    if last is not None and aware(last.at) > now - ALERT_WINDOW:
        return False
    # Every address marked since that alert (ids, not times: several can share a moment).
    count = await uow.session.scalar(
        select(func.count())
        .select_from(AuditRecord)
        .where(AuditRecord.action == BOUNCED, recent, AuditRecord.id > (last.id if last is not None else 0))
    )
    total = max(int(count or 0), len(addresses))
    enqueue_slack(
        uow,
        "staff_alert",
        {
            "message_id": message_id,
            "params": {
                **params,
                "address": addresses[0],
                "addresses": ", ".join(addresses[:ALERT_NAMES]),
                "count": total,
                "minutes": int(ALERT_WINDOW.total_seconds() // 60),
            },
        },
        locale=uow.settings.locale,
    )
    audit.record(uow, actor, ALERTED, count=total)
    return True
