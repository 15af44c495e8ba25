"""Sending one outbox mail (``core.ports.MailTransport``): to a relay, or to ``.eml`` files.

``MADOGUCHI_RELAY_URL`` (``smtp://`` or ``smtp+starttls://``, optional ``user:pass@``):
aiosmtplib, one connection per mail. Unset: one ``.eml`` file per row in
``MADOGUCHI_OUTBOX_DIR``, written atomically. The SMTP reply codes are read here and
told to core as a ``MailOutcome`` (per recipient, from the inner reply code: 5xx is
for good, 4xx for now); what follows from them (retry, give up, alert) is
``core.outbox_worker``'s. A 4xx for the whole mail or a network error raises: the row
is tried again later.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

from core import contact_window
from core.config import Settings
from core.delivery import Claimed
from core.ports import MailOutcome, MailTransport
from mail.templates import MailTemplates, build_message

DELIVERED = MailOutcome("delivered")


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Relay:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls"):
            raise ValueError("MADOGUCHI_RELAY_URL must start with smtp:// or smtp+starttls://")
        starttls = parts.scheme == "smtp+starttls"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (587 if starttls else 25),
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class _Rendering:
    def __init__(self, settings: Settings, templates: MailTemplates | None) -> None:
        self.settings = settings
        self.templates = templates or MailTemplates(settings)

    def message(self, mail: Claimed) -> EmailMessage:
        rendered = self.templates.render(mail.template, mail.locale, {**mail.context, **mail.secrets})
        return build_message(
            self.settings,
            rendered,
            to=mail.recipients,
            message_id=mail.message_id,
            template=mail.template,
            headers=mail.headers,
            date=mail.created_at,
        )


class RelayTransport(_Rendering):
    """Mail to the SMTP relay of ``MADOGUCHI_RELAY_URL``."""

    def __init__(
        self,
        settings: Settings,
        relay: Relay,
        *,
        templates: MailTemplates | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(settings, templates)
        self.relay = relay
        self.timeout = timeout

    async def send(self, mail: Claimed) -> MailOutcome:
        msg = self.message(mail)
        relay = self.relay
        try:
            refused, _reply = await aiosmtplib.send(
                msg,
                # The row's signed return path: a delivery report about this mail comes
                # back naming it, and only such a report is believed (core.contact_window).
                sender=contact_window.return_path(self.settings, mail.id),
                recipients=mail.recipients,
                hostname=relay.host,
                port=relay.port,
                username=relay.username,
                password=relay.password,
                start_tls=relay.starttls,
                use_tls=False,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:  # nobody took it
            permanent = tuple(r.recipient for r in exc.recipients if _permanent(r.code))
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500]
            if len(permanent) < len(exc.recipients):
                return MailOutcome("deferred", permanent, None, f"recipients deferred: {detail}")
            return MailOutcome("refused", permanent, None, detail)
        except aiosmtplib.SMTPResponseException as exc:
            if _permanent(exc.code):
                return MailOutcome("refused", (), None, f"{exc.code} {exc.message}")
            raise
        if not refused:
            return DELIVERED
        permanent = tuple(addr for addr, resp in refused.items() if _permanent(resp.code))
        temporary = tuple(addr for addr, resp in refused.items() if not _permanent(resp.code))
        detail = "; ".join(f"{addr}: {resp.code} {resp.message}" for addr, resp in refused.items())[:500]
        if temporary:
            return MailOutcome("deferred", permanent, temporary, detail)
        return MailOutcome("delivered", permanent, None, detail)


class EmlFiles(_Rendering):
    """Mail as ``.eml`` files in ``MADOGUCHI_OUTBOX_DIR`` (no relay configured)."""

    def __init__(self, settings: Settings, *, templates: MailTemplates | None = None) -> None:
        super().__init__(settings, templates)
        self.directory = Path(settings.outbox_dir)
        # Temporary names unique to this writer: two workers may write the same row.
        self.writer = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"

    async def send(self, mail: Claimed) -> MailOutcome:
        msg = self.message(mail)
        await asyncio.to_thread(self._write, mail, msg)
        return DELIVERED

    def _write(self, mail: Claimed, msg: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{mail.id:08d}-{mail.template}.eml"
        tmp = self.directory / f".{name}.{self.writer}.tmp"
        tmp.write_bytes(msg.as_bytes())
        os.replace(tmp, self.directory / name)


def build_transport(settings: Settings, *, templates: MailTemplates | None = None) -> MailTransport:
    """The relay when ``MADOGUCHI_RELAY_URL`` is set, else ``.eml`` files."""
    if settings.relay_url:
        return RelayTransport(settings, Relay.from_url(settings.relay_url), templates=templates)
    return EmlFiles(settings, templates=templates)


def describe(settings: Settings) -> str:
    """Where mail goes, for the start-up log."""
    return "the relay" if settings.relay_url else f".eml files in {settings.outbox_dir}"
