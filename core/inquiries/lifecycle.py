"""An inquiry's status over time (SPEC §4.8): 受付 → 対応中 → 回答済み → 完了.

* Staff taking it (``assign``) moves 受付 to 対応中; a staff answer makes it 回答済み.
* A customer message reopens it to 対応中 (from 回答済み, and from 完了 within
  ``REOPEN_WITHIN`` of closing); later, a follow-up opens a new inquiry linking the old
  one (``conversation.reply``). A reopened inquiry is due again like a new one.
* An answered inquiry with no customer message for MADOGUCHI_INQUIRY_AUTOCLOSE_DAYS
  business days closes itself: the day is fixed when it is answered (``autoclose_on``),
  and ``auto_close`` — run by the hourly housekeeping — closes every inquiry whose day
  has come, a chunk per transaction.
* The asker, a contact or staff may close it (``close``).

Every change is audited (``inquiry.<what>``) with the support ID, so the support ID's
history shows it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from core import audit, staff
from core.actors import Actor
from core.business_days import calendar_for
from core.clock import JST, aware
from core.errors import Conflict
from core.inquiries import desk
from core.inquiries.access import visible
from core.inquiries.numbers import format_number
from core.inquiries.tables import Inquiry
from core.unit_of_work import Core, UnitOfWork

REOPEN_WITHIN = timedelta(days=30)
SYSTEM_INQUIRIES = Actor(kind="system", ref="inquiries", door="cli")
CHUNK = 200


def autoclose_day(uow: UnitOfWork, answered_at: datetime) -> date:
    """The day an inquiry answered at ``answered_at`` closes itself if nobody writes."""
    calendar = calendar_for(uow.settings)
    return calendar.add_business_days(answered_at.astimezone(JST).date(), uow.settings.inquiry_autoclose_days)


def may_reopen(inquiry: Inquiry, now: datetime) -> bool:
    return inquiry.closed_at is None or aware(inquiry.closed_at) + REOPEN_WITHIN >= now


def reopen(uow: UnitOfWork, inquiry: Inquiry) -> bool:
    """A customer wrote: back to 対応中 when answered or closed (due again from now).
    True when the status changed."""
    if inquiry.status not in ("answered", "closed"):
        return False
    now = uow.clock.now()
    inquiry.status = "in_progress"
    inquiry.closed_at = None
    inquiry.autoclose_on = None
    inquiry.due_on = calendar_for(uow.settings).answer_due(now, uow.settings.answer_business_days)
    return True


async def assign(uow: UnitOfWork, actor: Actor, number: str | int, assignee: str) -> Inquiry:
    """Staff: ``assignee`` (a staff member's ref, ``slack:T:U``) handles it; 受付 becomes
    対応中. Committed."""
    staff.require_staff(actor)
    inquiry = await visible(uow, actor, number, lock=True)
    if inquiry.status == "closed":
        raise Conflict("inquiry.already_closed", number=_label(inquiry))
    inquiry.assignee = assignee[:64]
    if inquiry.status == "new":
        inquiry.status = "in_progress"
    inquiry.updated_at = uow.clock.now()
    audit.record(
        uow,
        actor,
        "inquiry.assigned",
        support_id_id=inquiry.support_id_id,
        inquiry=inquiry.id,
        assignee=assignee,
    )
    desk.status_changed(uow, inquiry, kind="assigned", author=inquiry.assignee)
    await uow.commit()
    return inquiry


async def close(uow: UnitOfWork, actor: Actor, number: str | int) -> Inquiry:
    """The asker, a contact of its support ID or staff closes it (完了). Committed."""
    inquiry = await visible(uow, actor, number, lock=True)
    if inquiry.status == "closed":
        raise Conflict("inquiry.already_closed", number=_label(inquiry))
    now = uow.clock.now()
    inquiry.status = "closed"
    inquiry.closed_at = now
    inquiry.autoclose_on = None
    inquiry.updated_at = now
    audit.record(uow, actor, "inquiry.closed", support_id_id=inquiry.support_id_id, inquiry=inquiry.id)
    desk.status_changed(uow, inquiry, kind="closed", author=actor.ref)
    await uow.commit()
    return inquiry


async def auto_close(core: Core) -> int:
    """Close every answered inquiry whose auto-close day has come (JST); how many.
    Safe in several instances at once: the update only touches rows still answered."""
    total = 0
    while True:
        async with core.uow(background=True) as uow:
            now = uow.clock.now()
            today = now.astimezone(JST).date()
            due = (
                await uow.session.execute(
                    select(Inquiry.id, Inquiry.support_id_id)
                    .where(Inquiry.status == "answered", Inquiry.autoclose_on <= today)
                    .order_by(Inquiry.autoclose_on, Inquiry.id)
                    .limit(CHUNK)
                )
            ).all()
            if not due:
                return total
            ids = [row.id for row in due]
            await uow.session.execute(
                update(Inquiry)
                .where(Inquiry.id.in_(ids), Inquiry.status == "answered")
                .values(status="closed", closed_at=now, updated_at=now, autoclose_on=None)
                .execution_options(synchronize_session=False)
            )
            for row in due:
                audit.record(
                    uow,
                    SYSTEM_INQUIRIES,
                    "inquiry.auto_closed",
                    support_id_id=row.support_id_id,
                    inquiry=row.id,
                )
                closed = await uow.session.get(Inquiry, row.id)
                if closed is not None:
                    desk.status_changed(uow, closed, kind="auto_closed", author="")
            await uow.commit()
        total += len(due)
        if len(due) < CHUNK:
            return total


def _label(inquiry: Inquiry) -> str:
    return format_number(inquiry.id)
