"""Errors the core raises; every one carries a message id from the catalog.

    DomainError                 base; ``message_id`` + ``params`` render in any locale
    ├── InvalidSupportKey       a key is unknown, outside its period, revoked, malformed
    │   │                       or not usable here; one message for all (SPEC §4.1)
    │   └── KeyNotYetUsable     a key sent by mail, tried before its first business day
    ├── Throttled               too many failures; ``params["minutes"]`` to wait
    ├── ValidationFailed        user input is wrong; ``fields`` maps field → message id
    ├── NotFound                the thing named does not exist (or is not visible)
    ├── Forbidden               the actor may not do this
    └── Conflict                the change collides with existing data

Adapters catch ``DomainError`` at the edge and render ``message_id`` with the catalog in
the user's locale; they never build sentences of their own.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Raised when a business rule refuses a request."""

    def __init__(self, message_id: str, **params: Any) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.params = params


class InvalidSupportKey(DomainError):
    """Raised when a support key cannot be used, whatever the reason."""

    def __init__(self) -> None:
        super().__init__("support_key.invalid")


class KeyNotYetUsable(InvalidSupportKey):
    """Raised when a key issued by mail is tried before the business day it starts to
    work. Only the holder of a real key can see it, so it may say when to come back
    (``params``: the day, written for each language)."""

    def __init__(self, usable_ja: str, usable_en: str) -> None:
        DomainError.__init__(self, "support_key.not_yet_usable", usable_ja=usable_ja, usable_en=usable_en)


class Throttled(DomainError):
    """Raised when an actor has failed too often and must wait."""

    def __init__(self, minutes: int) -> None:
        super().__init__("throttle.wait", minutes=minutes)
        self.minutes = minutes


class ValidationFailed(DomainError):
    """Raised when input fields are wrong; ``fields`` maps each field to a message id."""

    def __init__(self, fields: dict[str, str], **params: Any) -> None:
        super().__init__("validation.failed", **params)
        self.fields = fields


class NotFound(DomainError):
    """Raised when the named object does not exist or the actor may not see it."""


class Forbidden(DomainError):
    """Raised when the actor is not allowed to do this."""


class Conflict(DomainError):
    """Raised when the change collides with existing data (a name taken, a key in use)."""
