"""Inquiries by mail (SPEC §4.8 "Mail" and "New inquiry by mail"): which stored mail opens
an inquiry, which continues one, and which is left to the contact window.

The contact window's intake asks ``take`` about every stored mail before it looks for a
request, inside the transaction that processes the batch (nothing here commits):

1. A mail answering one of our inquiry mails (its In-Reply-To / References name an
   acknowledgement, an answer or a customer mail of the thread), else one whose subject
   carries ``[INQ-000123]``, continues that inquiry — only when its sender is an active
   account that is the asker or a contact of the inquiry's support ID. Anyone else's
   mail is left to the contact window and never attached (a stranger with a valid tag
   learns nothing and adds nothing).
2. A new mail to the inquiry address opens an inquiry when it can be decided: an active
   account sends it; the support ID is the plus-address (``inquiry+ACME_A@…``) or the
   sender's only support ID; the product is that support ID's only family in force,
   else ``その他`` for staff to set.
3. Whatever cannot be decided becomes a contact-window request whose acknowledgement
   explains how to address an inquiry (``Taken.hint``) — never lost.

The mail's files (``Assessed.files``: named, typed and hashed in the parser process) are
kept with the inquiry's message. When they could not all be kept (one too large, too
many), the mail still opens or continues the inquiry without them, and the refusal
(``Assessed.files_refused``) is told: in the staff post or follow-up, and in the
acknowledgement of a new inquiry (a follow-up gets no acknowledgement, as in the contact
window). The raw mail stays in the inbound journal.

Automatic mail (RFC 3834: auto-replies, bulk, daemons) and mail the trusted MTA calls
forged never open or reopen an inquiry: it goes to the contact window, which answers
nothing automatic to it, so an out-of-office reply cannot reopen a case or start a mail
loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from core.actors import Actor
from core.config import Settings
from core.contact_window.addresses import inquiry_recipient
from core.contact_window.assessment import Assessed
from core.contact_window.batch import answered_message_ids
from core.errors import DomainError
from core.inquiries.conversation import reply
from core.inquiries.numbers import SUBJECT_TAG
from core.inquiries.opening import MAX_SUBJECT, open_inquiry
from core.inquiries.reading import threaded
from core.inquiries.tables import InquiryMessage
from core.models import Account, SupportId, SupportIdContact
from core.snapshots import Query
from core.unit_of_work import UnitOfWork

_ACCOUNT = Query(
    select(Account.id, Account.status, Account.locale).where(Account.email == bindparam("email"))
)
_SUPPORT_IDS = Query(
    select(SupportId.name)
    .join(SupportIdContact, SupportIdContact.support_id_id == SupportId.id)
    .where(SupportIdContact.account_id == bindparam("account_id"))
)
_SEEN = Query(select(InquiryMessage.inquiry_id).where(InquiryMessage.message_id == bindparam("message_id")))


@dataclass(frozen=True)
class Taken:
    """What became of a mail: ``kind`` is "opened", "followup" or "duplicate" with the
    inquiry's number; "none" leaves it to the contact window, with ``hint`` set when the
    mail was for the inquiry address (its acknowledgement explains how to address one)."""

    kind: str
    number: int | None = None
    hint: str | None = None


LEFT = Taken("none")


def _for_inquiries(settings: Settings, rcpt_tos: list[str]) -> tuple[bool, str | None]:
    for rcpt in rcpt_tos:
        addressed, tag = inquiry_recipient(settings, rcpt)
        if addressed:
            return True, tag
    return False, None


async def _sender(uow: UnitOfWork, sender: str) -> Actor | None:
    """The sender as an acting customer, if an active account has that address."""
    if not sender:
        return None
    found = await uow.first(_ACCOUNT, email=sender.lower())
    if found is None or found[1] != "active":
        return None
    return Actor(kind="account", ref=f"mail:{sender}", door="mail", account_id=int(found[0]), locale=found[2])


def _subject(item: Assessed) -> str:
    """The mail's subject for the inquiry; a mail without one takes its first line."""
    subject = " ".join(item.mail.subject.split())
    if not subject:
        first = next((line.strip() for line in item.mail.text.splitlines() if line.strip()), "")
        subject = first
    return subject[:MAX_SUBJECT]


def _refused(item: Assessed) -> dict[str, Any] | None:
    """The staff post's ``attachments_refused`` for a mail whose files were not kept."""
    if item.files_refused is None:
        return None
    message_id, params = item.files_refused
    return {"message_id": message_id, "params": params, "files": [[n, s] for n, s in item.refused_files]}


async def take(uow: UnitOfWork, item: Assessed, message_id: str, *, may_open: bool = True) -> Taken:
    """Decide one stored mail (see the module docstring). ``message_id`` is the mail's
    own Message-ID (stored with the customer message, so replies to it thread too);
    ``may_open`` is False for a sender over the per-sender cap on new requests
    (MADOGUCHI_REQUESTS_PER_SENDER_HOUR counts new inquiries by mail too)."""
    mail, sender = item.mail, item.sender
    addressed, tag = _for_inquiries(uow.settings, mail.rcpt_tos)
    automatic = item.automatic is not None or item.suspect is not None
    if mail.message_id:
        seen = await uow.first(_SEEN, message_id=mail.message_id)
        if seen is not None:
            return Taken("duplicate", int(seen[0]))
    number = await threaded(uow, answered_message_ids(mail))
    if number is None:
        tagged = SUBJECT_TAG.search(mail.subject)
        number = int(tagged.group(1)) if tagged else None
    if number is not None:
        actor = None if automatic else await _sender(uow, sender)
        if actor is not None:
            try:
                replied = await reply(
                    uow,
                    actor,
                    number,
                    mail.text,
                    item.files,
                    attachments_refused=_refused(item),
                    message_id=message_id,
                    commit=False,
                )
            except DomainError:
                pass  # not theirs, or an empty mail: the contact window keeps it
            else:
                if replied.opened is not None:
                    return Taken("opened", replied.opened.number)
                return Taken("followup", replied.number)
        return Taken("none", hint="inquiry.mail.not_threaded") if addressed else LEFT
    if not addressed or not may_open:
        return LEFT
    if automatic:
        return Taken("none", hint="inquiry.mail.automatic")
    actor = await _sender(uow, sender)
    if actor is None:
        return Taken("none", hint="inquiry.mail.not_active")
    support_id = tag
    if support_id is None:
        names = [row[0] for row in await uow.rows(_SUPPORT_IDS, account_id=actor.account_id)]
        if len(names) != 1:
            return Taken("none", hint="inquiry.mail.support_id_undecided")
        support_id = str(names[0])
    try:
        opened = await open_inquiry(
            uow,
            actor,
            support_id=support_id,
            product=None,  # the support ID's only family in force, else その他
            subject=_subject(item),
            body=mail.text,
            attachments=item.files,
            attachments_refused=_refused(item),
            message_id=message_id,
            commit=False,
        )
    except DomainError:
        return Taken("none", hint="inquiry.mail.refused")
    return Taken("opened", opened.number)
