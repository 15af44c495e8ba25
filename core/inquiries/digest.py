"""The staff channel's morning digest (SPEC §4.8): overdue and due-today inquiries.

Why here: which inquiries are late, which morning counts and that it is said once are
rules; the Slack door only renders the post (``inquiry_digest``).

* When: the first housekeeping run (hourly in ``madoguchi serve``) at or after
  ``DIGEST_FROM`` JST on a business day of the one calendar (``core.business_days``).
* What: inquiries waiting for staff (受付, 対応中) due today or earlier, soonest due first,
  at most ``LISTED`` of them named and the totals counted.
* Once per day, however many instances run: the post is an outbox row whose Message-ID
  is made of the day (``<inquiry-digest-20261208@…>``), and that column is unique. An
  instance that finds today's row does nothing; two racing for it cannot both insert.
* Nothing waiting: no post (a quiet channel means nothing is late). A later run the same
  day looks again and posts only if something became due meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.business_days import calendar_for
from core.clock import JST
from core.inquiries.numbers import WAITING_FOR_STAFF, format_number
from core.inquiries.tables import Inquiry
from core.models import Account, OutboxMessage, SupportId
from core.outbox import slack_values
from core.unit_of_work import Core, UnitOfWork

DIGEST = "inquiry_digest"
DIGEST_FROM = time(9, 0)
LISTED = 30


@dataclass(frozen=True)
class Digest:
    """What a run decided: ``posted`` when today's digest was queued by this run."""

    posted: bool
    overdue: int = 0
    due_today: int = 0


def digest_message_id(uow: UnitOfWork, day: date) -> str:
    domain = uow.settings.mail_from.rpartition("@")[2] or "madoguchi.invalid"
    return f"<inquiry-digest-{day:%Y%m%d}@{domain}>"


def digest_due(now: datetime, uow: UnitOfWork) -> date | None:
    """Today (JST) when it is a business morning at or after ``DIGEST_FROM``, else None."""
    local = now.astimezone(JST)
    if local.time() < DIGEST_FROM or not calendar_for(uow.settings).is_business_day(local.date()):
        return None
    return local.date()


async def _count(uow: UnitOfWork, *where: Any) -> int:
    return int(await uow.session.scalar(select(func.count()).select_from(Inquiry).where(*where)) or 0)


async def _waiting(uow: UnitOfWork, today: date) -> tuple[list[dict[str, Any]], int, int]:
    """The inquiries waiting for staff due today or before (one indexed query per
    status, ``ix_inquiries_status_due``), and how many are overdue and due today."""
    items: list[dict[str, Any]] = []
    overdue = due_today = 0
    for status in WAITING_FOR_STAFF:
        overdue += await _count(uow, Inquiry.status == status, Inquiry.due_on < today)
        due_today += await _count(uow, Inquiry.status == status, Inquiry.due_on == today)
        rows = await uow.session.execute(
            select(
                Inquiry.id,
                Inquiry.due_on,
                Inquiry.subject,
                Inquiry.status,
                Inquiry.assignee,
                Inquiry.slack_channel,
                Inquiry.slack_ts,
                SupportId.name,
                Account.last_name,
                Account.first_name,
            )
            .join(Account, Account.id == Inquiry.asker_account_id)
            .outerjoin(SupportId, SupportId.id == Inquiry.support_id_id)
            .where(Inquiry.status == status, Inquiry.due_on <= today)
            .order_by(Inquiry.due_on, Inquiry.id)
            .limit(LISTED)
        )
        for row in rows.all():
            items.append(
                {
                    "inquiry": format_number(row.id),
                    "due_on": row.due_on.isoformat(),
                    "overdue": row.due_on < today,
                    "subject": row.subject,
                    "status": row.status,
                    "assignee": row.assignee or "",
                    "support_id": row.name or "",
                    "asker": f"{row.last_name} {row.first_name}".strip(),
                    "channel": row.slack_channel or "",
                    "ts": row.slack_ts or "",
                }
            )
    items.sort(key=lambda i: (i["due_on"], i["inquiry"]))
    return items[:LISTED], overdue, due_today


async def morning_digest(core: Core) -> Digest:
    """Queue today's digest for the staff channel if this is the run that should."""
    async with core.uow(background=True) as uow:
        today = digest_due(uow.clock.now(), uow)
        if today is None or not uow.settings.staff_channel:
            return Digest(posted=False)
        message_id = digest_message_id(uow, today)
        if await uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.message_id == message_id)):
            return Digest(posted=False)
        items, overdue, due_today = await _waiting(uow, today)
        if not items:
            return Digest(posted=False)
        values = slack_values(
            uow,
            DIGEST,
            {
                "day": today.isoformat(),
                "channel": uow.settings.staff_channel,
                "overdue": overdue,
                "due_today": due_today,
                "items": items,
            },
            locale=uow.settings.locale,
        )
        uow.session.add(OutboxMessage(**{**values, "message_id": message_id}))
        try:
            await uow.commit()
        except IntegrityError:  # another instance queued it a moment ago
            await uow.rollback()
            return Digest(posted=False)
        return Digest(posted=True, overdue=overdue, due_today=due_today)
