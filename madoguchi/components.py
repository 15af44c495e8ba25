"""How a part of ``madoguchi serve`` plugs in: the ``Component`` shape and ``Runtime``.

Each door has one factory that builds it from what it needs (``web.pages.build``,
``bot.serve.build``, ``mail.serve.build``: core, the aiohttp app where it serves HTTP,
metrics) and returns an object with ``start``/``stop``/``healthy`` (structural typing:
doors never import this module) or ``None`` when it is off, saying why in one log line.
``madoguchi.serve`` imports those factories and lists them, each behind a one-line
adapter from ``Runtime``, in ``COMPONENTS``; it also builds the ports core's outbox
worker uses (the staff channel from ``bot``, the mail transport from ``mail``).

Lifecycle, in this order:
    migrate → every factory → HTTP listens → ``start()`` of each component in list order
    SIGTERM/SIGINT → HTTP stops accepting → ``stop()`` of each component in reverse
    order (stop accepting, finish what is in flight, return) → HTTP finishes in-flight
    requests → engine disposed → exit 0.

``healthy()`` is read by ``/readyz`` and ``/healthz`` (e.g. the outbox worker answers False when its loop
has not ticked for a while); both answer 503 when any component is unhealthy.
``/livez`` asks nothing of them: it answers while the event loop does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
    """What the composition root has when it builds the components."""

    settings: Settings
    core: Core
    app: web.Application
    metrics: Metrics
    # A name unique to this process (host:pid:random); the outbox worker's ``claimed_by``.
    instance: str
    smtp: bool = True
    worker: bool = True
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("madoguchi"))


# One entry of ``madoguchi.serve.COMPONENTS``.
Factory = Callable[[Runtime], Component | None]
