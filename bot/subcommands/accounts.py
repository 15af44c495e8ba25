"""``/support profile`` and ``/support link`` (SPEC §4.11).

``profile`` shows the account's details, the product-information choice and the last
password change, with buttons to edit (the ``profile`` modal) and to opt in or out;
``link`` answers a short-lived, single-use link to the sign-in page that links the Slack
user asking to an account. The buttons and the modal are ``bot.listeners.accounts``.
"""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.commands import Blocks, Sub
from bot.views.accounts import profile_blocks
from bot.who import Who
from core import profile, signin
from core.dates import moment_text
from core.unit_of_work import UnitOfWork


async def h_profile(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    return profile_blocks(await profile.show(uow, who.actor), who.locale)


async def h_link(uow: UnitOfWork, who: Who, args: list[str], context: Any) -> Blocks:
    issued = await signin.issue_link(uow, who.actor)
    text = bk.say(
        "signin.link",
        who.locale,
        url=bk.Mrkdwn(f"<{bk.esc(issued.url)}>"),
        expires=moment_text(issued.expires_at, who.locale),
        contact=uow.settings.contact_address,
    )
    return [bk.section(text)]


CUSTOMER = [
    Sub(("profile",), "", 0, 0, h_profile, uses=(profile.show,)),
    Sub(("link",), "", 0, 0, h_link, uses=(signin.issue_link,)),
]
STAFF: list[Sub] = []
