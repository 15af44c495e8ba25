"""Who is talking: the Slack user as a core ``Actor``, and the language to answer in.

The language is the Slack client's (``users.info``), stored in ``slack_users`` once
fetched. Fetching is a Web API call, so it never happens before an ack: an unknown
user's first answer is in the account's language or MADOGUCHI_LOCALE, and the lookup
runs after the ack for the next answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import stores
from core import accounts
from core.actors import Actor
from core.config import SUPPORTED_LOCALES
from core.snapshots import Snapshot
from core.unit_of_work import UnitOfWork

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
    source: UnitOfWork | Snapshot,
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
                await stores.remember_locale(door_ref.core, team, user, found)

        if client is not None:
            context["after_ack"](fetch)
    if staff and user in source.settings.staff_users:
        actor = Actor(kind="staff", ref=f"slack:{team}:{user}", door="slack", locale=locale)
    elif found.account_id is not None:
        actor = Actor(
            kind="account",
            ref=f"slack:{team}:{user}",
            door="slack",
            account_id=found.account_id,
            locale=locale,
        )
    else:
        actor = Actor(kind="anonymous", ref=f"slack:{team}:{user}", door="slack", locale=locale)
    context["locale"] = locale
    return Who(team, user, actor, locale)
