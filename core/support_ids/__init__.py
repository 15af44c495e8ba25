"""Support IDs (SPEC §4.4): a named group of keys shared by its contacts (担当者).

Rules, and where each is enforced:

- The name (≤ 80 of ``A-Z a-z 0-9 - _``) is unique case-insensitively: ``name_key`` holds
  the lower-cased name under a UNIQUE constraint, so two sessions issuing the same name
  at once cannot both win; the loser's ``IntegrityError`` becomes
  ``support_id.name_taken``. The read before the insert only gives a quicker answer.
  (``names``; the race in ``keys.issue``.)
- A key joins at most one support ID: it is claimed with a conditional
  ``UPDATE … WHERE support_id_id IS NULL``; a claim that changes no row lost a race.
  (``keys``)
- All keys of one contract number belong to one support ID: every claim first locks the
  contract row (``SELECT … FOR UPDATE``; SQLite serialises every writer with
  ``BEGIN IMMEDIATE`` anyway), then looks for a key of that contract elsewhere. Two
  claims on one contract therefore run one after the other and the second sees the first.
  (``keys``)
- Changes to one support ID lock its row first, so two contacts removing each other at
  once cannot leave it without a contact. Lock order is always support ID, then contract.
  (``access.visible``; ``contacts``)
- Only contacts and staff see or change a support ID. Anybody else gets exactly the answer
  a non-existent name gets (``support_id.not_found``), so names cannot be probed.
  (``access``)
- A support ID is never renamed or deleted; there is no function for either.

Mutating services commit; every change is audited and its notifications are queued in
the same transaction (one outbox row per recipient, in the recipient's language).

The modules:

- ``names``: what a name and a description may be; how names compare.
- ``views``: the plain values the services answer with.
- ``access``: who may see or change a support ID; the steps every change shares.
- ``reading``: the list (``@reads``, answered from a snapshot) and the detail.
- ``keys``: issuing a support ID, adding and removing keys.
- ``contacts``: contacts, CC addresses, and the mail that tells them.

Callers use this package: ``from core import support_ids; support_ids.issue(...)``.
"""

from core.support_ids.access import acting_account, acting_account_id, visible
from core.support_ids.contacts import CC_MAX, add_cc, add_contact, notify, remove_cc, remove_contact
from core.support_ids.keys import add_key, issue, remove_key
from core.support_ids.names import DESCRIPTION_MAX, NAME_MAX, is_well_formed_name, name_key
from core.support_ids.reading import list_for_account, show
from core.support_ids.views import ContactView, KeyView, SupportIdDetail, SupportIdSummary

__all__ = [
    "CC_MAX",
    "DESCRIPTION_MAX",
    "NAME_MAX",
    "ContactView",
    "KeyView",
    "SupportIdDetail",
    "SupportIdSummary",
    "acting_account",
    "acting_account_id",
    "add_cc",
    "add_contact",
    "add_key",
    "is_well_formed_name",
    "issue",
    "list_for_account",
    "name_key",
    "notify",
    "remove_cc",
    "remove_contact",
    "remove_key",
    "show",
    "visible",
]
