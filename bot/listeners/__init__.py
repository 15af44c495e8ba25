"""Every listener of the Slack door, registered on one ``SlackDoor``.

Each module has ``register(door)``; listeners are closures over the door, so services
reach them without globals. A listener parses the payload, calls a core service and
renders Block Kit; errors go to the one ``@app.error`` handler in ``errors``. Listeners
import only ``bot.commands`` (the router), ``bot.views`` (shared Block Kit), ``bot.who``,
``bot.blocks`` and core — never each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.listeners import (
    accounts,
    admin,
    errors,
    events,
    home,
    inquiries,
    inquiry_desk,
    knowledge,
    privacy,
    registration,
    staff_actions,
    support,
)

if TYPE_CHECKING:
    from bot.app import SlackDoor


def register(door: SlackDoor) -> None:
    # Bolt tries listeners in registration order, building the keyword arguments of each
    # one's matcher; the busiest requests (``/support``, the registration modal) come
    # first. No two modules listen to the same request, so the order decides nothing else
    # (inquiry_desk's ``message`` listener matches only thread messages in channels,
    # events' only direct messages).
    for module in (
        support,
        registration,
        errors,
        inquiry_desk,
        events,
        admin,
        home,
        staff_actions,
        inquiries,
        privacy,
        accounts,
        knowledge,
    ):
        module.register(door)
