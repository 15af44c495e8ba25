"""Intake: a batch of stored mail becomes requests, follow-ups, bounces and duplicates, in
one transaction that also marks the stored records processed.

For each mail, in arrival order: a delivery report to one of our signed return paths
marks bouncing the recipients of the mail it is about (``bounces``), one staff alert per
batch at most; a Message-ID seen before is a duplicate; a mail that threads (signed
reply address, In-Reply-To / References, a ``[REQ-…]`` tag from the request's own
sender) is a follow-up and reopens a closed request; a sender over the per-sender cap
on new requests is kept but makes no request (staff told once per sender per hour);
anything else opens a new request, numbered by its stored record's id, posted to staff,
self-served and acknowledged where the rules allow. Each mail leaves one log line.
Separate because this is the window's one write path for incoming mail; the verdicts it
reads come from ``assessment``, its state from ``batch``, its limits from
``acknowledgement``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text

from core import audit
from core.config import Settings
from core.contact_window.acknowledgement import ack_refusal, acknowledge
from core.contact_window.addresses import SUBJECT_TAG, SYSTEM_MAIL, format_number, tagged_number
from core.contact_window.assessment import Assessed, IncomingMail, assess
from core.contact_window.batch import DIRECTION_IN, Batch, BatchRequest, answered_message_ids
from core.contact_window.bounces import alert_bounces, mark_bouncing
from core.contact_window.self_service import SELF_SERVICE, self_serve
from core.inquiries import numbers as inquiries
from core.models import AuditRecord, InboundMail
from core.outbox import enqueue_slack, slack_values
from core.unit_of_work import UnitOfWork

log = logging.getLogger("madoguchi.contact_window")

_INBOUND = cast(Table, InboundMail.__table__)
# Built once, like the inbox's statements (core/contact_window/inbox.py).
_CLAIM = (
    select(_INBOUND.c.id)
    .where(_INBOUND.c.id.in_(bindparam("ids", expanding=True)), _INBOUND.c.state == "received")
    .with_for_update(skip_locked=True)
)
CAP_WINDOW = timedelta(hours=1)  # MADOGUCHI_REQUESTS_PER_SENDER_HOUR counts per hour
CAPPED = "contact.sender_capped"
_CAPPED_TOLD = select(AuditRecord.details).where(
    AuditRecord.action == CAPPED, AuditRecord.at > bindparam("since")
)


@dataclass
class Outcome:
    """What processing did with one stored mail (for logs, tests and the benchmark)."""

    # "request", "followup", "duplicate", "bounce", "capped", "skipped", "failed",
    # "inquiry_opened", "inquiry_followup"
    kind: str
    number: int | None = None  # the request it made, continued or (a duplicate) made before
    category: str | None = None
    acknowledged: bool = False
    ack_refused: str | None = None
    marked: int = 0  # a bounce: how many of the reported recipients were marked bouncing
    inquiry: int | None = None  # the inquiry it opened or continued (core.inquiries.by_mail)


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
    # Here, not at the top: core.inquiries imports the contact window's address rules, and
    # this package's __init__ imports this module, so a top-level import would be a cycle.
    from core.inquiries import by_mail

    known = await by_mail.Known.load(uow, [item for _i, item in work if not item.bounce])
    bounced: list[str] = []
    capped: dict[str, int] = {}  # sender → the first capped mail's id
    opened: list[tuple[Outcome, by_mail.Taken]] = []  # numbered once the batch's inquiries are stored
    for n, (inbound_id, item) in enumerate(work):
        if postgres and n % 10 == 9:
            # Let the SMTP sessions on this loop move on meanwhile. (On SQLite they would
            # only reach the store and wait for this transaction's write lock.)
            await asyncio.sleep(0)
        mail, sender = item.mail, item.sender
        error = "; ".join(mail.defects)[:2000]
        if item.bounce:
            marked = await _record_bounces(uow, item, state)
            bounced.extend(a for a in marked if a not in bounced)
            state.inbound.append((inbound_id, None, mail.malformed, error))
            outcomes[inbound_id] = Outcome("bounce", marked=len(marked))
            continue
        stored_id = mail.message_id or f"<inbound-{inbound_id}@madoguchi.invalid>"
        # The same Message-ID stored already (the same message through another hop)?
        if mail.message_id and state.known.get(mail.message_id, (None, ""))[1] == DIRECTION_IN:
            before = state.known[mail.message_id][0]
            state.inbound.append((inbound_id, before, mail.malformed, error))
            outcomes[inbound_id] = Outcome("duplicate", number=before.number, category=before.category)
            continue
        references = answered_message_ids(mail)
        parent = next((state.known[i][0] for i in references if i in state.known), None)
        request = _thread(settings, state, mail, sender, parent)
        hint = None
        if request is None:
            limit = settings.requests_per_sender_hour
            may_open = not limit or state.recent_requests.get(sender, 0) < limit
            # Rows the inquiry path adds (audit, outbox) need not be flushed before each of
            # its reads: it flushes the inquiry and its message itself, the rest at commit.
            with session.no_autoflush:
                taken = await by_mail.take(uow, known, item, stored_id, may_open=may_open)
            if taken.kind != "none":
                if taken.kind == "opened":
                    state.recent_requests[sender] = state.recent_requests.get(sender, 0) + 1
                state.inbound.append((inbound_id, None, mail.malformed, error))
                kind = "duplicate" if taken.kind == "duplicate" else f"inquiry_{taken.kind}"
                outcomes[inbound_id] = Outcome(kind, category=item.category, inquiry=taken.number)
                if taken.opening is not None:
                    opened.append((outcomes[inbound_id], taken))
                continue
            hint = taken.hint
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
            files = _files(state, request, item)
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
                        **files,
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
        limit = settings.requests_per_sender_hour
        if limit and state.recent_requests.get(sender, 0) >= limit:
            # Kept (the raw bytes stay), flagged, and nothing else: no request, no post.
            note = f"capped: over {limit} new requests from this sender in an hour; no request made"
            state.inbound.append(
                (inbound_id, None, mail.malformed, f"{note}; {error}"[:2000] if error else note)
            )
            capped.setdefault(sender, inbound_id)
            outcomes[inbound_id] = Outcome("capped", category=item.category)
            continue
        outcomes[inbound_id] = await _new_request(uow, state, inbound_id, item, message, error, hint)
    await known.open_pending(uow)
    for outcome, taken in opened:
        outcome.inquiry = taken.inquiry
    if bounced:
        await alert_bounces(uow, SYSTEM_MAIL, "contact.alert.bounce", bounced)
    if capped:
        await _tell_capped(uow, state, capped)
    await state.write()
    await uow.commit()
    key = settings.resolved_secret_key().encode()
    for inbound_id, item in assessed:
        if outcomes[inbound_id].kind != "skipped":  # another instance took it, and logs it
            _log(key, inbound_id, item, outcomes[inbound_id])
    return [outcomes[i] for i, _m in assessed]


async def _new_request(
    uow: UnitOfWork,
    state: Batch,
    inbound_id: int,
    item: Assessed,
    message: dict[str, Any],
    error: str,
    hint: str | None = None,
) -> Outcome:
    """A new request; ``hint``: the mail was for the inquiry address and could not become
    an inquiry (``core.inquiries.by_mail``), so its acknowledgement says how to write one."""
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
    state.recent_requests[sender] = state.recent_requests.get(sender, 0) + 1
    state.add_message(request, message)
    state.inbound.append((inbound_id, request, mail.malformed, error))
    outcome = Outcome("request", number=request.number, category=category)
    files = _files(state, request, item)

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
                # Why nothing automatic went back, when staff should know before answering.
                "notice": "unverified_report" if item.unverified_report else item.suspect,
                **files,
            },
            locale=settings.locale,
        )
    )
    # A sender the trusted MTA says is forged or spam gets nothing automatic, self-service
    # mail to a registered address included (core.contact_window.authentication).
    if account is not None and automatic is None and item.suspect is None and category in SELF_SERVICE:
        await self_serve(uow, category, sender)

    refused = automatic or item.suspect or await ack_refusal(uow, state, sender, item.sender_valid)
    if refused is None:
        acknowledge(uow, state, request, mail, sender, item.files_refused, inquiry_hint=hint is not None)
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
            inquiry_hint=hint,
        )
    )
    return outcome


def _files(state: Batch, request: BatchRequest, item: Assessed) -> dict[str, Any]:
    """What the staff post says of the mail's files: the list the batch fills in once it
    has stored them (``Batch.write``), or why none was kept and which they were."""
    if item.files_refused is not None:
        message_id, params = item.files_refused
        return {
            "attachments_refused": {
                "message_id": message_id,
                "params": params,
                "files": [[name, size] for name, size in item.refused_files],
            }
        }
    if not item.files:
        return {}
    shown: list[dict[str, Any]] = []
    state.files.append((request, item.files, shown))
    return {"attachments": shown}


async def _record_bounces(uow: UnitOfWork, item: Assessed, state: Batch) -> list[str]:
    """A report that came back to the signed return path of outbox row ``bounce_of``:
    only that mail's recipients can be marked, whatever else the report names."""
    recipients = state.outbox_recipients.get(item.bounce_of or 0, set())
    failures = [
        (f.address, f"{f.status} {f.diagnostic}")
        for f in item.mail.failures[:100]
        if f.address.lower() in recipients
    ]
    marked = await mark_bouncing(uow, SYSTEM_MAIL, failures)
    for address in marked:
        state.bounced[address] = state.now
    return marked


async def _tell_capped(uow: UnitOfWork, state: Batch, capped: dict[str, int]) -> None:
    """Staff hear of a sender over the cap once per ``CAP_WINDOW``: the audit trail says
    whom they were told of lately (a handful of rows, read only when a batch caps)."""
    rows = await uow.session.scalars(_CAPPED_TOLD, {"since": state.now - CAP_WINDOW})
    told = {str((details or {}).get("sender", "")) for details in rows.all()}
    limit = uow.settings.requests_per_sender_hour
    for sender, inbound_id in capped.items():
        if sender in told:
            continue
        enqueue_slack(
            uow,
            "staff_alert",
            {
                "message_id": "contact.alert.sender_capped",
                "params": {"sender": sender or "—", "limit": limit, "id": inbound_id},
            },
            locale=uow.settings.locale,
        )
        state.audit.append(audit.values(uow, SYSTEM_MAIL, CAPPED, sender=sender, inbound_id=inbound_id))


def _log(key: bytes, inbound_id: int, item: Assessed, outcome: Outcome) -> None:
    """One line per processed mail for operators: what became of it, no personal data
    beyond the sender's domain (and a short keyed hash, to tell senders of one domain
    apart without naming them)."""
    sender = item.sender
    domain = sender.rpartition("@")[2][:253] if "@" in sender else "-"
    request = format_number(outcome.number) if outcome.number is not None else "-"
    if outcome.inquiry is not None:
        request = inquiries.format_number(outcome.inquiry)
    log.info(
        "inbound mail #%d: %s %s",
        inbound_id,
        outcome.kind,
        request,
        extra={
            "inbound_id": inbound_id,
            "outcome": outcome.kind,
            "request": request,
            "category": outcome.category or item.category,
            "acknowledged": outcome.acknowledged,
            "ack_refused": outcome.ack_refused,
            "suspect": item.suspect,
            "marked": outcome.marked,
            "sender_domain": domain,
            "sender_hash": hmac.new(key, sender.encode(), hashlib.sha256).hexdigest()[:12] if sender else "-",
        },
    )


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
