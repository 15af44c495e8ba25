"""How a door plugs into ``madoguchi serve``.

Each door exposes one factory ``build(rt: Runtime) -> Component | None``, named in
``madoguchi.serve.COMPONENTS`` as ``"package.module:function"``. The factory runs once,
before anything listens: it may add routes to ``rt.app`` (the one aiohttp application)
and returns an object with ``start``/``stop``, or ``None`` when the settings or the
role switches (``rt.smtp``, ``rt.worker``) turn it off — say why in one log line.

Lifecycle, in this order:
    migrate → every factory → HTTP listens → ``start()`` of each component in list order
    SIGTERM/SIGINT → HTTP stops accepting → ``stop()`` of each component in reverse
    order (stop accepting, finish what is in flight, return) → HTTP finishes in-flight
    requests → engine disposed → exit 0.

``healthy()`` is read by ``/healthz`` (e.g. the outbox worker answers False when its loop
has not ticked for a while); ``/healthz`` answers 503 when any component is unhealthy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from core.config import Settings
from core.unit_of_work import Core
from madoguchi.metrics import Metrics


class Component(Protocol):
    name: str

    async def start(self) -> None:
        """Begin listening / start background tasks; return once running."""
        ...

    async def stop(self) -> None:
        """Stop accepting new work, finish in-flight work, then return."""
        ...

    def healthy(self) -> bool:
        """False when the component is running but stuck (shown by /healthz)."""
        ...


@dataclass
class Runtime:
    """What the composition root hands every door's factory."""

    settings: Settings
    core: Core
    app: web.Application
    metrics: Metrics
    # A name unique to this process (host:pid:random); use it for outbox ``claimed_by``.
    instance: str
    smtp: bool = True
    worker: bool = True
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("madoguchi"))


class RoutesOnly:
    """A component that only adds HTTP routes (start/stop have nothing to do)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def healthy(self) -> bool:
        return True
