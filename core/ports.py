"""What core asks of the outside world: the ports the doors implement.

Core decides *what* must happen when an outbox row is due (a new request's post opens a
thread in the staff channel, its follow-ups go into that thread; a recipient refused for
good is remembered and staff are alerted; a temporary refusal is tried again later) but
not *how* a post reaches Slack or a mail reaches a relay: that is a protocol, and
protocols live in the doors (Block Kit and ``chat.postMessage`` in ``bot/``; aiosmtplib,
SMTP reply codes and ``.eml`` files in ``mail/``).

A port is the small interface between the two. Core calls it with core data (a template
name, a locale, a plain context dict, a claimed outbox row) and gets core data back
(``PostRef``, ``MailOutcome``), so the rules stay in one place (``core.delivery``,
``core.outbox_worker``), core never imports a door, and no door reaches another door:
the composition root builds the implementations and passes them in. Tests pass fakes
that record what they were asked.

Raising from a port means "not now": the worker retries the row later with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from core.delivery import Claimed


@dataclass(frozen=True, slots=True)
class PostRef:
    """Where a post is in the staff channel: enough to reply in its thread or update it."""

    channel: str
    ts: str


class StaffChannel(Protocol):
    """The staff's channel (Slack in ``bot.staff_posts``).

    ``kind`` is the outbox row's template name (``request_new``, ``request_followup``,
    ``staff_alert``); ``context`` its plain JSON context. How a kind looks is the door's
    business.
    """

    async def post(self, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        """A new message in the staff channel."""
        ...

    async def reply(self, parent: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        """A message in the thread of ``parent``."""
        ...

    async def update(self, post: PostRef, kind: str, locale: str, context: Mapping[str, Any]) -> PostRef:
        """``post`` shown again with new content (a request's state changed)."""
        ...


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """What the receiving side said about one mail.

    ``delivered``: accepted (``refused`` may name recipients refused for good among
    others who got it). ``deferred``: some recipients were refused for now; ``retry``
    names who to try again (``None``: every recipient, nobody got it). ``refused``: nobody
    got it and trying again will not help.
    """

    status: Literal["delivered", "deferred", "refused"]
    refused: tuple[str, ...] = ()  # refused for good (5xx): marked bouncing, staff alerted
    retry: tuple[str, ...] | None = None
    detail: str = ""  # the replies, for the row's last error and the alert


class MailTransport(Protocol):
    """Sends claimed mail rows (``mail.transport``: a relay, or ``.eml`` files).

    ``send`` renders the row's template with its context and secrets, sends it from
    ``mail.return_path`` (the envelope sender, which core chose) to ``mail.recipients``
    and says how that went. Raising (a network error, a 4xx for the whole mail, a
    template error) means "try the whole row again later". The worker calls ``send``
    for a batch's rows a few at a time (``MADOGUCHI_RELAY_CONNECTIONS``); over which
    connections they go is the transport's (as many persistent relay sessions). ``close`` hangs
    up whatever it holds open; a later ``send`` opens again.
    """

    async def send(self, mail: Claimed) -> MailOutcome: ...

    async def send_many(self, mails: Sequence[Claimed], lanes: int = 1) -> list[MailOutcome]:
        """``send`` for each of ``mails``, ``lanes`` at a time, an outcome per mail in
        order; a mail whose send raised is ``deferred``. One call per batch, so a
        transport may hand the whole batch to another process at once. Called with no
        mails when the worker starts: a transport may get ready then (start a process)."""
        ...

    async def close(self) -> None: ...


class Metrics(Protocol):
    """The counters core and the doors keep (``madoguchi.metrics`` exports them)."""

    def mail_in(self, result: str) -> None:
        """An inbound SMTP message: accepted, duplicate, rejected_rcpt, tempfail, ..."""
        ...

    def mail_out(self, channel: str, result: str) -> None:
        """An outbox delivery of channel mail/slack: sent, retry, failed."""
        ...

    def throttle_hit(self, door: str, scope: str) -> None:
        """An attempt refused by a throttle."""
        ...

    def error(self, where: str) -> None:
        """An unexpected exception, by where it was caught."""
        ...

    def slack_ack(self, kind: str, seconds: float) -> None:
        """A Slack request acknowledged ``seconds`` after it arrived (command, event,
        action, view): Slack gives up after 3 s, so this is the door's own deadline."""
        ...

    def smtp_data(self, result: str, seconds: float) -> None:
        """An inbound message answered ``seconds`` after its DATA ended (the commit before
        ``250``; ``result`` as in ``mail_in``)."""
        ...


class NoMetrics:
    """Counts nothing: for tests and one-shot commands."""

    def mail_in(self, result: str) -> None:
        return None

    def mail_out(self, channel: str, result: str) -> None:
        return None

    def throttle_hit(self, door: str, scope: str) -> None:
        return None

    def error(self, where: str) -> None:
        return None

    def slack_ack(self, kind: str, seconds: float) -> None:
        return None

    def smtp_data(self, result: str, seconds: float) -> None:
        return None
