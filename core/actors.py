"""Who is acting, and through which door: recorded on every change (SPEC §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Door = Literal["slack", "mail", "web", "cli"]
ActorKind = Literal["account", "staff", "system", "anonymous"]


@dataclass(frozen=True)
class Actor:
    """``ref`` identifies the actor for throttling and audit, e.g. ``slack:T1:U1``,
    ``mail:user@example.com``, ``ip:192.0.2.1``; ``account_id`` is set once known.

    ``ref`` is opaque to the core (each door writes its own format); what a rule needs
    from it comes as plain values: ``slack_user`` is ``(team_id, user_id)`` when a Slack
    user acts (the account registered from Slack is linked to it)."""

    kind: ActorKind
    ref: str
    door: Door
    account_id: int | None = None
    locale: str = "ja"
    slack_user: tuple[str, str] | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"


SYSTEM_CLI = Actor(kind="system", ref="cli", door="cli")
