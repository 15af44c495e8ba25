"""The outbox (SPEC §6): what to deliver, written in the change's own transaction.

A row names a template, a locale, recipients and a JSON context; secrets (links with
tokens) go into ``sealed`` (see ``core.sealing``) and are erased after sending. The
Message-ID is fixed here, when the row is created, so a retried send is the same mail.
Sending is the mail door's job (``mail/``); Slack posts to staff use channel "slack".

Queuing a row flags the unit of work, so its commit wakes this process's outbox worker
at once (``Core.on_outbox``): an acknowledgement leaves within milliseconds of the
transaction that queued it, not at the worker's next poll.
"""

from __future__ import annotations

import uuid
from typing import Any, TypedDict, Unpack

from core.models import OutboxMessage
from core.unit_of_work import UnitOfWork


def new_message_id(uow: UnitOfWork) -> str:
    domain = uow.settings.mail_from.rpartition("@")[2] or "madoguchi.invalid"
    return f"<{uuid.uuid4().hex}@{domain}>"


class MailOptions(TypedDict, total=False):
    """What a queued mail may add to template, recipients and context."""

    locale: str  # "ja" unless given
    secrets: dict[str, Any] | None  # sealed; erased once sent
    headers: dict[str, Any] | None
    message_id: str | None  # a new one unless given


def mail_values(
    uow: UnitOfWork, template: str, to: list[str], context: dict[str, Any], **options: Unpack[MailOptions]
) -> dict[str, Any]:
    """The column values of a queued mail: for ``enqueue_mail`` and for callers that
    insert many rows in one statement (the contact window's batch processing)."""
    now = uow.clock.now()
    secrets = options.get("secrets")
    uow.outbox_queued = True
    return {
        "channel": "mail",
        "template": template,
        "locale": options.get("locale", "ja"),
        "recipients": list(to),
        "context": context,
        "sealed": uow.sealer.seal(secrets) if secrets else "",
        "headers": options.get("headers") or {},
        "message_id": options.get("message_id") or new_message_id(uow),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def enqueue_mail(
    uow: UnitOfWork, template: str, to: list[str], context: dict[str, Any], **options: Unpack[MailOptions]
) -> OutboxMessage:
    row = OutboxMessage(**mail_values(uow, template, to, context, **options))
    uow.session.add(row)
    return row


def slack_values(
    uow: UnitOfWork, template: str, context: dict[str, Any], *, locale: str = "ja"
) -> dict[str, Any]:
    """The column values of a queued staff-channel post (see ``mail_values``)."""
    now = uow.clock.now()
    uow.outbox_queued = True
    return {
        "channel": "slack",
        "template": template,
        "locale": locale,
        "recipients": [],
        "context": context,
        "sealed": "",
        "headers": {},
        "message_id": new_message_id(uow),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def enqueue_slack(
    uow: UnitOfWork, template: str, context: dict[str, Any], *, locale: str = "ja"
) -> OutboxMessage:
    """A post for the staff channel, delivered by the Slack door's worker."""
    row = OutboxMessage(**slack_values(uow, template, context, locale=locale))
    uow.session.add(row)
    return row
