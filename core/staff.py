"""Who is staff, and what a refusal leaves behind (SPEC §4.7, §8).

One place for both rules, so every door and every staff service answers the same:

- ``is_staff_slack_user``: whether a Slack identity (team and user) speaks for the
  vendor's staff. The Slack door asks it while building the request's ``Actor`` (kind
  ``staff``); everything after that reads ``actor.is_staff``.
- ``admit``: a staff action by somebody who is not staff is refused with
  ``Forbidden("staff.forbidden")`` and the attempt is audited (``staff.refused``, which
  action, never its arguments) and committed at once, so the trail keeps it although the
  caller's transaction ends in the error.
- ``require_staff`` / ``require_staff_or_system``: the unaudited checks of the services
  the staff desk calls after its own ``admit`` (the second also lets the command line in).
"""

from __future__ import annotations

from typing import NoReturn

from core import audit
from core.actors import Actor
from core.config import Settings
from core.errors import Forbidden
from core.unit_of_work import UnitOfWork

REFUSED = "staff.forbidden"


def is_staff_slack_user(settings: Settings, team_id: str, user_id: str) -> bool:
    """Whether MADOGUCHI_STAFF_USERS names this Slack user.

    A Slack user id is only unique within its workspace, so an entry names both:
    ``T0123:U0456`` is user U0456 of workspace T0123, in any mode. A plain ``U0456``
    (the older form) is read as "U0456 of the one workspace" and so counts only while
    the service serves one workspace (a bot token, no OAuth client): there every
    request comes from the workspace the token belongs to. With OAuth installations
    (many workspaces) a plain entry names nobody; write it with its team.
    """
    if not user_id:
        return False
    entries = settings.staff_users
    if team_id and f"{team_id}:{user_id}" in entries:
        return True
    return user_id in entries and not settings.slack_multi_workspace


async def refuse(uow: UnitOfWork, actor: Actor, attempted: str) -> NoReturn:
    """Audit the refused attempt (committed), then raise the error the door renders."""
    audit.record(uow, actor, "staff.refused", attempted=attempted)
    await uow.commit()
    raise Forbidden(REFUSED)


async def admit(uow: UnitOfWork, actor: Actor, attempted: str) -> None:
    """Return when the actor is staff; otherwise ``refuse`` (``attempted`` names the action:
    a subcommand or a button, never its arguments, which may be an address or a key)."""
    if not actor.is_staff:
        await refuse(uow, actor, attempted)


def require_staff(actor: Actor) -> None:
    """Raise ``Forbidden`` unless staff is acting (services behind the staff desk, which
    the doors reach only after ``admit``)."""
    if not actor.is_staff:
        raise Forbidden(REFUSED)


def require_staff_or_system(actor: Actor) -> None:
    """Raise ``Forbidden`` unless staff or the system (the command line) is acting."""
    if actor.kind not in ("staff", "system"):
        raise Forbidden(REFUSED)
