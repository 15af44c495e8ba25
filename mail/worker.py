"""The outbox worker: renders and sends mail rows, hands Slack rows to the Slack door.

Rules (claiming, backoff, giving up, alerts) are in ``core.delivery``; this module is the
transport: aiosmtplib to ``MADOGUCHI_RELAY_URL`` (``smtp://`` or ``smtp+starttls://``,
optional ``user:pass@``), or ``.eml`` files in ``MADOGUCHI_OUTBOX_DIR`` when no relay is
set. A 4xx or a network error is retried later; a 5xx (per recipient, from the inner
reply code) is final and staff are alerted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from core import contact_window, delivery
from core.delivery import Claimed
from core.unit_of_work import Core
from mail.templates import MailTemplates, build_message

log = logging.getLogger("madoguchi.mail.worker")

SlackDeliver = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


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


class Permanent(Exception):
    """Every recipient was refused with a 5xx: do not retry."""


class OutboxWorker:
    def __init__(
        self,
        core: Core,
        *,
        slack_deliver: SlackDeliver | None = None,
        templates: MailTemplates | None = None,
        poll_seconds: float = 1.0,
        batch: int = 20,
        concurrency: int = 4,
        timeout: float = 30.0,
        name: str | None = None,
        metrics: Any = None,
    ) -> None:
        self.core = core
        settings = core.settings
        self.relay = Relay.from_url(settings.relay_url) if settings.relay_url else None
        self.outbox_dir = Path(settings.outbox_dir)
        self.templates = templates or MailTemplates(settings)
        self.slack_deliver = slack_deliver
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.timeout = timeout
        self.name = (name or f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}")[:64]
        self.metrics = metrics
        self.last_tick = time.monotonic()
        self.channels: tuple[str, ...] = ("mail", "slack") if slack_deliver else ("mail",)
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- one pass ------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Re-queue stale rows, claim a batch, deliver it; returns rows handled."""
        self.last_tick = time.monotonic()
        async with self.core.uow(background=True) as uow:
            await delivery.requeue_stale(uow)
        async with self.core.uow(background=True) as uow:
            rows = await delivery.claim(uow, self.name, self.channels, self.batch)
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def drain(self, max_passes: int = 100) -> None:
        """Deliver until nothing is due (tests and the CLI)."""
        for _ in range(max_passes):
            if not await self.run_once():
                return

    async def _deliver(self, row: Claimed) -> None:
        async with self._limit:
            deferred: list[str] = []
            try:
                if row.channel == "slack":
                    await self._send_slack(row)
                else:
                    deferred, detail = await self._send_mail(row)
            except Permanent as exc:
                self._count(row.channel, "failed")
                async with self.core.uow(background=True) as uow:
                    await delivery.mark_failed(uow, row.id, self.name, str(exc), row.recipients)
                return
            except Exception as exc:  # 4xx, network, Slack down, template error: retry later
                log.warning("outbox %s (%s) attempt %s failed: %s", row.id, row.template, row.attempts, exc)
                self._count(row.channel, "retry")
                async with self.core.uow(background=True) as uow:
                    await delivery.mark_retry(uow, row.id, self.name, f"{type(exc).__name__}: {exc}")
                return
            self._count(row.channel, "retry" if deferred else "sent")
            async with self.core.uow(background=True) as uow:
                if deferred:
                    await delivery.mark_retry(uow, row.id, self.name, detail, recipients=deferred)
                else:
                    await delivery.mark_sent(uow, row.id, self.name)

    def _count(self, channel: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.mails_out.labels(channel=channel, result=result).inc()

    def healthy(self) -> bool:
        """False when the loop has not ticked for a minute (a hung relay, a dead task)."""
        running = self._task is None or not self._task.done()
        return running and time.monotonic() - self.last_tick < max(60.0, self.poll_seconds * 10)

    async def _send_slack(self, row: Claimed) -> None:
        assert self.slack_deliver is not None
        context = dict(row.context)
        if row.template == "request_followup" and not context.get("thread_ts"):
            async with self.core.uow(background=True) as uow:
                channel, ts = await contact_window.slack_thread(uow, int(context["number"]))
            context["channel"], context["thread_ts"] = channel, ts
        result = await self.slack_deliver(row.template, row.locale, context)
        if row.template == "request_new" and result and result.get("ts"):
            async with self.core.uow(background=True) as uow:
                await contact_window.record_slack_post(
                    uow, int(context["number"]), str(result.get("channel", "")), str(result["ts"])
                )

    def message(self, row: Claimed) -> EmailMessage:
        rendered = self.templates.render(row.template, row.locale, {**row.context, **row.secrets})
        return build_message(
            self.core.settings,
            rendered,
            to=row.recipients,
            message_id=row.message_id,
            template=row.template,
            headers=row.headers,
            date=row.created_at,
        )

    async def _send_mail(self, row: Claimed) -> tuple[list[str], str]:
        """Deferred recipients (and why) if some got a 4xx; raises when none got it."""
        msg = self.message(row)
        if self.relay is None:
            await asyncio.to_thread(self._write_eml, row, msg)
            return [], ""
        relay = self.relay
        try:
            refused, _reply = await aiosmtplib.send(
                msg,
                sender=self.core.settings.mail_from,
                recipients=row.recipients,
                hostname=relay.host,
                port=relay.port,
                username=relay.username,
                password=relay.password,
                start_tls=relay.starttls,
                use_tls=False,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = [r.recipient for r in exc.recipients if 500 <= r.code < 600]
            temporary = [r.recipient for r in exc.recipients if not 500 <= r.code < 600]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500]
            if temporary:
                if permanent:
                    async with self.core.uow(background=True) as uow:
                        await delivery.record_refused(uow, row.template, permanent, detail)
                raise RuntimeError(f"recipients deferred: {detail}") from exc
            raise Permanent(detail) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise Permanent(f"{exc.code} {exc.message}") from exc
            raise
        if refused:
            permanent = [addr for addr, resp in refused.items() if 500 <= resp.code < 600]
            detail = "; ".join(f"{addr}: {resp.code} {resp.message}" for addr, resp in refused.items())[:500]
            if permanent:
                async with self.core.uow(background=True) as uow:
                    await delivery.record_refused(uow, row.template, permanent, detail)
            temporary = [addr for addr, resp in refused.items() if not 500 <= resp.code < 600]
            if temporary:
                # Delivered to the others; only the deferred recipients are tried again.
                return temporary, detail
        return [], ""

    def _write_eml(self, row: Claimed, msg: EmailMessage) -> None:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        name = f"{row.id:08d}-{row.template}.eml"
        tmp = self.outbox_dir / f".{name}.{self.name}.tmp"
        tmp.write_bytes(msg.as_bytes())
        os.replace(tmp, self.outbox_dir / name)

    # -- lifecycle --------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                while not self._stopping and await self.run_once():
                    pass
            except Exception:  # database away: keep going, try again after the poll
                log.exception("outbox pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="madoguchi-outbox")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
