"""Settings, read once at start-up by the composition root and handed down.

Names and defaults are the contract of SPEC §2; a value that cannot be parsed stops the
process with pydantic's message naming the variable, instead of failing later at use.
"""

from __future__ import annotations

import secrets
from datetime import date, time
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.private_files import private_dir, write_private

SUPPORTED_LOCALES = ("ja", "en")


class Settings(BaseSettings):
    """Every knob of the service; environment first, then ``.env``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite+aiosqlite:///./var/madoguchi.db", alias="DATABASE_URL")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")

    staff_channel: str | None = Field(default=None, alias="MADOGUCHI_STAFF_CHANNEL")
    staff_users: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), alias="MADOGUCHI_STAFF_USERS"
    )

    http_host: str = Field(default="127.0.0.1", alias="MADOGUCHI_HTTP_HOST")
    http_port: int = Field(default=3000, alias="MADOGUCHI_HTTP_PORT")
    public_url: str = Field(default="http://127.0.0.1:3000", alias="MADOGUCHI_PUBLIC_URL")
    # Who may hold the HTTP listener, and for how long (madoguchi/listener.py): open
    # connections in all; the time a request's line and headers may take (and a kept-alive
    # connection may stay idle); the time its body may take once the headers are in.
    http_max_connections: int = Field(default=512, ge=1, alias="MADOGUCHI_HTTP_MAX_CONNECTIONS")
    http_header_timeout_seconds: float = Field(
        default=15.0, gt=0, alias="MADOGUCHI_HTTP_HEADER_TIMEOUT_SECONDS"
    )
    http_body_timeout_seconds: float = Field(default=30.0, gt=0, alias="MADOGUCHI_HTTP_BODY_TIMEOUT_SECONDS")

    smtp_host: str = Field(default="127.0.0.1", alias="MADOGUCHI_SMTP_HOST")
    smtp_port: int = Field(default=8025, alias="MADOGUCHI_SMTP_PORT")
    smtp_max_message_size: int = Field(default=10 * 1024 * 1024, alias="MADOGUCHI_SMTP_MAX_SIZE")
    # Who may hold the SMTP door, and for how long: sessions in all, sessions per client
    # (remote IP; 0 = no per-client cap), and a session's whole life however busy it is.
    smtp_max_sessions: int = Field(default=100, ge=1, alias="MADOGUCHI_SMTP_MAX_SESSIONS")
    smtp_max_sessions_per_client: int = Field(
        default=10, ge=0, alias="MADOGUCHI_SMTP_MAX_SESSIONS_PER_CLIENT"
    )
    smtp_session_seconds: float = Field(default=600.0, gt=0, alias="MADOGUCHI_SMTP_SESSION_SECONDS")
    # A message larger than this is spooled to a temporary file under var/ while DATA is
    # read, so concurrent large messages are not all held in memory at once (64 KiB: a
    # hundred sessions starting large messages together hold 6 MiB, not 25).
    smtp_spool_bytes: int = Field(default=64 * 1024, ge=0, alias="MADOGUCHI_SMTP_SPOOL_BYTES")
    # Inbound STARTTLS: PEM certificate chain and key; both or neither. REQUIRE_TLS refuses
    # mail (530) from a client that has not said STARTTLS.
    smtp_tls_cert: Path | None = Field(default=None, alias="MADOGUCHI_SMTP_TLS_CERT")
    smtp_tls_key: Path | None = Field(default=None, alias="MADOGUCHI_SMTP_TLS_KEY")
    smtp_require_tls: bool = Field(default=False, alias="MADOGUCHI_SMTP_REQUIRE_TLS")
    contact_address: str = Field(default="contact@support.example.com", alias="MADOGUCHI_CONTACT_ADDRESS")
    mail_from: str = Field(default="support@support.example.com", alias="MADOGUCHI_MAIL_FROM")
    relay_url: str | None = Field(default=None, alias="MADOGUCHI_RELAY_URL")
    outbox_dir: Path = Field(default=Path("./var/outbox"), alias="MADOGUCHI_OUTBOX_DIR")
    # Outbound mail (docs/mail.md, "Outbound"): persistent relay sessions, mail sent and
    # settled a batch at a time.
    relay_connections: int = Field(default=4, ge=1, le=64, alias="MADOGUCHI_RELAY_CONNECTIONS")
    relay_messages_per_connection: int = Field(
        default=100, ge=1, alias="MADOGUCHI_RELAY_MESSAGES_PER_CONNECTION"
    )
    relay_idle_seconds: float = Field(default=30.0, gt=0, alias="MADOGUCHI_RELAY_IDLE_SECONDS")
    # The longest one mail may take at the relay, a new session's greeting included.
    relay_timeout_seconds: float = Field(default=30.0, gt=0, alias="MADOGUCHI_RELAY_TIMEOUT_SECONDS")
    outbox_batch: int = Field(default=100, ge=1, le=1000, alias="MADOGUCHI_OUTBOX_BATCH")
    # madoguchi serve renders and sends relay mail in a sender process of its own
    # (mail/sender_process.py). Off by default: on 2 cores the extra process cost p99
    # DATA→250 more than it gave (docs/performance.md); it pays where cores are spare.
    relay_process: bool = Field(default=False, alias="MADOGUCHI_RELAY_PROCESS")
    ack_breaker_limit: int = Field(default=1000, alias="MADOGUCHI_ACK_BREAKER_LIMIT")
    ack_breaker_window_minutes: int = Field(default=10, alias="MADOGUCHI_ACK_BREAKER_WINDOW_MINUTES")
    # How long one batch of stored mail may take to parse before the parser process is
    # killed and the mail that holds it is kept as unreadable (docs/mail.md).
    parse_timeout_seconds: float = Field(default=30.0, gt=0, alias="MADOGUCHI_PARSE_TIMEOUT_SECONDS")
    # New requests one sender may open per hour; more are kept but make no request (0: no cap).
    requests_per_sender_hour: int = Field(default=10, ge=0, alias="MADOGUCHI_REQUESTS_PER_SENDER_HOUR")
    # The authserv-ids (RFC 8601) of the MTA in front whose Authentication-Results and spam
    # verdicts are believed; empty: none is (core/contact_window/authentication.py).
    trusted_authserv_ids: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), alias="MADOGUCHI_TRUSTED_AUTHSERV_IDS"
    )

    secret_key: str | None = Field(default=None, alias="MADOGUCHI_SECRET_KEY")
    var_dir: Path = Field(default=Path("./var"), alias="MADOGUCHI_VAR_DIR")
    locale: str = Field(default="ja", alias="MADOGUCHI_LOCALE")
    vendor_name: str = Field(default="Example Solutions", alias="MADOGUCHI_VENDOR_NAME")
    service_name: str = Field(default="サポート・お問い合わせ", alias="MADOGUCHI_SERVICE_NAME")
    terms_version: str = Field(default="2024-04", alias="MADOGUCHI_TERMS_VERSION")
    # Unset: the web door's own /terms under MADOGUCHI_PUBLIC_URL (``terms_link``).
    terms_url: str | None = Field(default=None, alias="MADOGUCHI_TERMS_URL")
    answer_business_days: int = Field(default=3, alias="MADOGUCHI_ANSWER_BUSINESS_DAYS")
    closures: Annotated[frozenset[date], NoDecode] = Field(default=frozenset(), alias="MADOGUCHI_CLOSURES")
    # Wave 2 (SPEC §2, §4.8–4.11).
    # 12/29–1/3 closed every year unless turned off (core/business_days.py).
    year_end_closure: bool = Field(default=True, alias="MADOGUCHI_YEAR_END_CLOSURE")
    # Mail received after this JST time counts from the next business day.
    cutoff: time = Field(default=time(17, 30), alias="MADOGUCHI_CUTOFF")
    inquiry_address: str = Field(default="inquiry@support.example.com", alias="MADOGUCHI_INQUIRY_ADDRESS")
    # ``製品Aファミリ=C0123,製品Bファミリ=C0456``; a family not named posts to the staff channel.
    product_channels: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, alias="MADOGUCHI_PRODUCT_CHANNELS"
    )
    inquiry_autoclose_days: int = Field(default=10, ge=1, alias="MADOGUCHI_INQUIRY_AUTOCLOSE_DAYS")
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, alias="MADOGUCHI_ATTACHMENT_MAX_BYTES")
    # How long an attachment's download link in a staff post or a mail works (core/attachments).
    attachment_link_days: int = Field(default=30, ge=1, le=3650, alias="MADOGUCHI_ATTACHMENT_LINK_DAYS")
    terms_file: Path | None = Field(default=None, alias="MADOGUCHI_TERMS_FILE")
    privacy_url: str | None = Field(default=None, alias="MADOGUCHI_PRIVACY_URL")
    # Addresses/CIDRs whose X-Forwarded-For / Forwarded headers are believed; empty: none.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), alias="MADOGUCHI_TRUSTED_PROXIES"
    )
    log_level: str = Field(default="INFO", alias="MADOGUCHI_LOG_LEVEL")

    @field_validator("product_channels", mode="before")
    @classmethod
    def _split_product_channels(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        channels: dict[str, str] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            family, sep, channel = part.partition("=")
            if not sep or not family.strip() or not channel.strip():
                raise ValueError(f"expected 製品ファミリ=CHANNEL, got {part!r}")
            channels[family.strip()] = channel.strip()
        return channels

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("terms_url", "privacy_url")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        """Links customers are sent to: an http(s) URL or nothing (unset when empty)."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("https://", "http://")) or any(c in value for c in "<>| \t\n"):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("staff_users", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_authserv_ids", mode="before")
    @classmethod
    def _split_authserv_ids(cls, value: object) -> object:
        """authserv-ids compare case-insensitively (RFC 8601 §2.5: they are domain names)."""
        if isinstance(value, str):
            return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        if isinstance(value, (set, frozenset, list, tuple)):
            return frozenset(str(part).strip().lower() for part in value if str(part).strip())
        return value

    @property
    def slack_multi_workspace(self) -> bool:
        """OAuth installation into many workspaces (SLACK_CLIENT_ID and _SECRET) rather
        than one workspace's bot token; decides what a plain staff entry means (core.staff)."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def terms_link(self) -> str:
        """Where every terms link points (notice, mails, App Home): MADOGUCHI_TERMS_URL if
        the terms live elsewhere, else the page the web door serves (SPEC §4.11)."""
        return self.terms_url or f"{self.public_url.rstrip('/')}/terms"

    @property
    def calendar_feed_url(self) -> str:
        """The iCalendar feed of closed days the web door serves (SPEC §4.10)."""
        return f"{self.public_url.rstrip('/')}/calendar.ics"

    @field_validator("closures", mode="before")
    @classmethod
    def _split_closures(cls, value: object) -> object:
        """Closures are ISO dates or ranges ``2026-12-29..2027-01-03``, comma-separated."""
        if not isinstance(value, str):
            return value
        days: set[date] = set()
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            if ".." in part:
                first, last = (date.fromisoformat(x) for x in part.split("..", 1))
                days.update(date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
            else:
                days.add(date.fromisoformat(part))
        return frozenset(days)

    @model_validator(mode="after")
    def _tls_files_together(self) -> Settings:
        """A certificate without its key (or REQUIRE_TLS without either) would fail at the
        first STARTTLS, long after start-up; say so now."""
        if (self.smtp_tls_cert is None) != (self.smtp_tls_key is None):
            raise ValueError("MADOGUCHI_SMTP_TLS_CERT and MADOGUCHI_SMTP_TLS_KEY go together")
        if self.smtp_require_tls and self.smtp_tls_cert is None:
            raise ValueError("MADOGUCHI_SMTP_REQUIRE_TLS needs MADOGUCHI_SMTP_TLS_CERT and _KEY")
        return self

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    def resolved_secret_key(self) -> str:
        """The pepper; generated into var/ on first run so a newcomer needs no set-up.

        Losing it invalidates every stored key hash and token, so production sets
        MADOGUCHI_SECRET_KEY explicitly and backs it up with the database.
        """
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if not self.database_url.partition(":")[0].startswith("sqlite"):
            raise MissingSecretKey(path)
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        private_dir(self.var_dir)
        value = secrets.token_urlsafe(48)
        write_private(path, value.encode())
        return value


class MissingSecretKey(ValueError):
    """On PostgreSQL every instance must hash and seal with the same secret: a key each
    machine generated for itself would make one instance's key hashes, sealed tokens and
    reply signatures unreadable to the others. So there is no generated key there."""

    def __init__(self, generated: Path) -> None:
        hint = (
            f" This machine generated one earlier: copy the contents of {generated} into it."
            if generated.exists()
            else ""
        )
        super().__init__(
            "MADOGUCHI_SECRET_KEY is required with PostgreSQL: set the same value for every"
            " instance (for example the output of"
            " `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`) and keep it"
            f" with the database backups.{hint}"
        )
