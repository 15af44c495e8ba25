"""Every listener of the Slack door, registered on one ``SlackDoor``.

Each module has ``register(door)``; listeners are closures over the door, so services
reach them without globals. A listener parses the payload, calls a core service and
renders Block Kit; errors go to the one ``@app.error`` handler in ``errors``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import SlackDoor

MODULES = ("errors", "events", "support", "admin", "registration", "home", "staff_actions")


def register(door: SlackDoor) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(f"bot.listeners.{name}")
        except ImportError as exc:  # a core service this module needs has not landed yet
            logging.getLogger("madoguchi.slack").warning("slack: %s listeners off (%s)", name, exc.name)
            continue
        module.register(door)
