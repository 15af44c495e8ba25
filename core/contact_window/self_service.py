"""Self-service by mail: a registered sender who forgot a username or password, or never
got (or lost) the activation mail, is served by the accounts area at once.

The accounts area mails the registered address only, so a request in someone else's name
reaches nobody new, and the acknowledgement reads the same whether or not an account
exists. Separate because it is the contact window's one dependency on the accounts area,
and it goes one way: core.accounts knows nothing of the contact window.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from core import accounts
from core.actors import Actor
from core.unit_of_work import UnitOfWork

# category → the accounts area's use case that serves it (SPEC §4.6).
SELF_SERVICE: dict[str, Callable[[UnitOfWork, Actor, str], Awaitable[Any]]] = {
    "forgot_username": accounts.send_username_reminder,
    "forgot_password": accounts.request_password_reset,
    "activation": accounts.resend_activation,
}


async def self_serve(uow: UnitOfWork, category: str, sender: str) -> None:
    """Hand a request of a self-service category to the accounts area, as the sender."""
    actor = Actor(kind="anonymous", ref=f"mail:{sender}", door="mail")
    await SELF_SERVICE[category](uow, actor, sender)
