"""Who is talking: the Slack user as a core ``Actor``, and the language to answer in.

The actor's ``ref`` is this door's format, ``slack:TEAM:USER``; it is made and read
here only, and the core gets the Slack user as plain values (``Actor.slack_user``).
Whether the user is staff is the core's rule (``core.staff``).

The language is the Slack client's (``users.info``), stored in ``slack_users`` once
fetched. Fetching is a Web API call, so it never happens before an ack: an unknown
user's first answer is in the account's language or MADOGUCHI_LOCALE, and the lookup
runs after the ack for the next answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core import accounts, workspaces
from core.actors import Actor, ActorKind
from core.config import SUPPORTED_LOCALES
from core.snapshots import Reader
from core.staff import is_staff_slack_user

if TYPE_CHECKING:
    from bot.app import SlackDoor


@dataclass(frozen=True)
class Who:
    team_id: str
    user_id: str
    actor: Actor
    locale: str

    @property
    def account_id(self) -> int | None:
        return self.actor.account_id


# This door's actor reference. The core gets the Slack user as plain values, and only
# from a well-formed reference (a Slack id is capitals and digits).
_SLACK_REF = re.compile(r"^slack:([A-Z0-9]+):([A-Z0-9]+)$")


def slack_actor(
    kind: ActorKind, team_id: str, user_id: str, locale: str, account_id: int | None = None
) -> Actor:
    """The actor for a Slack user: ``ref`` ``slack:TEAM:USER`` (audit rows, throttling,
    conversations) and ``slack_user`` (team_id, user_id) for the core's rules."""
    ref = f"slack:{team_id}:{user_id}"
    match = _SLACK_REF.match(ref)
    return Actor(
        kind=kind,
        ref=ref,
        door="slack",
        account_id=account_id,
        locale=locale,
        slack_user=(match[1], match[2]) if match else None,
    )


def ids_of(body: dict[str, Any]) -> tuple[str, str]:
    """(team_id, user_id) from a command, an interaction or an event envelope."""
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
    event = body.get("event") or {}
    if not user and isinstance(event, dict):
        user = event.get("user") or ""
    if not team:
        team = (body.get("user") or {}).get("team_id") or ""
    return str(team), str(user)


def slack_locale(value: str | None) -> str | None:
    """``ja-JP`` → ``ja``; a language we do not speak → None."""
    if not value:
        return None
    lang = value.split("-")[0].lower()
    return lang if lang in SUPPORTED_LOCALES else "en"


async def identify(
    door: SlackDoor,
    source: Reader,
    body: dict[str, Any],
    context: Any,
    *,
    staff: bool = False,
) -> Who:
    """Who sent ``body``; read in the request's unit of work, or in a snapshot when the
    answer changes nothing."""
    team, user = ids_of(body)
    found = await accounts.slack_identity(source, team, user)
    known = found.client_locale
    locale = known or found.account_locale or source.settings.locale
    if known is None and user and door.may_ask_locale(team, user):
        client = context.get("client")
        door_ref = door

        async def fetch() -> None:
            try:
                answer = await client.users_info(user=user, include_locale=True)
            except Exception:
                # A missing scope or a Slack outage: do not ask again for an hour.
                door_ref.locale_lookup_failed(team, user)
                raise
            found = slack_locale((answer.get("user") or {}).get("locale"))
            if found:
                async with door_ref.core.uow() as uow:
                    await workspaces.remember_client_locale(uow, team, user, found)

        if client is not None:
            context["after_ack"](fetch)
    if staff and is_staff_slack_user(source.settings, team, user):
        actor = slack_actor("staff", team, user, locale)
    elif found.account_id is not None:
        actor = slack_actor("account", team, user, locale, found.account_id)
    else:
        actor = slack_actor("anonymous", team, user, locale)
    context["locale"] = locale
    return Who(team, user, actor, locale)
