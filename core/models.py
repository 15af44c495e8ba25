"""The tables of madoguchi, one class each, typed with SQLAlchemy 2 ``Mapped``.

Secrets never live here in the clear: support keys and tokens are stored as keyed hashes
(``core.hashing``) with at most their last four characters for display, passwords as
Argon2id hashes. Everything a process needs to continue somebody else's work
(conversations, throttles, processed Slack events, the outbox) is a table, so any number
of ``madoguchi serve`` instances can share one PostgreSQL (SPEC §9).

Schema changes go through alembic (``migrations/``); nothing here creates tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from core.normalize import person_key

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids that are still SQLite's rowid alias (SQLite only autoincrements INTEGER).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # NFKC, case-folded, katakana form of the name: what the company search compares.
    name_norm: Mapped[str] = mapped_column(String(255), index=True)
    postal_code: Mapped[str] = mapped_column(String(8), default="")
    prefecture: Mapped[str] = mapped_column(String(16), default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    address_norm: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    product_family: Mapped[str] = mapped_column(String(255), default="")
    end_user: Mapped[str] = mapped_column(String(255), default="")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    requires_terms: Mapped[bool] = mapped_column(Boolean, default=False)


class SupportId(Base):
    """A named group of keys shared by its contacts; never renamed, never deleted."""

    __tablename__ = "support_ids"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # Lower-cased name: uniqueness is case-insensitive across the whole service.
    name_key: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    migrated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class SupportKey(Base):
    __tablename__ = "support_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    # Indexed only where set (see __table_args__): most keys are in no support ID, and a
    # million NULL entries would only slow the import down.
    support_id_id: Mapped[int | None] = mapped_column(ForeignKey("support_ids.id"))
    # "import", "staff" or "mail"; a key issued by mail is usable from the next business day.
    issued_via: Mapped[str] = mapped_column(String(16), default="import")
    usable_from: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_support_keys_support_id_id",
            "support_id_id",
            sqlite_where=text("support_id_id IS NOT NULL"),
            postgresql_where=text("support_id_id IS NOT NULL"),
        ),
    )


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The username: lower-cased email address.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    last_name: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(64))
    last_name_kana: Mapped[str] = mapped_column(String(64))
    first_name_kana: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(128), default="")
    title: Mapped[str] = mapped_column(String(128), default="")
    phone: Mapped[str] = mapped_column(String(32))
    postal_code: Mapped[str] = mapped_column(String(8))
    prefecture: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(128))
    street: Mapped[str] = mapped_column(String(255))
    marketing_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    privacy_consented_at: Mapped[datetime]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # "pending" until the password is set, then "active"; staff may set "disabled".
    status: Mapped[str] = mapped_column(String(16), default="pending")
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    slack_team_id: Mapped[str | None] = mapped_column(String(32))
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    # Shown by ``/support profile`` (SPEC §4.11); set whenever a link sets the password.
    password_changed_at: Mapped[datetime | None]
    # When the current product-information choice was made (registration or profile).
    marketing_changed_at: Mapped[datetime | None]
    # The name and its reading as staff `find` compares them (``core.normalize.person_key``:
    # width, case and hiragana/katakana folded, no spaces), kept by ``_keep_name_keys`` on
    # every change of a name so that no writer can forget them; B-tree indexed for the
    # prefix search (migration 0015_find_people).
    name_norm: Mapped[str] = mapped_column(String(128), default="", index=True)
    kana_norm: Mapped[str] = mapped_column(String(128), default="", index=True)

    __table_args__ = (UniqueConstraint("slack_team_id", "slack_user_id", name="uq_accounts_slack_user"),)

    @validates("last_name", "first_name", "last_name_kana", "first_name_kana")
    def _keep_name_keys(self, field: str, value: str) -> str:
        names = {
            f: getattr(self, f, None) or ""
            for f in ("last_name", "first_name", "last_name_kana", "first_name_kana")
        }
        names[field] = value or ""
        self.name_norm = person_key(names["last_name"], names["first_name"])
        self.kana_norm = person_key(names["last_name_kana"], names["first_name_kana"])
        return value


class AccountToken(Base):
    """A single-use link secret (activation or password reset), stored as a keyed hash."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SupportIdContact(Base):
    __tablename__ = "support_id_contacts"

    support_id_id: Mapped[int] = mapped_column(ForeignKey("support_ids.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True, index=True)
    added_at: Mapped[datetime]


class PendingContact(Base):
    """A contact email of a migrated support ID, linked when an account with it registers."""

    __tablename__ = "pending_contacts"

    support_id_id: Mapped[int] = mapped_column(ForeignKey("support_ids.id"), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), primary_key=True, index=True)


class SupportIdCc(Base):
    __tablename__ = "support_id_ccs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    support_id_id: Mapped[int] = mapped_column(ForeignKey("support_ids.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))

    __table_args__ = (UniqueConstraint("support_id_id", "email", name="uq_support_id_ccs_pair"),)


class TermsAgreement(Base):
    __tablename__ = "terms_agreements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    support_id_id: Mapped[int] = mapped_column(ForeignKey("support_ids.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    terms_version: Mapped[str] = mapped_column(String(32))
    agreed_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("support_id_id", "terms_version", name="uq_terms_agreements_version"),)


class Conversation(Base):
    """A registration conversation in progress, addressed by an opaque random id.

    Kept in the database (not in memory) so any process may handle the next step.
    """

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="registration")
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ThrottleFailure(Base):
    """One failed attempt by an actor in a scope; counted over a sliding window."""

    __tablename__ = "throttle_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    detail: Mapped[str] = mapped_column(String(255), default="")

    __table_args__ = (Index("ix_throttle_failures_lookup", "scope", "actor", "at"),)


class ProcessedSlackEvent(Base):
    __tablename__ = "processed_slack_events"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]


class InboundMail(Base):
    """Raw bytes of a message accepted by the contact window, stored before ``250``."""

    __tablename__ = "inbound_mails"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # sha256 of the raw bytes: a client retrying after a lost 250 sends the same bytes.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    mail_from: Mapped[str] = mapped_column(String(320), default="")
    rcpt_tos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]
    # "received" → "processed"; "failed" keeps the raw bytes and is flagged for staff.
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    malformed: Mapped[bool] = mapped_column(Boolean, default=False)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    error: Mapped[str] = mapped_column(Text, default="")


class Request(Base):
    """A contact-window request, shown to people as ``REQ-000123``."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    category: Mapped[str] = mapped_column(String(32), default="other")
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998), default="")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    assignee: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    # Each sender's requests of the last hour: the per-sender cap (contact window).
    __table_args__ = (Index("ix_requests_sender_created_at", "sender", "created_at"),)


class RequestMessage(Base):
    """One message of a request's thread, inbound (customer) or outbound (staff reply)."""

    __tablename__ = "request_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]


class MailAck(Base):
    """One acknowledgement queued to a sender; counted for the per-sender and global limits."""

    __tablename__ = "mail_acks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (Index("ix_mail_acks_email_at", "email", "at"),)


class MailAddressState(Base):
    """What we know about an external address: bounces, acknowledgements sent."""

    __tablename__ = "mail_address_states"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    bounced_at: Mapped[datetime | None]
    bounce_reason: Mapped[str] = mapped_column(Text, default="")


class OutboxMessage(Base):
    """Something to deliver later (a mail, or a Slack post), written in the same
    transaction as the change that causes it so neither is lost without the other."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "mail" or "slack".
    channel: Mapped[str] = mapped_column(String(16), default="mail")
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    recipients: Mapped[list[Any]] = mapped_column(JSON, default=list)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Secrets for the template (links with tokens), encrypted; erased once sent.
    sealed: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    # "pending" → "sending" → "sent" | "failed".
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    # Channel second: a claim of one channel reads only its rows (migration 0020).
    __table_args__ = (Index("ix_outbox_due", "status", "channel", "next_attempt_at", "id"),)


class AuditRecord(Base):
    """Who did what, through which door, when (SPEC §8)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # "account", "staff" or "system"; actor_id is e.g. an account id or a Slack user id.
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    door: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    support_id_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SlackUser(Base):
    """What the Slack door knows of a Slack user: the client's language (from
    ``users.info``), fetched after an ack and kept so every instance answers in it."""

    __tablename__ = "slack_users"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    locale: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime]


class SlackInstallation(Base):
    """A workspace that installed the app through OAuth (multi-workspace mode).

    The bot token is sealed (``core.sealing``), never stored in the clear.
    """

    __tablename__ = "slack_installations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_id: Mapped[str] = mapped_column(String(32), default="")
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    app_id: Mapped[str] = mapped_column(String(32), default="")
    bot_id: Mapped[str] = mapped_column(String(32), default="")
    bot_user_id: Mapped[str] = mapped_column(String(32), default="")
    bot_scopes: Mapped[str] = mapped_column(Text, default="")
    installer_user_id: Mapped[str] = mapped_column(String(32), default="")
    sealed_bot_token: Mapped[str] = mapped_column(Text)
    installed_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("enterprise_id", "team_id", name="uq_slack_installations_workspace"),)


class SlackOAuthState(Base):
    """A one-time OAuth ``state`` (CSRF guard of the install flow), stored hashed."""

    __tablename__ = "slack_oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime]


# Tables of areas that keep their own module (registered on Base.metadata by importing).
from core import account_tables as _account_tables  # noqa: E402,F401
from core.attachments import tables as _attachment_tables  # noqa: E402,F401
from core.inquiries import tables as _inquiry_tables  # noqa: E402,F401
from core.knowledge import tables as _knowledge_tables  # noqa: E402,F401
