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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from core.attachments import served_type
from core.config import Settings
from core.ports import MailOutcome, MailTransport
from core.private_files import private_dir, write_private
from mail.mime import message_bytes
from mail.relay import DELIVERED, Relay, RelayPool, SessionLimits
from mail.templates import MailTemplates, OutgoingFile

__all__ = ["EmlFiles", "Outgoing", "Relay", "RelayTransport", "build_transport", "describe"]


class Mail(Protocol):
    """What sending needs of a row: a claimed row (``core.delivery.Claimed``), or its
    ``Outgoing`` copy in the sender process."""

    @property
    def id(self) -> int: ...
    @property
    def template(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def recipients(self) -> list[str]: ...
    @property
    def context(self) -> dict[str, Any]: ...
    @property
    def secrets(self) -> dict[str, Any]: ...
    @property
    def headers(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def return_path(self) -> str: ...
    @property
    def files(self) -> list[tuple[Any, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed row's values, read in the service (JSON, sealed secrets, signed links)
    and pickled to the sender process (``mail.sender_process``)."""

    id: int
    template: str
    locale: str
    message_id: str
    recipients: list[str]
    context: dict[str, Any]
    secrets: dict[str, Any]
    headers: dict[str, Any]
    created_at: datetime
    return_path: str
    # Files sent as MIME parts: (``AttachmentInfo``, bytes), read in the service.
    files: list[tuple[Any, bytes]]

    @classmethod
    def of(cls, mail: Mail) -> Outgoing:
        return cls(
            mail.id,
            mail.template,
            mail.locale,
            mail.message_id,
            mail.recipients,
            mail.context,
            mail.secrets,
            mail.headers,
            mail.created_at,
            mail.return_path,
            mail.files,
        )


def deferred(exc: BaseException) -> MailOutcome:
    """The outcome of a row whose send raised: the whole row again later."""
    return MailOutcome("deferred", detail=f"{type(exc).__name__}: {exc}")


class _Rendering:
    def __init__(self, settings: Settings, templates: MailTemplates | None) -> None:
        self.settings = settings
        self.templates = templates or MailTemplates(settings)

    async def send(self, mail: Mail) -> MailOutcome:
        raise NotImplementedError

    async def send_many(self, mails: Sequence[Mail], lanes: int = 1) -> list[MailOutcome]:
        """``mails`` in order over ``lanes`` coroutines (one per relay session): a handful
        of coroutines instead of a task per row, each step short. A row whose send raises
        is deferred (``deferred``); the others go on."""
        outcomes: list[MailOutcome] = [MailOutcome("deferred")] * len(mails)
        queue = iter(enumerate(mails))

        async def lane() -> None:
            for index, mail in queue:
                try:
                    outcomes[index] = await self.send(mail)
                except Exception as exc:  # 4xx, network, template error: retry later
                    outcomes[index] = deferred(exc)

        await asyncio.gather(*(lane() for _ in range(max(1, min(lanes, len(mails))))))
        return outcomes

    def raw(self, mail: Mail) -> bytes:
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

    async def send(self, mail: Mail) -> MailOutcome:
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

    async def send(self, mail: Mail) -> MailOutcome:
        raw = self.raw(mail)
        if mail.return_path:
            # The envelope sender, where a delivering MTA puts it, for whoever reads the file.
            raw = f"Return-Path: <{mail.return_path}>\r\n".encode() + raw
        await asyncio.to_thread(self._write, mail, raw)
        return DELIVERED

    async def close(self) -> None:
        return None

    def _write(self, mail: Mail, raw: bytes) -> None:
        private_dir(self.directory)
        name = f"{mail.id:08d}-{mail.template}.eml"
        tmp = self.directory / f".{name}.{self.writer}.tmp"
        write_private(tmp, raw)  # 0600: the file holds live activation and reset links
        os.replace(tmp, self.directory / name)


def build_transport(
    settings: Settings, *, templates: MailTemplates | None = None, own_process: bool = False
) -> MailTransport:
    """The relay when ``MADOGUCHI_RELAY_URL`` is set, else ``.eml`` files. ``own_process``
    (``madoguchi serve``): mail to the relay is rendered and sent by a process of its own
    (``mail.sender_process``)."""
    if settings.relay_url and own_process:
        from mail.sender_process import SenderProcessTransport  # imports this module

        return SenderProcessTransport(settings)
    if settings.relay_url:
        return RelayTransport(settings, Relay.from_url(settings.relay_url), templates=templates)
    return EmlFiles(settings, templates=templates)


def describe(settings: Settings, *, own_process: bool = False) -> str:
    """Where mail goes, for the start-up log."""
    if settings.relay_url:
        where = ", from a sender process" if own_process else ""
        return f"the relay ({settings.relay_connections} persistent sessions{where})"
    return f".eml files in {settings.outbox_dir}"
