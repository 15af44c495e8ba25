"""Inquiries by mail, through real SMTP on loopback into our server (SPEC §4.8 "Mail"):
the plus-addressed and the sole-support-ID cases open an inquiry; replies thread in by
our Message-IDs, then by the ``[INQ-…]`` tag, only from the asker or a contact; anything
undecidable becomes a contact-window request whose acknowledgement says how to address
an inquiry; automatic mail never opens or reopens one."""

from __future__ import annotations

import smtplib
from collections.abc import AsyncIterator
from email import message_from_bytes

import pytest
from sqlalchemy import event, select

from core import inquiries
from core.business_days import calendar_for
from core.inquiries.by_mail import Known
from core.inquiries.tables import Inquiry, InquiryMessage
from core.models import Company, Request, SupportId, SupportKey
from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests import factories
from tests.integration.inquiries.conftest import STAFF, World, actions, count, inquiry, outbox
from tests.integration.mail.conftest import make_mail, send

INQUIRY = "inquiry@support.example.com"


@pytest.fixture
async def smtp(domain: Core) -> AsyncIterator[SMTPServer]:
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False, max_sessions=5, max_recipients=3)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def mail_in(smtp: SMTPServer, sender: str, to: str = INQUIRY, **fields: str) -> None:
    raw = make_mail(sender=sender, **fields)
    await send(smtp.port, raw, mail_from=sender, to=[to])
    await smtp.processor.run_once()


async def only_inquiry(core: Core) -> Inquiry:
    async with core.uow() as uow:
        [found] = (await uow.session.scalars(select(Inquiry))).all()
        return found


async def requests(core: Core) -> list[Request]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(Request).order_by(Request.number))).all())


async def test_a_plus_addressed_mail_opens_an_inquiry_for_that_support_id(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    await mail_in(
        smtp,
        "alice@customer-a.example.jp",
        to="inquiry+ACME_A@support.example.com",
        subject="帳票が印刷できない",
        body="帳票出力でエラーになります。",
        message_id="<m1@customer-a.example.jp>",
    )
    found = await only_inquiry(domain)
    assert (found.product_family, found.subject, found.status) == (
        "製品Aファミリ",
        "帳票が印刷できない",
        "new",
    )
    assert found.asker_account_id == world.alice.id
    [ack] = await outbox(domain, "inquiry_ack")
    assert "alice@customer-a.example.jp" in ack.recipients
    assert "cc@customer-a.example.jp" in ack.recipients
    assert ack.headers["In-Reply-To"] == "<m1@customer-a.example.jp>"
    assert await requests(domain) == []


async def test_the_senders_only_support_id_is_taken_without_a_plus_address(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    await mail_in(smtp, "alice@customer-a.example.jp", subject="質問", body="使い方を教えてください。")
    found = await only_inquiry(domain)
    assert found.product_family == "製品Aファミリ"
    assert await requests(domain) == []


async def test_a_reply_to_our_mail_from_a_colleague_threads_in_and_reopens(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    await mail_in(smtp, "alice@customer-a.example.jp", subject="質問", body="最初の質問です。")
    found = await only_inquiry(domain)
    async with domain.uow() as uow:
        await inquiries.answer(uow, STAFF, found.id, "回答です。")
    [answer] = await outbox(domain, "inquiry_answer")
    await mail_in(
        smtp,
        "bob@customer-a.example.jp",
        subject=f"Re: [INQ-{found.id:06d}] 質問",
        body="同僚から追加の質問です。",
        In_Reply_To=answer.message_id,
    )
    again = await inquiry(domain, found.id)
    assert again.status == "in_progress"
    async with domain.uow() as uow:
        bodies = (
            await uow.session.scalars(
                select(InquiryMessage.body).where(
                    InquiryMessage.inquiry_id == found.id, InquiryMessage.kind == "customer"
                )
            )
        ).all()
    assert any("同僚から追加の質問です。" in b for b in bodies)
    assert await requests(domain) == []


async def test_a_strangers_mail_with_a_valid_tag_and_reference_is_never_attached(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    await mail_in(smtp, "alice@customer-a.example.jp", subject="質問", body="最初の質問です。")
    found = await only_inquiry(domain)
    [ack] = await outbox(domain, "inquiry_ack")
    before = await count(domain, InquiryMessage)
    await mail_in(
        smtp,
        "carol@customer-q.example.jp",
        subject=f"Re: [INQ-{found.id:06d}] 質問",
        body="割り込みです。",
        In_Reply_To=ack.message_id,
    )
    assert await count(domain, InquiryMessage) == before
    assert (await inquiry(domain, found.id)).status == "new"
    [request] = await requests(domain)
    assert request.sender == "carol@customer-q.example.jp"
    # Its acknowledgement explains how to address an inquiry, and names no inquiry.
    [request_ack] = await outbox(domain, "request_ack")
    assert request_ack.context["inquiry_hint"] is True
    assert request_ack.recipients == ["carol@customer-q.example.jp"]


async def test_a_tag_alone_threads_only_from_the_asker_or_a_contact(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    await mail_in(smtp, "alice@customer-a.example.jp", subject="質問", body="最初の質問です。")
    found = await only_inquiry(domain)
    await mail_in(
        smtp,
        "alice@customer-a.example.jp",
        subject=f"[INQ-{found.id:06d}] 追記",
        body="タグだけの追記です。",
    )
    assert await count(domain, InquiryMessage) == 2
    await mail_in(
        smtp, "carol@customer-q.example.jp", subject=f"[INQ-{found.id:06d}] 追記", body="他社からです。"
    )
    assert await count(domain, InquiryMessage) == 2
    assert len(await requests(domain)) == 1


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        ("stranger@elsewhere.example", INQUIRY),  # no account
        ("dave@customer-a.example.jp", INQUIRY),  # pending account
        ("carol@customer-q.example.jp", "inquiry+ACME_A@support.example.com"),  # not her support ID
        ("alice@customer-a.example.jp", "inquiry+NO_SUCH@support.example.com"),  # unknown support ID
    ],
)
async def test_an_undecidable_mail_becomes_a_request_whose_ack_explains_inquiries(
    domain: Core, world: World, smtp: SMTPServer, sender: str, to: str
) -> None:
    await mail_in(smtp, sender, to=to, subject="質問", body="製品について教えてください。")
    assert await count(domain, Inquiry) == 0
    [request] = await requests(domain)
    assert request.sender == sender
    [ack] = await outbox(domain, "request_ack")
    assert ack.recipients == [sender]
    assert ack.context["inquiry_hint"] is True
    assert ack.context["inquiry_address"] == INQUIRY


async def test_an_automatic_reply_neither_opens_nor_reopens_an_inquiry(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    await mail_in(smtp, "alice@customer-a.example.jp", subject="質問", body="最初の質問です。")
    found = await only_inquiry(domain)
    async with domain.uow() as uow:
        await inquiries.answer(uow, STAFF, found.id, "回答です。")
    [answer] = await outbox(domain, "inquiry_answer")
    await mail_in(
        smtp,
        "alice@customer-a.example.jp",
        subject="不在のお知らせ",
        body="12月10日まで不在です。",
        In_Reply_To=answer.message_id,
        Auto_Submitted="auto-replied",
    )
    assert (await inquiry(domain, found.id)).status == "answered"
    assert await count(domain, Inquiry) == 1
    assert await outbox(domain, "request_ack") == []


async def test_the_same_message_twice_is_one_message(domain: Core, world: World, smtp: SMTPServer) -> None:
    for hop in ("first", "second"):
        await mail_in(
            smtp,
            "alice@customer-a.example.jp",
            subject="質問",
            body=f"同じメールです。（{hop}）",
            message_id="<same@customer-a.example.jp>",
        )
    assert await count(domain, Inquiry) == 1
    assert await count(domain, InquiryMessage) == 1
    assert await requests(domain) == []


async def test_rcpt_takes_the_inquiry_address_and_plus_addresses_only(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    raw = make_mail(sender="alice@customer-a.example.jp")
    await send(
        smtp.port, raw, mail_from="alice@customer-a.example.jp", to=["inquiry+ACME_A@support.example.com"]
    )
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await send(
            smtp.port, raw, mail_from="alice@customer-a.example.jp", to=["inquiry+a/b@support.example.com"]
        )
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await send(
            smtp.port, raw, mail_from="alice@customer-a.example.jp", to=["inquiryx@support.example.com"]
        )


async def test_with_two_products_in_force_the_product_is_left_to_staff(
    domain: Core, world: World, smtp: SMTPServer
) -> None:
    async with domain.uow() as uow:
        sid = await uow.session.scalar(select(SupportId.id).where(SupportId.name == "ACME_A"))
        company = await uow.session.get(Company, world.alice.company_id)
        assert company is not None
        second = await factories.contract(uow, company, number="K-0003", product_family="製品Bファミリ")
        await factories.key(uow, second)
        await uow.session.flush()
        await uow.session.execute(
            SupportKey.__table__.update().where(SupportKey.contract_id == second.id).values(support_id_id=sid)  # type: ignore[attr-defined]
        )
        await uow.commit()
    await mail_in(smtp, "alice@customer-a.example.jp", subject="質問", body="どちらの製品か未定です。")
    assert (await only_inquiry(domain)).product_family == inquiries.OTHER_PRODUCT


async def test_a_batch_of_inquiry_mails_opens_each_as_one_mail_at_a_time_would(
    domain: Core, world: World, smtp: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Intake stores a batch's new inquiries together (``by_mail.Known.open_pending``):
    each gets what opening it alone gives — numbers in the mails' order, its support
    ID, product, due date, acknowledgement with Cc, staff post and audit row — an
    invalid one still becomes a request, and a reply in the same batch to a mail that
    just opened an inquiry continues it."""
    first = "<batch-1@customer-a.example.jp>"
    mails = [
        (
            "alice@customer-a.example.jp",
            "inquiry+ACME_A@support.example.com",
            "帳票の件",
            {"message_id": first},
        ),
        ("carol@customer-q.example.jp", INQUIRY, "QUUXの件", {}),  # her only support ID
        ("carol@customer-q.example.jp", "inquiry+ACME_A@support.example.com", "他社の件", {}),  # not hers
        ("bob@customer-a.example.jp", INQUIRY, "Question", {}),
        ("alice@customer-a.example.jp", INQUIRY, "Re: 帳票の件", {"In_Reply_To": first}),
        ("alice@customer-a.example.jp", INQUIRY, "別件", {}),
    ]
    ids: list[str] = []
    for n, (sender, to, subject, headers) in enumerate(mails):
        raw = make_mail(sender=sender, subject=subject, body=f"本文{n}です。", **headers)
        ids.append(str(message_from_bytes(raw)["Message-ID"]))
        await send(smtp.port, raw, mail_from=sender, to=[to])
    engine = domain.sessions.kw["bind"]
    statements: list[str] = []

    def capture(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        outcomes = await smtp.processor.run_once()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    assert "one at a time" not in caplog.text  # processed as one batch
    assert [o.kind for o in outcomes] == [
        "inquiry_opened",
        "inquiry_opened",
        "request",
        "inquiry_opened",
        "inquiry_followup",
        "inquiry_opened",
    ]
    opened = [o.inquiry for o in outcomes if o.kind == "inquiry_opened"]
    assert all(isinstance(n, int) for n in opened) and opened == sorted(opened) and len(set(opened)) == 4
    assert outcomes[4].inquiry == opened[0]
    # Three opened before the reply (it answers one of them), the last at the end.
    assert sum(s.lstrip().upper().startswith("INSERT INTO INQUIRIES ") for s in statements) == 2

    async with domain.uow() as uow:
        sids = dict((await uow.session.execute(select(SupportId.id, SupportId.name))).all())
        found = {i.id: i for i in (await uow.session.scalars(select(Inquiry))).all()}
        messages = (
            await uow.session.execute(
                select(InquiryMessage.inquiry_id, InquiryMessage.body, InquiryMessage.message_id).order_by(
                    InquiryMessage.id
                )
            )
        ).all()
    due = calendar_for(domain.settings).answer_due(domain.clock.now(), domain.settings.answer_business_days)
    expected = [
        (world.alice.id, "ACME_A", "製品Aファミリ", "帳票の件", "ja"),
        (world.carol.id, "QUUX_Q", "製品Bファミリ", "QUUXの件", "ja"),
        (world.bob.id, "ACME_A", "製品Aファミリ", "Question", "en"),
        (world.alice.id, "ACME_A", "製品Aファミリ", "別件", "ja"),
    ]
    assert [
        (
            found[n].asker_account_id,
            sids[found[n].support_id_id],
            found[n].product_family,
            found[n].subject,
            found[n].locale,
        )
        for n in opened
    ] == expected
    assert {(found[n].status, found[n].due_on) for n in opened} == {("new", due)}
    assert [(m[0], m[1].strip(), m[2]) for m in messages] == [
        (opened[0], "本文0です。", ids[0]),
        (opened[1], "本文1です。", ids[1]),
        (opened[2], "本文3です。", ids[3]),
        (opened[0], "本文4です。", ids[4]),
        (opened[3], "本文5です。", ids[5]),
    ]

    acks = await outbox(domain, "inquiry_ack")
    cc = "cc@customer-a.example.jp"
    assert [(a.context["inquiry"], a.recipients, a.headers["In-Reply-To"], a.message_id) for a in acks] == [
        (f"INQ-{opened[0]:06d}", ["alice@customer-a.example.jp", cc], ids[0], found[opened[0]].thread_id),
        (f"INQ-{opened[1]:06d}", ["carol@customer-q.example.jp"], ids[1], found[opened[1]].thread_id),
        (f"INQ-{opened[2]:06d}", ["bob@customer-a.example.jp", cc], ids[3], found[opened[2]].thread_id),
        (f"INQ-{opened[3]:06d}", ["alice@customer-a.example.jp", cc], ids[5], found[opened[3]].thread_id),
    ]
    assert [a.headers["Cc"] for a in acks if a.context["inquiry"] != f"INQ-{opened[1]:06d}"] == [cc] * 3
    assert [a.locale for a in acks] == ["ja", "ja", "en", "ja"]
    posts = await outbox(domain, "inquiry_new")
    assert [(p.context["number"], p.context["company"], p.context["due_on"]) for p in posts] == [
        (opened[0], "顧客A", due.isoformat()),
        (opened[1], "顧客Q", due.isoformat()),
        (opened[2], "顧客A", due.isoformat()),
        (opened[3], "顧客A", due.isoformat()),
    ]
    [followup] = await outbox(domain, "inquiry_followup")
    assert followup.context["number"] == opened[0]
    assert sorted(await actions(domain)) == ["inquiry.customer_message"] + ["inquiry.opened"] * 4
    [request] = await requests(domain)
    assert (request.sender, request.subject) == ("carol@customer-q.example.jp", "他社の件")
    [request_ack] = await outbox(domain, "request_ack")
    assert request_ack.context["inquiry_hint"] is True


async def test_what_the_batch_did_not_foresee_is_read_when_asked(domain: Core, world: World) -> None:
    """The batch's start reads askers and support IDs for the mails it expects to open
    inquiries; anything else is read when opening asks, with the same answers."""
    async with domain.uow() as uow:
        known = Known()
        found, about = await known.asker_about(uow, world.alice.id, "acme_a ")
        assert found is not None and found[0] == world.alice.id
        assert about is not None and about.name == "ACME_A" and "製品Aファミリ" in about.in_force
        _found, not_hers = await known.asker_about(uow, world.carol.id, "ACME_A")
        assert not_hers is None  # Carol is no contact of ACME_A: refused alike unknown
        assert (world.alice.id, "acme_a") in known.read
