"""The mail door's two components for ``madoguchi serve`` (see ``madoguchi.components``).

``build_smtp``: the contact window's SMTP listener and its processor of stored mail.
``build_worker``: the outbox worker; Slack rows go to the Slack door's deliverer when
the Slack door is configured (imported here, in the composition factory only).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from madoguchi.components import Runtime
from mail.smtp import SMTPServer
from mail.worker import OutboxWorker, SlackDeliver

log = logging.getLogger("madoguchi.mail")


class SMTPComponent:
    name = "smtp"

    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def healthy(self) -> bool:
        return self.server.server is not None and self.server.server.is_serving()


class WorkerComponent:
    name = "outbox"

    def __init__(self, worker: OutboxWorker) -> None:
        self.worker = worker

    async def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    def healthy(self) -> bool:
        return self.worker.healthy()


def build_smtp(rt: Runtime) -> SMTPComponent | None:
    if not rt.smtp:
        log.info("mail door: inbound SMTP off (--no-smtp)")
        return None
    return SMTPComponent(SMTPServer(rt.core, metrics=rt.metrics))


def _slack_deliver(rt: Runtime) -> SlackDeliver | None:
    try:
        staff_posts: Any = importlib.import_module("bot.staff_posts")
    except ImportError:
        return None
    deliver: SlackDeliver | None = staff_posts.build_deliver(rt.core)
    return deliver


def build_worker(rt: Runtime) -> WorkerComponent | None:
    if not rt.worker:
        log.info("mail door: outbox worker off (--no-worker)")
        return None
    deliver = _slack_deliver(rt)
    if deliver is None:
        log.info("outbox worker: Slack delivery off; staff posts wait in the outbox until it is configured")
    worker = OutboxWorker(rt.core, slack_deliver=deliver, name=rt.instance, metrics=rt.metrics)
    where = "the relay" if rt.settings.relay_url else f".eml files in {rt.settings.outbox_dir}"
    log.info("outbox worker delivers mail to %s", where)
    return WorkerComponent(worker)
