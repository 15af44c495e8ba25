"""The door's one log line per SMTP transaction, and per session it turns away.

Operators need to see what the door did with each attempt without reading aiosmtpd's
per-command log (which is off: it prints addresses). So every transaction ends in one
line — ``accepted``, ``duplicate`` (these exact bytes were stored before) or ``refused``
with a reason code — and every session the door closes on its own initiative says why.
No personal data: no addresses, no subject, no message id; the client's IP and the
message's size are what an operator needs to find a misbehaving peer.

Reason codes: ``rejected_rcpt`` (550), ``too_many_recipients`` (452), ``too_large``
(552), ``line_too_long`` (500), ``tempfail`` (451: storage failed), ``shutting_down``,
``too_many_sessions``, ``too_many_sessions_from_client``, ``session_lifetime`` (421).
"""

from __future__ import annotations

import logging

__all__ = ["session_closed", "transaction"]

log = logging.getLogger("madoguchi.mail.smtp")


def transaction(client: str, result: str, *, reason: str = "", size: int | None = None) -> None:
    """One SMTP transaction ended: ``accepted``, ``duplicate`` or ``refused``."""
    fields: dict[str, object] = {"client": client, "result": result}
    if reason:
        fields["reason"] = reason
    if size is not None:
        fields["bytes"] = size
    log.info("smtp transaction", extra=fields)


def session_closed(client: str, reason: str) -> None:
    """The door ended (or refused) a session: over a cap, too old, or shutting down."""
    log.info("smtp session closed", extra={"client": client, "reason": reason})
