"""Intake: a batch of stored mail becomes requests, follow-ups, bounces and duplicates, in
one transaction that also marks the stored records processed.

For each mail, in arrival order: a delivery report marks addresses bouncing; a Message-ID
seen before is a duplicate; a mail that threads (signed reply address, In-Reply-To /
References, a ``[REQ-…]`` tag from the request's own sender) is a follow-up and reopens a
closed request; anything else opens a new request, numbered by its stored record's id,
posted to staff, self-served and acknowledged where the rules allow. Separate because
this is the window's one write path for incoming mail; the verdicts it reads come from
``assessment``, its state from ``batch``, its limits from ``acknowledgement``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text

from core import audit
from core.config import Settings
from core.contact_window.acknowledgement import ack_refusal, acknowledge
from core.contact_window.addresses import SUBJECT_TAG, SYSTEM_MAIL, format_number, tagged_number
from core.contact_window.assessment import Assessed, IncomingMail, assess, nul_free
from core.contact_window.batch import DIRECTION_IN, Batch, BatchRequest, answered_message_ids
from core.contact_window.self_service import SELF_SERVICE, self_serve
from core.models import InboundMail, MailAddressState
from core.outbox import enqueue_slack, slack_values
from core.unit_of_work import UnitOfWork

_INBOUND = cast(Table, InboundMail.__table__)
# Built once, like the inbox's statements (core/contact_window/inbox.py).
_CLAIM = (
    select(_INBOUND.c.id)
    .where(_INBOUND.c.id.in_(bindparam("ids", expanding=True)), _INBOUND.c.state == "received")
    .with_for_update(skip_locked=True)
)


@dataclass
class Outcome:
    """What processing did with one stored mail (for logs, tests and the benchmark)."""

    kind: str  # "request", "followup", "duplicate", "bounce", "skipped"
    number: int | None = None
    category: str | None = None
    acknowledged: bool = False
    ack_refused: str | None = None


async def process_inbound(uow: UnitOfWork, inbound_id: int, mail: IncomingMail | Assessed) -> Outcome:
    """One stored mail (see ``process_inbound_batch``)."""
    [outcome] = await process_inbound_batch(uow, [(inbound_id, mail)])
    return outcome


async def process_inbound_batch(
    uow: UnitOfWork, batch: Sequence[tuple[int, IncomingMail | Assessed]]
) -> list[Outcome]:
    """Thread, classify, self-serve, acknowledge and notify staff for stored mails, in
    one transaction that also marks the records processed: a crash halfway leaves them
    "received" and they are done again from the start, never half.

    The mails are decided one by one in the order they arrived, against what the
    database holds plus what the earlier mails of the batch did (``Batch``); the rows go
    in with one statement per table: a batch costs about what one mail did statement by
    statement (docs/performance.md, "Contact window by mail"). A mail that makes the
    batch fail is found by the caller processing the batch's mails one at a time.
    """
    session = uow.session
    settings = uow.settings
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    assessed = sorted(
        ((i, m if isinstance(m, Assessed) else assess(settings, m)) for i, m in batch),
        key=lambda item: item[0],
    )
    claimed = set((await session.scalars(_CLAIM, {"ids": [i for i, _m in assessed]})).all())
    state = Batch(uow)
    now = state.now
    work: list[tuple[int, Assessed]] = []
    outcomes: dict[int, Outcome] = {}
    for inbound_id, item in assessed:
        if inbound_id not in claimed:
            outcomes[inbound_id] = Outcome("skipped")
            continue
        work.append((inbound_id, item))
    if postgres:
        # Per-sender limits are read-then-write: serialise one sender across instances.
        # All of the batch's senders at once, in one order, so two batches cannot deadlock.
        keys = sorted({"ack:" + a.sender for _i, a in work if a.sender and not a.bounce})
        if keys:
            await session.execute(
                text(
                    "SELECT pg_advisory_xact_lock(h) FROM "
                    "(SELECT DISTINCT hashtext(k) AS h FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS s"
                ),
                {"keys": keys},
            )
    if work:
        await state.load(work)
    for n, (inbound_id, item) in enumerate(work):
        if postgres and n % 10 == 9:
            # Let the SMTP sessions on this loop move on meanwhile. (On SQLite they would
            # only reach the store and wait for this transaction's write lock.)
            await asyncio.sleep(0)
        mail, sender = item.mail, item.sender
        error = "; ".join(mail.defects)[:2000]
        if item.bounce:
            await _record_bounces(uow, mail, state)
            state.inbound.append((inbound_id, None, mail.malformed, error))
            outcomes[inbound_id] = Outcome("bounce")
            continue
        stored_id = mail.message_id or f"<inbound-{inbound_id}@madoguchi.invalid>"
        # The same Message-ID stored already (the same message through another hop)?
        if mail.message_id and state.known.get(mail.message_id, (None, ""))[1] == DIRECTION_IN:
            state.inbound.append((inbound_id, state.known[mail.message_id][0], mail.malformed, error))
            outcomes[inbound_id] = Outcome("duplicate")
            continue
        references = answered_message_ids(mail)
        parent = next((state.known[i][0] for i in references if i in state.known), None)
        request = _thread(settings, state, mail, sender, parent)
        message = {
            "direction": DIRECTION_IN,
            "message_id": stored_id,
            "sender": sender,
            "subject": mail.subject,
            "body": mail.text,
            "author": "",
            "created_at": now,
        }
        if request is not None:
            state.add_message(request, message)
            if request.status == "closed":
                request.status = "open"
                request.reopened = True
            state.inbound.append((inbound_id, request, mail.malformed, error))
            state.outbox.append(
                slack_values(
                    uow,
                    "request_followup",
                    {
                        "number": request.number,
                        "request": format_number(request.number),
                        "sender": sender,
                        "subject": mail.subject,
                        "excerpt": item.excerpt,
                        "channel": request.slack_channel,
                        "thread_ts": request.slack_ts,
                    },
                    locale=settings.locale,
                )
            )
            state.audit.append(
                audit.values(
                    uow,
                    SYSTEM_MAIL,
                    "contact.followup",
                    account_id=request.account_id,
                    request=request.number,
                )
            )
            outcomes[inbound_id] = Outcome("followup", number=request.number, category=request.category)
            continue
        outcomes[inbound_id] = await _new_request(uow, state, inbound_id, item, message, error)
    await state.write()
    await uow.commit()
    return [outcomes[i] for i, _m in assessed]


async def _new_request(
    uow: UnitOfWork,
    state: Batch,
    inbound_id: int,
    item: Assessed,
    message: dict[str, Any],
    error: str,
) -> Outcome:
    settings = uow.settings
    mail, sender, category, automatic = item.mail, item.sender, item.category, item.automatic
    account = state.accounts.get(sender) if sender else None
    locale = account[1] if account is not None else item.locale
    request = BatchRequest(
        id=None,
        number=inbound_id,
        status="open",
        category=category,
        sender=sender[:320],
        account_id=account[0] if account is not None else None,
        locale=locale,
        subject=mail.subject,
    )
    state.new_requests.append(request)
    state.by_number[request.number] = request
    state.add_message(request, message)
    state.inbound.append((inbound_id, request, mail.malformed, error))
    outcome = Outcome("request", number=request.number, category=category)

    actions = ["reply", "close"]
    if category == "activation":
        actions.append("resend_activation")
    state.outbox.append(
        slack_values(
            uow,
            "request_new",
            {
                "number": request.number,
                "request": format_number(request.number),
                "category": category,
                "sender": sender,
                "sender_name": mail.sender_name,
                "subject": mail.subject,
                "excerpt": item.excerpt,
                "malformed": mail.malformed,
                "actions": actions,
            },
            locale=settings.locale,
        )
    )
    if account is not None and automatic is None and category in SELF_SERVICE:
        await self_serve(uow, category, sender)

    refused = automatic or await ack_refusal(uow, state, sender, item.sender_valid)
    if refused is None:
        acknowledge(uow, state, request, mail, sender)
        outcome.acknowledged = True
    else:
        outcome.ack_refused = refused
    state.audit.append(
        audit.values(
            uow,
            SYSTEM_MAIL,
            "contact.request_created",
            account_id=request.account_id,
            request=request.number,
            category=category,
            acknowledged=outcome.acknowledged,
            ack_refused=refused,
        )
    )
    return outcome


async def _record_bounces(uow: UnitOfWork, mail: IncomingMail, batch: Batch) -> None:
    now = uow.clock.now()
    for failure in mail.failures[:100]:
        address = nul_free(failure.address.lower())[:320]
        state = await uow.session.get(MailAddressState, address)
        if state is None:
            state = MailAddressState(email=address, bounced_at=now, bounce_reason="")
            uow.session.add(state)
        state.bounced_at = now
        batch.bounced[address] = now
        state.bounce_reason = nul_free(f"{failure.status} {failure.diagnostic}")[:2000]
        enqueue_slack(
            uow,
            "staff_alert",
            {
                "message_id": "contact.alert.bounce",
                "params": {"address": address, "status": nul_free(failure.status)},
            },
            locale=uow.settings.locale,
        )
        audit.record(uow, SYSTEM_MAIL, "contact.bounce", address=address, status=failure.status)


def _thread(
    settings: Settings, state: Batch, mail: IncomingMail, sender: str, parent: BatchRequest | None
) -> BatchRequest | None:
    """The request a mail continues: our signed reply address, then In-Reply-To and
    References, then a ``[REQ-…]`` subject tag from the request's own sender."""
    for rcpt in mail.rcpt_tos:
        number = tagged_number(settings, rcpt)
        if number is not None and number in state.by_number:
            return state.by_number[number]
    if parent is not None:
        return parent
    for match in SUBJECT_TAG.finditer(mail.subject):
        found = state.by_number.get(int(match.group(1)))
        if found is not None and sender and found.sender.lower() == sender:
            return found
    return None
