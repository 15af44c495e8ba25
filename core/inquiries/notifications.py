"""What an inquiry sends: mail to the asker (the support ID's CC addresses in Cc) and
posts for staff, queued in the outbox in the change's own transaction (SPEC §4.8, §6).

Mail: the acknowledgement when an inquiry is opened and each staff answer. Both carry
``[INQ-000123]`` in the subject and are threaded: the acknowledgement's Message-ID is
the inquiry's ``thread_id`` (fixed when it was opened), and every answer names it and
the messages since in ``References``, so the customer's mail program keeps one thread
and a reply names one of our Message-IDs (which the mail door matches first).
``answering.answer`` is the only caller of ``queue_answer``: nothing else in the
product sends a customer what staff wrote.

Staff posts: a new inquiry is a post in its product's channel
(MADOGUCHI_PRODUCT_CHANNELS, else the staff channel); customer follow-ups go into that
post's thread (``core.delivery.post_for_staff`` keeps the order).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from sqlalchemy import bindparam, select, update

from core.attachments import AttachmentInfo, size_text
from core.contact_window.addresses import thread_headers, valid_recipient
from core.inquiries.numbers import format_number, subject_tag
from core.inquiries.tables import Inquiry, InquiryMessage
from core.messages import render
from core.models import SupportIdCc
from core.outbox import enqueue_mail, enqueue_slack, mail_values, slack_values
from core.snapshots import Query
from core.unit_of_work import UnitOfWork

# An answer mail's files, sent as its MIME parts: their ids (and names, sizes, hashes)
# in the row's context; the bytes are read from the attachment store when the mail is
# rendered (``core.outbox_worker``), never copied into the outbox.
MIME_FILES = "mime_files"
# Outbox templates (mail) and kinds (staff posts) of inquiries.
ACK = "inquiry_ack"
ANSWER = "inquiry_answer"
STAFF_NEW = "inquiry_new"
STAFF_FOLLOWUP = "inquiry_followup"
EXCERPT = 1500
LOOP_HEADER = "X-Madoguchi-Loop"


class NewInquiry(Protocol):
    """What the acknowledgement and the staff post read of an inquiry: an ``Inquiry``,
    or the plain values ``storing.store`` just inserted (no ORM object per opening)."""

    @property
    def id(self) -> int: ...
    @property
    def subject(self) -> str: ...
    @property
    def product_family(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def asker_email(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def due_on(self) -> date: ...
    @property
    def thread_id(self) -> str: ...


_CC_ADDRESSES = Query(
    select(SupportIdCc.email)
    .where(SupportIdCc.support_id_id == bindparam("support_id_id"))
    .order_by(SupportIdCc.id)
)


async def cc_addresses(uow: UnitOfWork, inquiry: Inquiry) -> list[str]:
    """The support ID's CC addresses (同報者) that may receive mail, without the asker."""
    return await _cc_addresses(uow, inquiry.support_id_id, inquiry.asker_email)


async def _cc_addresses(
    uow: UnitOfWork, support_id_id: int | None, asker_email: str, stored: list[str] | None = None
) -> list[str]:
    if support_id_id is None:
        return []
    if stored is None:
        stored = [str(e) for (e,) in await uow.rows(_CC_ADDRESSES, support_id_id=support_id_id)]
    asker = asker_email.lower()
    return [e for e in stored if e.lower() != asker and valid_recipient(uow.settings, e)]


def may_acknowledge(uow: UnitOfWork, asker_email: str) -> bool:
    """May the asker get an acknowledgement at all (an automatic mail to that address)?"""
    return valid_recipient(uow.settings, asker_email)


async def ack_cc_addresses(
    uow: UnitOfWork,
    support_id_id: int | None,
    asker_email: str,
    stored: list[str] | None = None,
    *,
    asker_valid: bool | None = None,
) -> list[str]:
    """The acknowledgement's Cc for an inquiry about to be opened (``ack_row``), read
    before anything is written so the opening's reads and writes do not interleave —
    or picked from ``stored``, the support ID's CC addresses as the caller read them;
    none when the asker gets no acknowledgement (``asker_valid``: ``may_acknowledge``'s
    verdict when the caller has it)."""
    if not (may_acknowledge(uow, asker_email) if asker_valid is None else asker_valid):
        return []
    return await _cc_addresses(uow, support_id_id, asker_email, stored)


def _base_context(uow: UnitOfWork, inquiry: NewInquiry, support_id: str | None, name: str) -> dict[str, Any]:
    return {
        "inquiry": format_number(inquiry.id),
        "tag": subject_tag(inquiry.id),
        "subject": inquiry.subject,
        "support_id": support_id or "",
        "product": inquiry.product_family,
        "name": name,
        # Dates travel as ISO text; the template writes them (``| long_date``, docs/wording.md).
        "due_on": inquiry.due_on.isoformat(),
        "inquiry_address": uow.settings.inquiry_address,
    }


def _file_lines(files: Sequence[AttachmentInfo]) -> list[dict[str, str]]:
    """What a mail lists of a message's files: names and sizes, never a link (a mail
    also goes to the CC addresses, who are not contacts of the support ID; contacts get
    links from ``/support inquiry show``)."""
    return [{"name": f.name, "size_text": size_text(f.size)} for f in files]


def _headers(uow: UnitOfWork, ccs: list[str], references: list[str], parent: str | None) -> dict[str, Any]:
    headers: dict[str, Any] = thread_headers(references, parent)
    if ccs:
        headers["Cc"] = ", ".join(ccs)
    headers["Reply-To"] = uow.settings.inquiry_address
    return headers


def ack_row(
    uow: UnitOfWork,
    inquiry: NewInquiry,
    ccs: list[str],
    *,
    support_id: str | None,
    name: str,
    body: str,
    parent: str | None,
    files: Sequence[AttachmentInfo] = (),
    files_refused: dict[str, Any] | None = None,
    asker_valid: bool | None = None,
) -> dict[str, Any] | None:
    """The acknowledgement's outbox row (``core.outbox.mail_values``; the caller inserts
    it): number, subject, due date, the names of the files kept or why a mail's files
    were not; Message-ID ``inquiry.thread_id``, Cc ``ccs`` (``ack_cc_addresses``); under
    the customer's mail when it was opened by mail (``parent``). Registration validated
    the asker's address; one that is not valid for automatic mail gets none (None;
    ``asker_valid``: ``may_acknowledge``'s verdict when the caller has it)."""
    if not (may_acknowledge(uow, inquiry.asker_email) if asker_valid is None else asker_valid):
        return None
    headers = _headers(uow, ccs, [], parent)
    headers.update(
        {
            "Auto-Submitted": "auto-replied" if parent else "auto-generated",
            "X-Auto-Response-Suppress": "All",
            LOOP_HEADER: uow.settings.inquiry_address,
        }
    )
    return mail_values(
        uow,
        ACK,
        [inquiry.asker_email, *ccs],
        {
            **_base_context(uow, inquiry, support_id, name),
            "body": body[:EXCERPT],
            "files": _file_lines(files),
            "attachments_note": (
                render(files_refused["message_id"], inquiry.locale, **files_refused["params"])
                if files_refused
                else ""
            ),
        },
        locale=inquiry.locale,
        headers=headers,
        message_id=inquiry.thread_id,
    )


async def queue_answer(
    uow: UnitOfWork,
    inquiry: Inquiry,
    message: InquiryMessage,
    *,
    support_id: str | None,
    name: str,
    files: Sequence[AttachmentInfo] = (),
) -> str:
    """A staff answer to the asker (Cc the CC addresses), threaded under the inquiry's
    last mail; says when the inquiry closes itself; its ``files`` go as MIME parts
    (``MIME_FILES``: by reference). Returns the mail's Message-ID."""
    earlier = (
        await uow.session.scalars(
            select(InquiryMessage.message_id)
            .where(
                InquiryMessage.inquiry_id == inquiry.id,
                InquiryMessage.kind != "note",
                InquiryMessage.message_id.is_not(None),
                InquiryMessage.id != message.id,
            )
            .order_by(InquiryMessage.id)
        )
    ).all()
    references = [inquiry.thread_id, *[m for m in earlier if m]][-20:]
    parent = references[-1]
    ccs = await cc_addresses(uow, inquiry)
    context = {
        **_base_context(uow, inquiry, support_id, name),
        "body": message.body,
        "autoclose_days": uow.settings.inquiry_autoclose_days,
        "autoclose_on": inquiry.autoclose_on.isoformat() if inquiry.autoclose_on else "",
        "files": _file_lines(files),
        MIME_FILES: [f.summary() for f in files],
    }
    row = enqueue_mail(
        uow,
        ANSWER,
        [inquiry.asker_email, *ccs],
        context,
        locale=inquiry.locale,
        headers=_headers(uow, ccs, references[:-1], parent),
    )
    return row.message_id


def staff_channel(uow: UnitOfWork, product_family: str) -> str | None:
    """Where a product's inquiries are posted: its channel, else the staff channel."""
    return uow.settings.product_channels.get(product_family) or uow.settings.staff_channel


def staff_post_row(
    uow: UnitOfWork,
    inquiry: NewInquiry,
    *,
    support_id: str | None,
    company: str,
    asker: str,
    body: str,
    attachments: list[dict[str, Any]],
    attachments_refused: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The outbox row (``core.outbox.slack_values``; the caller inserts it) of the new
    inquiry's post for staff (company, support ID, asker, due date, subject, the start
    of the body, its files: ``AttachmentInfo.summary`` entries that get signed
    links when the post is sent, or why a mail's files were not kept). Rows queued
    before files were kept carry a count in ``attachments``."""
    return slack_values(
        uow,
        STAFF_NEW,
        {
            "number": inquiry.id,
            "inquiry": format_number(inquiry.id),
            "channel": staff_channel(uow, inquiry.product_family),
            "company": company,
            "support_id": support_id or "",
            "product": inquiry.product_family,
            "asker": asker,
            "due_on": inquiry.due_on.isoformat(),
            "subject": inquiry.subject,
            "excerpt": body[:EXCERPT],
            "attachments": attachments,
            **({"attachments_refused": attachments_refused} if attachments_refused else {}),
            "status": inquiry.status,
        },
        locale=uow.settings.locale,
    )


def queue_staff_followup(
    uow: UnitOfWork,
    inquiry: Inquiry,
    *,
    author: str,
    body: str,
    kind: str,
    attachments: list[dict[str, Any]] | None = None,
    attachments_refused: dict[str, Any] | None = None,
) -> None:
    """A message of the thread (a customer follow-up, a status change) for the post's
    thread in the staff channel, with its files as in ``staff_post_row``."""
    enqueue_slack(
        uow,
        STAFF_FOLLOWUP,
        {
            "number": inquiry.id,
            "inquiry": format_number(inquiry.id),
            "channel": inquiry.slack_channel,
            "thread_ts": inquiry.slack_ts,
            "author": author,
            "kind": kind,
            "excerpt": body[:EXCERPT],
            **({"attachments": attachments} if attachments else {}),
            **({"attachments_refused": attachments_refused} if attachments_refused else {}),
            "status": inquiry.status,
        },
        locale=uow.settings.locale,
    )


async def record_slack_post(uow: UnitOfWork, number: int, channel: str, ts: str) -> None:
    """Where the inquiry's staff post landed (the outbox worker, after posting), so its
    follow-ups go into that post's thread. Committed."""
    await uow.session.execute(
        update(Inquiry).where(Inquiry.id == number).values(slack_channel=channel, slack_ts=ts)
    )
    await uow.commit()


async def slack_thread(uow: UnitOfWork, number: int) -> tuple[str | None, str | None]:
    """The inquiry's staff post, if it has been posted."""
    row = (
        await uow.session.execute(select(Inquiry.slack_channel, Inquiry.slack_ts).where(Inquiry.id == number))
    ).first()
    return (row[0], row[1]) if row else (None, None)
