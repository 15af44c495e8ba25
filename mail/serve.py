"""The mail door's component in ``madoguchi serve``: the contact window's SMTP listener.

``build(core, metrics=...)`` returns the listener with its processor of stored mail; the
composition root calls it (or not, with ``--no-smtp``). The outbox's side of the door is
``mail.transport``, which the root hands to core's outbox worker.
"""

from __future__ import annotations

from core.ports import Metrics
from core.unit_of_work import Core
from mail.smtp import SMTPServer


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


def build(core: Core, *, metrics: Metrics) -> SMTPComponent:
    return SMTPComponent(SMTPServer(core, metrics=metrics))
