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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, bindparam, literal, select, union_all

from core.actors import Actor
from core.config import Settings
from core.contact_window.addresses import inquiry_recipient
from core.contact_window.assessment import Assessed
from core.contact_window.batch import answered_message_ids
from core.errors import DomainError
from core.inquiries.access import ASKER_WIDTH, active_sender, asker, asker_columns, askers
from core.inquiries.conversation import reply
from core.inquiries.numbers import SUBJECT_TAG
from core.inquiries.opening import MAX_SUBJECT, AskedAbout, check_opening, support_ids_for_askers, today
from core.inquiries.storing import Opening, Question, store
from core.inquiries.tables import Inquiry, InquiryMessage
from core.models import Account, SupportId, SupportIdContact
from core.storage.compiled import Row
from core.support_ids.names import name_key
from core.unit_of_work import UnitOfWork

# The batch's senders' accounts (what opening reads of them, ``access.askers``), each
# with the names of the support IDs it is a contact of (a row per support ID; one of
# NULL for none): one statement for what were three.
_SENDERS = (
    asker_columns()
    .add_columns(SupportId.name)
    .outerjoin(SupportIdContact, SupportIdContact.account_id == Account.id)
    .outerjoin(SupportId, SupportId.id == SupportIdContact.support_id_id)
    .where(Account.email.in_(bindparam("emails", expanding=True)))
)
# Our acknowledgements' Message-IDs (a thread's root, True) and every message of a thread.
_THREADS: CompoundSelect[Any] = union_all(
    select(Inquiry.thread_id, Inquiry.id, literal(True)).where(
        Inquiry.thread_id.in_(bindparam("ids", expanding=True))
    ),
    select(InquiryMessage.message_id, InquiryMessage.inquiry_id, literal(False)).where(
        InquiryMessage.message_id.in_(bindparam("ids", expanding=True))
    ),
)
# A mail names at most this many of its References when it is threaded.
_REFERENCES = 50


@dataclass
class Known:
    """What the database knows about a batch's mails, read in a few statements for the
    whole batch rather than several per mail: every mail to the contact address passes
    through ``take``, so per-mail reads here were a quarter of the contact window's
    processing cost (bench/mail.py profile, 2026-12-01). ``note`` keeps it true while
    the batch's own mails open and continue inquiries.

    New inquiries wait in ``pending`` and are stored together (``open_pending``: one
    statement per table, as the contact window's ``Batch`` stores requests) — at the end
    of the batch, or before a mail of the batch that could depend on them (one answering
    them, or one continuing any inquiry: a follow-up may open an inquiry too, and
    numbers follow the mails' order)."""

    roots: dict[str, int] = field(default_factory=dict)  # acknowledgement Message-ID → inquiry
    messages: dict[str, int] = field(default_factory=dict)  # a thread's message → inquiry
    senders: dict[str, tuple[int, str]] = field(default_factory=dict)  # active account: id, locale
    support_ids: dict[int, list[str]] = field(default_factory=dict)  # account → its support IDs
    # What opening needs of the senders who may open one (``access.askers``) and of the
    # support IDs they would open it about (``opening.support_ids_for_askers``).
    askers: dict[int, Row] = field(default_factory=dict)
    asked: dict[tuple[int, str], AskedAbout] = field(default_factory=dict)
    read: set[tuple[int, str]] = field(default_factory=set)  # the pairs those two were read for
    pending: dict[str, Opening] = field(default_factory=dict)  # the mail's Message-ID → its opening

    @classmethod
    async def load(cls, uow: UnitOfWork, items: Sequence[Assessed]) -> Known:
        known = cls()
        wanted: set[str] = set()
        for item in items:
            wanted.update(_references(item))
            if item.mail.message_id:
                wanted.add(item.mail.message_id)
        await known._threads(uow, wanted)
        # Senders matter only for mail that may become inquiry mail: to the inquiry
        # address, or naming an inquiry's thread or tag. The rest is the contact window's.
        concerned = [
            item
            for item in items
            if item.sender
            and (
                _for_inquiries(uow.settings, item.mail.rcpt_tos)[0]
                or known.thread_of(item) is not None
                or SUBJECT_TAG.search(item.mail.subject)
            )
        ]
        emails = sorted({item.sender.lower() for item in concerned})
        names: dict[int, list[str]] = {}
        if emails:
            for row in (await uow.session.execute(_SENDERS, {"emails": emails})).all():
                sender = active_sender(row)
                if sender is None:
                    continue
                email, account_id, locale = sender
                known.senders[email] = (account_id, locale)
                known.askers[account_id] = tuple(row)[:ASKER_WIDTH]
                if row[ASKER_WIDTH] is not None:
                    names.setdefault(account_id, []).append(str(row[ASKER_WIDTH]))
        # Support IDs matter for mail to the inquiry address (which one it is about).
        for item in concerned:
            found = known.senders.get(item.sender.lower())
            if (
                found is not None
                and found[0] in names
                and _for_inquiries(uow.settings, item.mail.rcpt_tos)[0]
            ):
                known.support_ids[found[0]] = names[found[0]]
        asked = [about for item in concerned if (about := known._may_open(uow.settings, item)) is not None]
        await known._read(uow, asked)
        return known

    async def _read(self, uow: UnitOfWork, asked: Sequence[tuple[int, str]]) -> None:
        if asked:
            unread = [account_id for account_id, _name in asked if account_id not in self.askers]
            if unread:
                self.askers.update(await askers(uow, unread))
            self.asked.update(await support_ids_for_askers(uow, asked, today(uow)))
            self.read.update((account_id, name_key(name)) for account_id, name in asked)

    async def asker_about(
        self, uow: UnitOfWork, account_id: int, support_id: str
    ) -> tuple[Row | None, AskedAbout | None]:
        """The asker's row and what they would open an inquiry about: read with the
        batch (``_may_open`` foresaw it), else now — the foresight saves statements, it
        never decides."""
        key = (account_id, name_key(support_id))
        if key not in self.read:
            await self._read(uow, [(account_id, support_id)])
        return self.askers.get(account_id), self.asked.get(key)

    def _may_open(self, settings: Settings, item: Assessed) -> tuple[int, str] | None:
        """The sender's account and the support ID a mail would open an inquiry about
        (``_decide``), if it may open one as far as the batch's start can tell."""
        addressed, tag = _for_inquiries(settings, item.mail.rcpt_tos)
        found = self.senders.get(item.sender.lower())
        if not addressed or found is None or item.automatic is not None or item.suspect is not None:
            return None
        if self.thread_of(item) is not None or SUBJECT_TAG.search(item.mail.subject):
            return None
        names = [tag] if tag is not None else self.support_ids.get(found[0], [])
        return (found[0], names[0]) if len(names) == 1 else None

    async def open_pending(self, uow: UnitOfWork) -> None:
        """Store the batch's new inquiries waiting so far (see the class docstring)."""
        if not self.pending:
            return
        waiting = self.pending
        self.pending = {}
        await store(uow, list(waiting.values()))
        for message_id, opening in waiting.items():
            assert opening.opened is not None
            self.note(message_id, opening.opened.number)

    async def _settle(self, uow: UnitOfWork, item: Assessed) -> None:
        """Store the waiting inquiries before a mail that names one of their messages."""
        if self.pending and any(m in self.pending for m in [item.mail.message_id, *_references(item)]):
            await self.open_pending(uow)

    async def _threads(self, uow: UnitOfWork, wanted: set[str]) -> None:
        if wanted:
            rows = (await uow.session.execute(_THREADS, {"ids": sorted(wanted)})).all()
            for row in rows:
                (self.roots if row[2] else self.messages)[str(row[0])] = int(row[1])

    def thread_of(self, item: Assessed) -> int | None:
        return self._thread_of(_references(item))

    def _thread_of(self, wanted: Sequence[str]) -> int | None:
        """The inquiry ``wanted`` (a mail's In-Reply-To and References) answers: our
        acknowledgement (the thread's root) first, else any message of a thread."""
        root = next((self.roots[m] for m in wanted if m in self.roots), None)
        return (
            root if root is not None else next((self.messages[m] for m in wanted if m in self.messages), None)
        )

    def note(self, message_id: str, inquiry: int) -> None:
        self.messages.setdefault(message_id, inquiry)


def _references(item: Assessed) -> list[str]:
    return _wanted(answered_message_ids(item.mail))


def _wanted(message_ids: Sequence[str]) -> list[str]:
    return [m for m in dict.fromkeys(message_ids) if m][-_REFERENCES:]


async def threaded(uow: UnitOfWork, message_ids: Sequence[str]) -> int | None:
    """The inquiry one of ``message_ids`` (a mail's In-Reply-To and References) belongs
    to: our acknowledgement's Message-ID (the thread's root) or any message of its thread
    (our answers, the customer's mails); None when none is ours. Whether the sender may
    write into it is the caller's to check (the asker or a contact of its support ID)."""
    known = Known()
    wanted = _wanted(message_ids)
    await known._threads(uow, set(wanted))
    return known._thread_of(wanted)


@dataclass(frozen=True)
class Taken:
    """What became of a mail: ``kind`` is "opened", "followup" or "duplicate" with the
    inquiry's number; "none" leaves it to the contact window, with ``hint`` set when the
    mail was for the inquiry address (its acknowledgement explains how to address one).
    A new inquiry waiting to be stored (``Known.open_pending``) has no number yet: its
    ``opening`` gets one (``Opening.opened``)."""

    kind: str
    number: int | None = None
    hint: str | None = None
    opening: Opening | None = None

    @property
    def inquiry(self) -> int | None:
        """The inquiry's number, once it has one."""
        if self.opening is not None and self.opening.opened is not None:
            return self.opening.opened.number
        return self.number


LEFT = Taken("none")


def _for_inquiries(settings: Settings, rcpt_tos: list[str]) -> tuple[bool, str | None]:
    for rcpt in rcpt_tos:
        addressed, tag = inquiry_recipient(settings, rcpt)
        if addressed:
            return True, tag
    return False, None


def _sender(known: Known, sender: str) -> Actor | None:
    """The sender as an acting customer, if an active account has that address."""
    found = known.senders.get(sender.lower()) if sender else None
    if found is None:
        return None
    return Actor(kind="account", ref=f"mail:{sender}", door="mail", account_id=found[0], locale=found[1])


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


async def take(
    uow: UnitOfWork, known: Known, item: Assessed, message_id: str, *, may_open: bool = True
) -> Taken:
    """Decide one stored mail (see the module docstring) against ``known`` (read for its
    batch by ``Known.load``). ``message_id`` is the mail's own Message-ID (stored with
    the customer message, so replies to it thread too); ``may_open`` is False for a
    sender over the per-sender cap on new requests (MADOGUCHI_REQUESTS_PER_SENDER_HOUR
    counts new inquiries by mail too)."""
    taken = await _decide(uow, known, item, message_id, may_open=may_open)
    if taken.kind in ("opened", "followup") and taken.number is not None:
        known.note(message_id, taken.number)
    return taken


async def _decide(uow: UnitOfWork, known: Known, item: Assessed, message_id: str, *, may_open: bool) -> Taken:
    mail, sender = item.mail, item.sender
    addressed, tag = _for_inquiries(uow.settings, mail.rcpt_tos)
    automatic = item.automatic is not None or item.suspect is not None
    await known._settle(uow, item)
    if mail.message_id and mail.message_id in known.messages:
        return Taken("duplicate", known.messages[mail.message_id])
    number = known.thread_of(item)
    if number is None:
        tagged = SUBJECT_TAG.search(mail.subject)
        number = int(tagged.group(1)) if tagged else None
    if number is not None:
        actor = None if automatic else _sender(known, sender)
        if actor is not None:
            await known.open_pending(uow)
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
    actor = _sender(known, sender)
    if actor is None or actor.account_id is None:
        return Taken("none", hint="inquiry.mail.not_active")
    support_id = tag
    if support_id is None:
        names = known.support_ids.get(actor.account_id, [])
        if len(names) != 1:
            return Taken("none", hint="inquiry.mail.support_id_undecided")
        support_id = str(names[0])
    found, about = await known.asker_about(uow, actor.account_id, support_id)
    try:
        account, company = asker(found)
        # The product: the support ID's only family in force, else その他 (None: by mail).
        question = Question(_subject(item), mail.text, item.files, _refused(item), message_id)
        opening = check_opening(
            uow.settings, actor, account, company, question, support_id.strip(), about, None
        )
    except DomainError:
        return Taken("none", hint="inquiry.mail.refused")
    if account.email == sender:
        # Whether the acknowledgement may go to the asker: the parser process judged
        # this very address already (``valid_recipient``, ~50 µs uncached per sender).
        opening.asker_valid = item.sender_valid
    known.pending[message_id] = opening
    return Taken("opened", opening=opening)
