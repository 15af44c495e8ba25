"""Opening an inquiry (SPEC §4.8): who may, about what, what it stores and queues, and
that every refusal names its field, says what to do, and stores nothing."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import select

from core import attachments, inquiries
from core.activation import AccountPending
from core.actors import Actor
from core.attachments import NewFile, Unread
from core.attachments.tables import Attachment
from core.errors import Forbidden, ValidationFailed
from core.inquiries.tables import Inquiry, InquiryMessage
from core.messages import render
from core.unit_of_work import Core
from mail.templates import MailTemplates
from tests.integration.inquiries.conftest import World, actions, at, count, counts, inquiry, outbox

MIB = 1024 * 1024


async def _open(core: Core, actor: Actor, **fields: object) -> inquiries.Opened:
    values: dict[str, object] = {
        "support_id": "ACME_A",
        "product": "製品Aファミリ",
        "subject": "帳票出力でエラーになる",
        "body": "印刷ボタンを押すとエラーになります。",
    }
    values.update(fields)
    async with core.uow() as uow:
        return await inquiries.open_inquiry(uow, actor, **values)  # type: ignore[arg-type]


async def test_a_contact_opens_an_inquiry_numbered_and_due_in_three_business_days(
    domain: Core, world: World
) -> None:
    opened = await _open(domain, world.a)
    assert opened.label == "INQ-000001"
    # Thursday 26 Nov 10:00 JST + 3 business days: Tuesday 1 Dec.
    assert opened.due_on == date(2026, 12, 1)
    row = await inquiry(domain, opened.number)
    assert (row.status, row.product_family, row.asker_email) == (
        "new",
        "製品Aファミリ",
        "alice@customer-a.example.jp",
    )
    assert await actions(domain) == ["inquiry.opened"]


async def test_numbers_follow_each_other_and_are_never_reused(domain: Core, world: World) -> None:
    first = await _open(domain, world.a)
    second = await _open(domain, world.b, subject="二件目")
    assert (first.label, second.label) == ("INQ-000001", "INQ-000002")


async def test_after_the_cutoff_the_due_date_counts_from_the_next_business_day(
    domain: Core, world: World, clock: object
) -> None:
    clock.set(at("2026-11-26T17:45"))  # type: ignore[attr-defined]
    opened = await _open(domain, world.a)
    assert opened.due_on == date(2026, 12, 2)


async def test_the_acknowledgement_goes_to_the_asker_with_the_cc_addresses_in_cc_threaded(
    domain: Core, world: World
) -> None:
    opened = await _open(domain, world.a)
    [ack] = await outbox(domain, "inquiry_ack")
    row = await inquiry(domain, opened.number)
    assert ack.recipients == ["alice@customer-a.example.jp", "cc@customer-a.example.jp"]
    assert ack.headers["Cc"] == "cc@customer-a.example.jp"
    assert ack.headers["Reply-To"] == domain.settings.inquiry_address
    assert ack.message_id == row.thread_id
    assert ack.context["inquiry"] == "INQ-000001" and ack.context["tag"] == "[INQ-000001]"
    assert ack.context["due_on"] == "2026-12-01"
    rendered = MailTemplates(domain.settings).render("inquiry_ack", "ja", ack.context)
    assert "回答予定日：2026年12月1日（火）" in rendered.text and "2026-12-01" not in rendered.text


async def test_the_staff_post_goes_to_the_products_channel_or_the_staff_channel(
    domain: Core, world: World
) -> None:
    domain.settings.product_channels["製品Aファミリ"] = "CPRODA"
    try:
        await _open(domain, world.a)
        await _open(domain, world.a, product="その他")
    finally:
        domain.settings.product_channels.clear()
    posts = await outbox(domain, "inquiry_new")
    assert [p.context["channel"] for p in posts] == ["CPRODA", "CSTAFF"]
    first = posts[0].context
    assert (first["company"], first["support_id"], first["asker"]) == ("顧客A", "ACME_A", "山田 太郎")
    assert first["due_on"] == "2026-12-01" and first["subject"] == "帳票出力でエラーになる"


async def test_the_product_other_is_allowed_with_or_without_a_support_id(domain: Core, world: World) -> None:
    with_id = await _open(domain, world.a, product="その他")
    without = await _open(domain, world.c, support_id=None, product="その他")
    assert (await inquiry(domain, with_id.number)).support_id_id is not None
    assert (await inquiry(domain, without.number)).support_id_id is None
    [_, ack] = await outbox(domain, "inquiry_ack")
    assert ack.recipients == ["carol@customer-q.example.jp"] and "Cc" not in ack.headers


async def test_the_product_choice_follows_the_support_id(domain: Core, world: World) -> None:
    async with domain.uow() as uow:
        assert await inquiries.products_for(uow, world.a, "ACME_A") == ("製品Aファミリ", "その他")
        assert await inquiries.products_for(uow, world.a, "QUUX_Q") == ("その他",)
        assert await inquiries.products_for(uow, world.a, None) == ("その他",)


@pytest.mark.parametrize(
    ("fields", "field", "message_id"),
    [
        ({"support_id": "NO_SUCH_ID"}, "support_id", "inquiry.support_id_not_found"),
        ({"support_id": "QUUX_Q", "product": "製品Bファミリ"}, "support_id", "inquiry.support_id_not_found"),
        ({"support_id": None}, "support_id", "inquiry.support_id_required"),
        ({"product": "製品Cファミリ"}, "product", "inquiry.contract_ended"),
        ({"product": "製品Bファミリ"}, "product", "inquiry.product_not_in_support_id"),
        ({"product": ""}, "product", "inquiry.product_required"),
        ({"subject": "  "}, "subject", "inquiry.subject_required"),
        ({"subject": "件" * 201}, "subject", "inquiry.subject_too_long"),
        ({"body": "\n \n"}, "body", "inquiry.body_required"),
        ({"body": "あ" * 20_001}, "body", "inquiry.body_too_long"),
        ({"attachments": [NewFile("a.txt", b"a")] * 11}, "attachments", "attachments.too_many"),
        ({"attachments": [NewFile("big.pdf", bytes(10 * MIB + 1))]}, "attachments", "attachments.too_large"),
        ({"attachments": [Unread("huge.zip", 50 * MIB)]}, "attachments", "attachments.too_large"),
    ],
    ids=[
        "unknown-id",
        "not-a-contact",
        "no-id",
        "ended",
        "not-in-id",
        "no-product",
        "empty-subject",
        "long-subject",
        "empty-body",
        "long-body",
        "too-many-files",
        "too-large-file",
        "unread-file",
    ],
)
async def test_a_bad_input_names_its_field_says_what_to_do_and_stores_nothing(
    domain: Core, world: World, fields: dict[str, object], field: str, message_id: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await _open(domain, world.a, **fields)
    assert caught.value.fields == {field: message_id}
    for locale in ("ja", "en"):
        assert render(message_id, locale, **caught.value.params)
    assert await counts(domain) == (0, 0, 0)
    assert await count(domain, Attachment) == 0


async def test_an_unknown_support_id_and_one_of_somebody_else_read_the_same(
    domain: Core, world: World
) -> None:
    texts = []
    for name in ("QUUX_Q", "QUUX_X"):
        with pytest.raises(ValidationFailed) as caught:
            await _open(domain, world.a, support_id=name, product="その他")
        texts.append(
            render(caught.value.fields["support_id"], "ja", **caught.value.params).replace(name, "…")
        )
    assert texts[0] == texts[1]


async def test_exact_limits_are_accepted(domain: Core, world: World) -> None:
    opened = await _open(domain, world.a, subject="件" * 200, body="あ" * 20_000)
    assert len((await inquiry(domain, opened.number)).subject) == 200


async def test_a_pending_account_is_told_to_use_its_link_first(domain: Core, world: World) -> None:
    with pytest.raises(AccountPending) as caught:
        await _open(domain, world.d)
    assert caught.value.message_id == "accounts.pending"
    assert await counts(domain) == (0, 0, 0)


@pytest.mark.parametrize("kind", ["anonymous", "disabled", "staff"])
async def test_without_an_active_account_nobody_opens_one(domain: Core, world: World, kind: str) -> None:
    if kind == "disabled":
        async with domain.uow() as uow:
            account = await uow.session.get(type(world.alice), world.alice.id)
            assert account is not None
            account.status = "disabled"
            await uow.commit()
        actor = world.a
    elif kind == "staff":
        actor = Actor(kind="staff", ref="slack:T1:USTAFF1", door="slack")
    else:
        actor = Actor(kind="anonymous", ref="slack:T1:UNOBODY", door="slack")
    with pytest.raises(Forbidden) as caught:
        await _open(domain, actor)
    assert caught.value.message_id == "inquiry.account_required"
    assert await counts(domain) == (0, 0, 0)


async def test_attachments_are_kept_with_the_first_message_and_listed_for_staff(
    domain: Core, world: World
) -> None:
    pdf = b"%PDF-1.5\n" + bytes(3000)
    opened = await _open(
        domain, world.a, attachments=[NewFile("../見積書.pdf", pdf), NewFile("a.txt", b"hi")]
    )
    assert await actions(domain) == ["inquiry.attachments_received", "inquiry.opened"]
    async with domain.uow() as uow:
        message_id = await uow.session.scalar(select(InquiryMessage.id))
        kept = await attachments.for_owner(uow, "inquiry_message", int(message_id or 0))
    assert [(f.name, f.content_type, f.size) for f in kept] == [
        ("見積書.pdf", "application/pdf", len(pdf)),
        ("a.txt", "application/octet-stream", 2),
    ]
    [post] = await outbox(domain, "inquiry_new")
    assert post.context["attachments"] == [f.summary() for f in kept]
    [ack] = await outbox(domain, "inquiry_ack")
    # The acknowledgement names the files (no link: it goes to the CC addresses too).
    assert ack.context["files"] == [
        {"name": "見積書.pdf", "size_text": "2.9 KiB"},
        {"name": "a.txt", "size_text": "2 B"},
    ]
    async with domain.uow() as uow:
        shown = await inquiries.show(uow, world.b, opened.number)
    assert [f.name for f in shown.messages[0].files] == ["見積書.pdf", "a.txt"]
    assert all(f.url.startswith("http") and "/files/" in f.url for f in shown.messages[0].files)


async def test_an_inquiry_by_mail_is_acknowledged_under_the_customers_mail(
    domain: Core, world: World
) -> None:
    actor = Actor(
        kind="account", ref="mail:alice@customer-a.example.jp", door="mail", account_id=world.alice.id
    )
    await _open(domain, actor, message_id="<q1@customer-a.example.jp>")
    [ack] = await outbox(domain, "inquiry_ack")
    assert ack.headers["In-Reply-To"] == "<q1@customer-a.example.jp>"
    assert ack.headers["Auto-Submitted"] == "auto-replied"
    async with domain.uow() as uow:
        row = await uow.session.get(Inquiry, 1)
        assert row is not None


async def test_inquiries_opened_at_the_same_moment_get_different_numbers(domain: Core, world: World) -> None:
    """Each in its own transaction, at once (PostgreSQL runs them side by side)."""
    opened = await asyncio.gather(
        *(_open(domain, actor, subject=f"同時{n}") for n, actor in enumerate([world.a, world.b] * 4))
    )
    numbers = sorted(o.number for o in opened)
    assert numbers == list(range(1, 9))
