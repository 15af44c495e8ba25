"""Staff register a customer the wizard could not (SPEC §4.11 ``account create``): the
company the registration search could not find is chosen by staff, the customer's
details are the wizard's step 3 with the wizard's own checks (``core.contact_details``),
and the account is made and mailed by ``core.accounts.create_account`` — one path for
both, so a staff-made account is pending until its owner sets a password like any other.

The staff member's own Slack user is never linked to the new account (the account is
the customer's; they link their Slack user with ``/support link``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from core import accounts, audit, companies, contact_details, staff
from core.actors import Actor
from core.config import SUPPORTED_LOCALES
from core.errors import Conflict, ValidationFailed
from core.models import Company
from core.registration import CompanyView
from core.unit_of_work import UnitOfWork

COMPANY_REQUIRED = "privacy.create.company_required"


@dataclass(frozen=True)
class Created:
    account: accounts.AccountView
    company: str


CHOICES_LIMIT = 20


async def company_choices(uow: UnitOfWork, actor: Actor, text: str) -> list[CompanyView]:
    """The registration's company search (partial name, width- and case-insensitive), for
    the staff modal's company menu."""
    staff.require_staff(actor)
    name = contact_details.clean_text(text)
    if not name:
        return []
    return [CompanyView.of(c) for c in await companies.search(uow, name, "", CHOICES_LIMIT)]


def _company_id(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


async def create_for_customer(
    uow: UnitOfWork, actor: Actor, company_id: object, values: Mapping[str, object], locale: str = ""
) -> Created:
    """A pending account for the customer, the notification mail queued, audited.

    Bad input (no company, any field the wizard would refuse, an address in use) raises
    one ``ValidationFailed`` naming every wrong field, and nothing is stored."""
    await staff.admit(uow, actor, "account create")
    errors: dict[str, str] = {}
    wanted = _company_id(company_id)
    company = await uow.session.get(Company, wanted) if wanted is not None else None
    if company is None:
        errors["company"] = COMPANY_REQUIRED
    try:
        details = contact_details.validate(values)
    except ValidationFailed as refused:
        errors.update(refused.fields)
    else:
        if await accounts.email_taken(uow, details.email):
            errors["email"] = contact_details.EMAIL_TAKEN
    if errors or company is None:
        raise ValidationFailed(fields=errors)
    if locale not in SUPPORTED_LOCALES:
        locale = uow.settings.locale
    # The account is the customer's: never linked to the Slack user of the staff member.
    on_behalf = dataclasses.replace(actor, slack_user=None)
    try:
        account = await accounts.create_account(uow, on_behalf, details, company.id, locale)
    except Conflict as taken:  # registered meanwhile by a racing request
        await uow.rollback()
        raise ValidationFailed(fields={"email": contact_details.EMAIL_TAKEN}) from taken
    audit.record(uow, actor, "account.created_by_staff", account_id=account.id, company_id=company.id)
    await uow.commit()
    return Created(account, company.name)
