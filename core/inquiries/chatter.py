"""What staff write in the thread of an inquiry's post (SPEC §4.8): internal, always.

The Slack door hands every message typed in such a thread here. Staff's are kept as an
internal note of the inquiry (shown by ``/support-admin inquiry show``, never to a
customer, never mailed); anybody else's is ignored. Nothing here queues mail: the one
path to the customer is ``conversation.answer`` (the 回答する modal,
``/support-admin answer``).
"""

from __future__ import annotations

from core.actors import Actor
from core.inquiries.conversation import note
from core.inquiries.desk import by_staff_post
from core.inquiries.opening import MAX_BODY
from core.unit_of_work import UnitOfWork


async def note_from_thread(
    uow: UnitOfWork, actor: Actor, channel: str, thread_ts: str, body: str
) -> int | None:
    """Keep a staff member's thread message as a note; the inquiry's number, or None when
    the thread is no inquiry's, the writer is not staff or the text is empty."""
    if not actor.is_staff or not body.strip():
        return None
    number = await by_staff_post(uow, channel, thread_ts)
    if number is None:
        return None
    await note(uow, actor, number, body.strip()[:MAX_BODY])
    return number
