"""Two people sharing a company and a support ID, and something of every kind about each:
contacts, a pending contact, a CC address, requests with their mail, inquiries in one
thread, outbox mail, throttles, Slack users, audit rows (tests of account export/erase)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core import accounts
from core.actors import Actor
from core.inquiries.tables import Inquiry, InquiryMessage
from core.models import (
    InboundMail,
    MailAck,
    MailAddressState,
    PendingContact,
    RequestMessage,
    SlackUser,
    SupportId,
    SupportIdCc,
    SupportIdContact,
    TermsAgreement,
    ThrottleFailure,
)
from core.outbox import enqueue_mail, enqueue_slack
from core.unit_of_work import Core
from tests import factories


@dataclass(frozen=True)
class Someone:
    email: str
    last_name: str
    first_name: str
    last_name_kana: str
    first_name_kana: str
    phone: str

    @property
    def values(self) -> tuple[str, ...]:
        digits = self.phone.replace("-", "")
        return (
            self.email,
            self.last_name,
            self.first_name,
            self.last_name_kana,
            self.first_name_kana,
            self.phone,
            digits,
        )


TARO = Someone("taro.yamada@customer-a.example.jp", "山田", "太郎", "ヤマダ", "タロウ", "03-1111-2222")
HANAKO = Someone("hanako.sato@customer-a.example.jp", "佐藤", "花子", "サトウ", "ハナコ", "03-3333-4444")
SYSTEM = Actor(kind="system", ref="cli", door="cli")


async def seed(core: Core) -> tuple[int, int]:
    """Returns the account ids of TARO and HANAKO."""
    async with core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        ids = []
        for who, user in ((TARO, "UTARO"), (HANAKO, "UHANAKO")):
            details = factories.details(
                who.email,
                last_name=who.last_name,
                first_name=who.first_name,
                last_name_kana=who.last_name_kana,
                first_name_kana=who.first_name_kana,
                phone=who.phone,
            )
            created = await accounts.create_account(
                uow, SYSTEM, details, company.id, "ja", slack_team_id="T1", slack_user_id=user
            )
            ids.append(created.id)
            uow.session.add(SlackUser(team_id="T1", user_id=user, locale="ja", updated_at=uow.clock.now()))
        taro, hanako = ids
        now = uow.clock.now()
        shared = SupportId(name="基幹システム", name_key="基幹システム", description="本番", created_at=now)
        migrated = SupportId(name="旧システム", name_key="旧システム", migrated=True, created_at=now)
        uow.session.add_all([shared, migrated])
        await uow.session.flush()
        uow.session.add_all(
            [
                SupportIdContact(support_id_id=shared.id, account_id=taro, added_at=now),
                SupportIdContact(support_id_id=shared.id, account_id=hanako, added_at=now),
                PendingContact(support_id_id=migrated.id, email=TARO.email),
                PendingContact(support_id_id=migrated.id, email=HANAKO.email),
                SupportIdCc(support_id_id=shared.id, email=TARO.email),
                SupportIdCc(support_id_id=shared.id, email=HANAKO.email),
                TermsAgreement(
                    support_id_id=shared.id, account_id=taro, terms_version="2026-04", agreed_at=now
                ),
                ThrottleFailure(scope="support_key", actor=f"mail:{TARO.email}", at=now, detail=""),
                ThrottleFailure(scope="support_key", actor=f"mail:{HANAKO.email}", at=now, detail=""),
            ]
        )
        # Requests by mail, with the customer's message and a staff reply naming them.
        mine = await factories.request(
            uow, 1001, TARO.email, "山田です：ログインできません", f"山田太郎です。電話は {TARO.phone} です。"
        )
        theirs = await factories.request(uow, 1002, HANAKO.email, "佐藤です", "佐藤花子です。")
        mine.account_id = taro
        uow.session.add(
            RequestMessage(
                request_id=mine.id,
                direction="out",
                message_id="<r1@vendor.example>",
                sender="support@vendor.example",
                subject="Re: ログインできません",
                body="山田 太郎 様\nお問い合わせありがとうございます。",
                author="slack:T1:USTAFF1",
                created_at=now,
            )
        )
        uow.session.add_all(
            [
                MailAck(email=TARO.email, request_id=mine.id, at=now),
                MailAck(email=HANAKO.email, request_id=theirs.id, at=now),
                MailAddressState(email=TARO.email, bounced_at=now, bounce_reason=f"550 {TARO.email} full"),
                InboundMail(
                    digest="d" * 64,
                    mail_from=TARO.email,
                    rcpt_tos=["support@vendor.example"],
                    raw=f"From: 山田 太郎 <{TARO.email}>\r\n\r\n山田です。".encode(),
                    received_at=now,
                    state="processed",
                    request_id=mine.id,
                ),
                InboundMail(
                    digest="e" * 64,
                    mail_from=HANAKO.email,
                    rcpt_tos=["support@vendor.example"],
                    raw=f"From: 佐藤 花子 <{HANAKO.email}>\r\n\r\n佐藤です。".encode(),
                    received_at=now,
                    state="processed",
                    request_id=theirs.id,
                ),
            ]
        )
        # One inquiry thread of each, both writing in Taro's.
        inquiries = []
        for asker, who, subject in ((taro, TARO, "山田の質問"), (hanako, HANAKO, "佐藤の質問")):
            row = Inquiry(
                support_id_id=shared.id,
                product_family="製品Aファミリ",
                subject=subject,
                asker_account_id=asker,
                asker_email=who.email,
                received_at=now,
                due_on=date(2026, 12, 3),
                updated_at=now,
                thread_id=f"<inq-{asker}@vendor.example>",
            )
            uow.session.add(row)
            await uow.session.flush()
            inquiries.append(row.id)
        mine_inq, theirs_inq = inquiries
        for inquiry, kind, author, account, body in (
            (
                mine_inq,
                "customer",
                f"account:{taro}",
                taro,
                f"山田太郎です。{TARO.phone} までお電話ください。",
            ),
            (mine_inq, "customer", f"account:{hanako}", hanako, "佐藤です。山田さんの件、私も困っています。"),
            (mine_inq, "answer", "slack:T1:USTAFF1", None, "山田様\nご回答いたします。"),
            (mine_inq, "note", "slack:T1:USTAFF1", None, "ヤマダ タロウ様へ電話済み"),
            (theirs_inq, "customer", f"account:{hanako}", hanako, "佐藤花子です。"),
            (theirs_inq, "customer", f"account:{taro}", taro, "山田です。同じ現象です。"),
        ):
            uow.session.add(
                InquiryMessage(
                    inquiry_id=inquiry,
                    kind=kind,
                    author=author,
                    author_account_id=account,
                    via="slack",
                    body=body,
                    created_at=now,
                )
            )
        enqueue_mail(uow, "inquiry_received", [TARO.email], {"name": "山田 太郎", "email": TARO.email})
        # An answer to Taro with Hanako in CC.
        enqueue_mail(
            uow, "inquiry_answer", [TARO.email, HANAKO.email], {"body": "山田様\nご回答いたします。"}
        )
        # Staff posts name the asker, one by address, one only by name.
        enqueue_slack(uow, "request_new", {"sender": TARO.email, "subject": "ログインできません"})
        enqueue_slack(uow, "inquiry_new", {"number": mine_inq, "asker": "山田 太郎", "subject": "山田の質問"})
        enqueue_slack(
            uow, "inquiry_new", {"number": theirs_inq, "asker": "佐藤 花子", "subject": "佐藤の質問"}
        )
        enqueue_mail(uow, "inquiry_received", [HANAKO.email], {"name": "佐藤 花子", "email": HANAKO.email})
        await uow.commit()
    return taro, hanako
