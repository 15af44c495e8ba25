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
from mail.parser_process import render_in_process
from mail.relay import DELIVERED, Relay, RelayPool, SessionLimits
from mail.templates import MailTemplates, OutgoingFile

__all__ = ["EmlFiles", "Outgoing", "Relay", "RelayTransport", "build_transport", "describe"]

# A batch of fewer rows is rendered where it is sent: a call to the parser process costs
# the service about what rendering two or three acknowledgements does.
RENDER_ELSEWHERE_FROM = 4


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


def failure(exc: BaseException) -> str:
    """What a deferred row's outcome says of what it raised."""
    return f"{type(exc).__name__}: {exc}"


def deferred(exc: BaseException) -> MailOutcome:
    """The outcome of a row whose send raised: the whole row again later."""
    return MailOutcome("deferred", detail=failure(exc))


def render(settings: Settings, templates: MailTemplates, mail: Mail) -> bytes:
    """The row rendered and written as MIME (``mail.mime``: the same mail as
    ``mail.templates.build_message``, without the stdlib's cost per header)."""
    rendered = templates.render(mail.template, mail.locale, {**mail.context, **mail.secrets})
    return message_bytes(
        settings,
        rendered,
        to=mail.recipients,
        message_id=mail.message_id,
        template=mail.template,
        headers=mail.headers,
        date=mail.created_at,
        # Sent as a type mail programs do not run, like a download (docs/attachments.md).
        files=[OutgoingFile(info.name, served_type(info.content_type), data) for info, data in mail.files],
    )


def render_batch(settings: Settings, mails: list[Outgoing]) -> list[bytes | str]:
    """Each row's bytes, or what rendering it raised (``failure``): run in the parser
    process (``RelayTransport(render_elsewhere=True)``)."""
    templates = MailTemplates(settings)
    out: list[bytes | str] = []
    for mail in mails:
        try:
            out.append(render(settings, templates, mail))
        except Exception as exc:  # a template error: this row is deferred, as when rendered here
            out.append(failure(exc))
    return out


# A row made ready before its send: its bytes, its outcome (rendering it raised), or
# None (rendered when it is sent).
Ready = bytes | MailOutcome | None


class _Rendering:
    def __init__(self, settings: Settings, templates: MailTemplates | None) -> None:
        self.settings = settings
        self.templates = templates or MailTemplates(settings)

    async def send(self, mail: Mail, raw: bytes | None = None) -> MailOutcome:
        raise NotImplementedError

    async def prepared(self, mails: Sequence[Mail]) -> list[Ready]:
        """Rows rendered before their sends; here none: each is rendered when sent."""
        return [None] * len(mails)

    async def send_many(self, mails: Sequence[Mail], lanes: int = 1) -> list[MailOutcome]:
        """``mails`` in order over ``lanes`` coroutines (one per relay session): a handful
        of coroutines instead of a task per row, each step short. A row whose send raises
        is deferred (``deferred``); the others go on."""
        outcomes: list[MailOutcome] = [MailOutcome("deferred")] * len(mails)
        ready = await self.prepared(mails) if mails else []
        queue = iter(enumerate(mails))

        async def lane() -> None:
            for index, mail in queue:
                raw = ready[index]
                if isinstance(raw, MailOutcome):  # rendering it raised
                    outcomes[index] = raw
                    continue
                try:
                    outcomes[index] = await self.send(mail, raw)
                except Exception as exc:  # 4xx, network, template error: retry later
                    outcomes[index] = deferred(exc)

        await asyncio.gather(*(lane() for _ in range(max(1, min(lanes, len(mails))))))
        return outcomes

    def raw(self, mail: Mail) -> bytes:
        """The row rendered and written as MIME, here (``render``)."""
        return render(self.settings, self.templates, mail)


class RelayTransport(_Rendering):
    """Mail to the SMTP relay of ``MADOGUCHI_RELAY_URL`` over a pool of persistent
    sessions (``MADOGUCHI_RELAY_CONNECTIONS``); a mail waits for a free session.

    ``render_elsewhere`` (``madoguchi serve``): a batch's rows are rendered in one call
    to the parser process (``mail.parser_process.render_in_process``) while this loop
    answers SMTP clients, within the parse time limit (``MADOGUCHI_PARSE_TIMEOUT_SECONDS``);
    rows with files (their bytes stay here), a small batch, and a batch the parser has no
    time for are rendered here, when sent. Only with the templates of ``templates/`` (the
    parser process has no others)."""

    def __init__(
        self,
        settings: Settings,
        relay: Relay,
        *,
        templates: MailTemplates | None = None,
        connections: int | None = None,
        limits: SessionLimits | None = None,
        render_elsewhere: bool = False,
    ) -> None:
        super().__init__(settings, templates)
        self.relay = relay
        self.render_elsewhere = render_elsewhere and templates is None
        self.pool = RelayPool(
            relay, connections or settings.relay_connections, limits or SessionLimits.from_settings(settings)
        )

    async def prepared(self, mails: Sequence[Mail]) -> list[Ready]:
        ready: list[Ready] = [None] * len(mails)
        if not self.render_elsewhere or len(mails) < RENDER_ELSEWHERE_FROM:
            return ready
        chosen: list[int] = []
        values: list[Outgoing] = []
        for index, mail in enumerate(mails):
            if mail.files:
                continue
            try:
                values.append(Outgoing.of(mail))  # JSON read, secrets opened: here
            except Exception:  # rendered when sent, where it raises again and is deferred
                continue
            chosen.append(index)
        if len(chosen) < RENDER_ELSEWHERE_FROM:
            return ready
        settings = self.settings
        done = await render_in_process(settings, render_batch, values, settings.parse_timeout_seconds)
        if done is None:  # the parser was busy, or is gone: each row is rendered when sent
            return ready
        for index, raw in zip(chosen, done, strict=True):
            ready[index] = raw if isinstance(raw, bytes) else MailOutcome("deferred", detail=raw)
        return ready

    async def send(self, mail: Mail, raw: bytes | None = None) -> MailOutcome:
        async with self.pool.session() as session:
            # Rendered with a session in hand when it was not before: while the other
            # sessions' replies are on their way, never a batch ahead of the first send.
            if raw is None:
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

    async def send(self, mail: Mail, raw: bytes | None = None) -> MailOutcome:
        if raw is None:
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
    settings: Settings,
    *,
    templates: MailTemplates | None = None,
    own_process: bool = False,
    render_elsewhere: bool = False,
) -> MailTransport:
    """The relay when ``MADOGUCHI_RELAY_URL`` is set, else ``.eml`` files. ``own_process``
    (``madoguchi serve`` with ``MADOGUCHI_RELAY_PROCESS``): mail to the relay is rendered
    and sent by a process of its own (``mail.sender_process``); else ``render_elsewhere``
    (``madoguchi serve``): rendered in the parser process (``RelayTransport``)."""
    if settings.relay_url and own_process:
        from mail.sender_process import SenderProcessTransport  # imports this module

        return SenderProcessTransport(settings)
    if settings.relay_url:
        return RelayTransport(
            settings,
            Relay.from_url(settings.relay_url),
            templates=templates,
            render_elsewhere=render_elsewhere,
        )
    return EmlFiles(settings, templates=templates)


def describe(settings: Settings, *, own_process: bool = False) -> str:
    """Where mail goes, for the start-up log."""
    if settings.relay_url:
        where = ", from a sender process" if own_process else ""
        return f"the relay ({settings.relay_connections} persistent sessions{where})"
    return f".eml files in {settings.outbox_dir}"
