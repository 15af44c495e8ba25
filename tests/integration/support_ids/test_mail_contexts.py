"""The outbox rows of support IDs carry every key their mail templates read.

The mail templates use StrictUndefined: a missing key would fail at send time, long
after the change was committed. Rendering each queued row here finds that at test time.
"""

from __future__ import annotations

import pytest

from core import support_ids, terms
from core.unit_of_work import Core

from .conftest import STAFF, World, outbox_rows


async def test_every_support_id_mail_renders_in_its_recipients_language(domain: Core, world: World) -> None:
    templates_module = pytest.importorskip("mail.templates")
    async with domain.uow() as uow:
        await support_ids.issue(uow, world.a, world.keys["kta"], "MAILS", "説明")
    async with domain.uow() as uow:
        await support_ids.add_contact(uow, world.a, "MAILS", "bob@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.add_cc(uow, world.a, "MAILS", "team@customer-a.example.jp")
    async with domain.uow() as uow:
        await support_ids.add_key(uow, STAFF, "MAILS", world.keys["k1a"])
    async with domain.uow() as uow:
        await support_ids.remove_key(uow, world.b, "MAILS", "9KPL")
    async with domain.uow() as uow:
        await terms.agree(uow, world.b, "MAILS", entitled=True)
    rows = await outbox_rows(domain)
    assert {r.template for r in rows} == {
        "support_id_issued",
        "contact_added",
        "key_added",
        "key_removed",
        "terms_agreed",
    }
    renderer = templates_module.MailTemplates(domain.settings)
    for row in rows:
        rendered = renderer.render(row.template, row.locale, row.context)
        assert "MAILS" in rendered.subject + rendered.text
        assert "SK-7Q2M" not in rendered.text
