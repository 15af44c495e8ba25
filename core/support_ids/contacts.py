"""The people of a support ID: its contacts (担当者) and its CC addresses, and the mail
that tells them of its news.

Separate because these rules are about people, not keys: a contact is a registered
account (an address without one waits in ``pending_contacts``, filled by the import);
the last contact stays, so a support ID is never left without one (changes lock the
support ID's row first, so two contacts removing each other at once cannot both win);
a CC address is any valid address but the service's own, at most ``CC_MAX`` of them.
``notify`` is here because its recipients are exactly these people.
"""

from __future__ import annotations

import unicodedata
from typing import Any, cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CursorResult, delete, select

from core import audit, outbox
from core.actors import Actor
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Account, PendingContact, SupportId, SupportIdCc, SupportIdContact
from core.support_ids.access import acting_account, commit_or, contacts_of, is_contact, visible
from core.support_ids.views import ContactView, actor_name, display_name
from core.unit_of_work import UnitOfWork

CC_MAX = 20


def _normalise_email(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


async def notify(
    uow: UnitOfWork, support_id: SupportId, template: str, context: dict[str, Any], by: Account | None
) -> None:
    """Queue one mail per contact (in their language, greeted by name) and per CC address
    (default language): copies of the support ID's news (SPEC §4.4 CC addresses).

    Context keys follow the mail templates' contract (API.md, mail): ``support_id``,
    ``name`` (recipient), ``by`` (who did it; staff are named by their role).
    """
    recipients: dict[str, tuple[str, str]] = {}
    for account in await contacts_of(uow, support_id.id):
        if account.status != "disabled":
            recipients.setdefault(account.email, (account.locale, display_name(account)))
    ccs = await uow.session.scalars(
        select(SupportIdCc.email).where(SupportIdCc.support_id_id == support_id.id).order_by(SupportIdCc.id)
    )
    for email in ccs:
        recipients.setdefault(email, (uow.settings.locale, ""))
    for email, (locale, name) in recipients.items():
        full = {
            "support_id": support_id.name,
            "description": support_id.description,
            "name": name,
            "by": actor_name(by, locale),
            **context,
        }
        outbox.enqueue_mail(uow, template, [email], full, locale=locale)


async def add_contact(uow: UnitOfWork, actor: Actor, name: str, email: str) -> ContactView:
    """Add a registered account as a contact; the added person is told by mail."""
    account = await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _normalise_email(email)
    added = await uow.session.scalar(select(Account).where(Account.email == address))
    if added is None or added.status == "disabled":
        raise NotFound("support_id.contact_unknown", email=address)
    exists_already = Conflict("support_id.contact_exists", support_id=sid.name, email=address)
    if await is_contact(uow, sid.id, added.id):
        raise exists_already
    uow.session.add(SupportIdContact(support_id_id=sid.id, account_id=added.id, added_at=uow.clock.now()))
    await uow.session.execute(
        delete(PendingContact).where(PendingContact.support_id_id == sid.id, PendingContact.email == address)
    )
    audit.record(uow, actor, "support_id.contact_added", support_id_id=sid.id, contact_account_id=added.id)
    outbox.enqueue_mail(
        uow,
        "contact_added",
        [added.email],
        {
            "support_id": sid.name,
            "description": sid.description,
            "name": display_name(added),
            "added_by": actor_name(account, added.locale),
        },
        locale=added.locale,
    )
    await commit_or(uow, exists_already)
    return ContactView(account_id=added.id, email=added.email, display_name=display_name(added))


async def remove_contact(uow: UnitOfWork, actor: Actor, name: str, email: str) -> ContactView:
    """Remove a contact (oneself included); the last contact stays."""
    await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _normalise_email(email)
    contacts = await contacts_of(uow, sid.id)
    target = next((c for c in contacts if c.email == address), None)
    if target is None:
        raise NotFound("support_id.contact_not_found", support_id=sid.name, email=address)
    if len(contacts) == 1:
        raise Conflict("support_id.last_contact", support_id=sid.name)
    await uow.session.execute(
        delete(SupportIdContact).where(
            SupportIdContact.support_id_id == sid.id, SupportIdContact.account_id == target.id
        )
    )
    audit.record(uow, actor, "support_id.contact_removed", support_id_id=sid.id, contact_account_id=target.id)
    await uow.commit()
    return ContactView(account_id=target.id, email=target.email, display_name=display_name(target))


def _validate_cc(uow: UnitOfWork, raw: str) -> str:
    text = raw.strip()
    invalid = ValidationFailed({"email": "support_id.cc_invalid"})
    if not text or any(ch in text for ch in "\r\n\0,;<>"):
        raise invalid
    try:
        parsed = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise invalid from None
    address = parsed.normalized.lower()
    ours = {uow.settings.contact_address.lower(), uow.settings.mail_from.lower()}
    if address in ours or len(address) > 254:
        raise invalid
    return address


async def add_cc(uow: UnitOfWork, actor: Actor, name: str, email: str) -> str:
    """Add an address that receives copies of the support ID's notifications."""
    await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _validate_cc(uow, email)
    current = list(
        (
            await uow.session.scalars(select(SupportIdCc.email).where(SupportIdCc.support_id_id == sid.id))
        ).all()
    )
    exists_already = Conflict("support_id.cc_exists", support_id=sid.name, email=address)
    if address in current:
        raise exists_already
    if len(current) >= CC_MAX:
        raise Conflict("support_id.cc_too_many", support_id=sid.name, max=CC_MAX)
    uow.session.add(SupportIdCc(support_id_id=sid.id, email=address))
    audit.record(uow, actor, "support_id.cc_added", support_id_id=sid.id, email=address)
    await commit_or(uow, exists_already)
    return address


async def remove_cc(uow: UnitOfWork, actor: Actor, name: str, email: str) -> str:
    await acting_account(uow, actor)
    sid = await visible(uow, actor, name, lock=True)
    address = _normalise_email(email)
    result = await uow.session.execute(
        delete(SupportIdCc).where(SupportIdCc.support_id_id == sid.id, SupportIdCc.email == address)
    )
    if cast(CursorResult[Any], result).rowcount == 0:
        raise NotFound("support_id.cc_not_found", support_id=sid.name, email=address)
    audit.record(uow, actor, "support_id.cc_removed", support_id_id=sid.id, email=address)
    await uow.commit()
    return address
