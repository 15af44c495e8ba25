"""Sending outbox mail (``core.ports.MailTransport``): to a relay, or to ``.eml`` files.

``MADOGUCHI_RELAY_URL`` (``smtp://`` or ``smtp+starttls://``, optional ``user:pass@``):
a few persistent sessions (``mail.relay``), each message from the row's signed return
path (VERP, chosen by core) with ``MADOGUCHI_MAIL_FROM`` in the header From. Unset: one
``.eml`` file per row in ``MADOGUCHI_OUTBOX_DIR``, written atomically. The SMTP reply
codes are read in ``mail.relay`` and told to core as a ``MailOutcome``; what follows
from them (retry, give up, alert) is ``core.delivery``'s.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from core.attachments import served_type
from core.config import Settings
from core.delivery import Claimed
from core.ports import MailOutcome, MailTransport
from core.private_files import private_dir, write_private
from mail.mime import message_bytes
from mail.relay import DELIVERED, Relay, RelayPool, SessionLimits
from mail.templates import MailTemplates, OutgoingFile

__all__ = ["EmlFiles", "Relay", "RelayTransport", "build_transport", "describe"]


class _Rendering:
    def __init__(self, settings: Settings, templates: MailTemplates | None) -> None:
        self.settings = settings
        self.templates = templates or MailTemplates(settings)

    def raw(self, mail: Claimed) -> bytes:
        """The row rendered and written as MIME (``mail.mime``: the same mail as
        ``mail.templates.build_message``, without the stdlib's cost per header)."""
        rendered = self.templates.render(mail.template, mail.locale, {**mail.context, **mail.secrets})
        return message_bytes(
            self.settings,
            rendered,
            to=mail.recipients,
            message_id=mail.message_id,
            template=mail.template,
            headers=mail.headers,
            date=mail.created_at,
            # Sent as a type mail programs do not run, like a download (docs/attachments.md).
            files=[
                OutgoingFile(info.name, served_type(info.content_type), data) for info, data in mail.files
            ],
        )


class RelayTransport(_Rendering):
    """Mail to the SMTP relay of ``MADOGUCHI_RELAY_URL`` over a pool of persistent
    sessions (``MADOGUCHI_RELAY_CONNECTIONS``); a mail waits for a free session."""

    def __init__(
        self,
        settings: Settings,
        relay: Relay,
        *,
        templates: MailTemplates | None = None,
        connections: int | None = None,
        limits: SessionLimits | None = None,
    ) -> None:
        super().__init__(settings, templates)
        self.relay = relay
        self.pool = RelayPool(
            relay, connections or settings.relay_connections, limits or SessionLimits.from_settings(settings)
        )

    async def send(self, mail: Claimed) -> MailOutcome:
        async with self.pool.session() as session:
            # Rendered with a session in hand: while the other sessions' replies are on
            # their way, never a batch ahead of the first send.
            raw = self.raw(mail)
            return await session.send(mail.return_path or self.settings.mail_from, mail.recipients, raw)

    async def close(self) -> None:
        await self.pool.close()


class EmlFiles(_Rendering):
    """Mail as ``.eml`` files in ``MADOGUCHI_OUTBOX_DIR`` (no relay configured)."""

    def __init__(self, settings: Settings, *, templates: MailTemplates | None = None) -> None:
        super().__init__(settings, templates)
        self.directory = Path(settings.outbox_dir)
        # Temporary names unique to this writer: two workers may write the same row.
        self.writer = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"

    async def send(self, mail: Claimed) -> MailOutcome:
        raw = self.raw(mail)
        if mail.return_path:
            # The envelope sender, where a delivering MTA puts it, for whoever reads the file.
            raw = f"Return-Path: <{mail.return_path}>\r\n".encode() + raw
        await asyncio.to_thread(self._write, mail, raw)
        return DELIVERED

    async def close(self) -> None:
        return None

    def _write(self, mail: Claimed, raw: bytes) -> None:
        private_dir(self.directory)
        name = f"{mail.id:08d}-{mail.template}.eml"
        tmp = self.directory / f".{name}.{self.writer}.tmp"
        write_private(tmp, raw)  # 0600: the file holds live activation and reset links
        os.replace(tmp, self.directory / name)


def build_transport(settings: Settings, *, templates: MailTemplates | None = None) -> MailTransport:
    """The relay when ``MADOGUCHI_RELAY_URL`` is set, else ``.eml`` files."""
    if settings.relay_url:
        return RelayTransport(settings, Relay.from_url(settings.relay_url), templates=templates)
    return EmlFiles(settings, templates=templates)


def describe(settings: Settings) -> str:
    """Where mail goes, for the start-up log."""
    if settings.relay_url:
        return f"the relay ({settings.relay_connections} persistent sessions)"
    return f".eml files in {settings.outbox_dir}"
