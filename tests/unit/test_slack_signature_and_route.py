"""The Slack door's own HMAC and subcommand routing give the answers of the plain ways:
``hmac.new(...).hexdigest()``, and the first of the longest subcommands scanned in order."""

from __future__ import annotations

import hashlib
import hmac
import random

from bot.app import hmac_pads, signature_hmac
from bot.commands import Sub, route
from bot.listeners import admin, support


def test_the_keyed_hmac_is_hmacs() -> None:
    rng = random.Random(20261202)
    for size in [0, 1, 20, 32, 63, 64, 65, 128, 300]:
        key = bytes(rng.randrange(256) for _ in range(size))
        pads = hmac_pads(key)
        for _ in range(20):
            message = bytes(rng.randrange(256) for _ in range(rng.randrange(600)))
            assert signature_hmac(pads, message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def scanned(subs: list[Sub], words: list[str]) -> tuple[Sub | None, list[str]]:
    """The router before its index: every subcommand tried in order."""
    lowered = [w.lower() for w in words]
    best: Sub | None = None
    for sub in subs:
        n = len(sub.words)
        if (best is None or n > len(best.words)) and tuple(lowered[:n]) == sub.words:
            best = sub
    return (best, words[len(best.words) :]) if best is not None else (None, words)


def test_routing_picks_what_a_scan_picks() -> None:
    rng = random.Random(7)
    for subs in (support.SUBS, admin.SUBS):
        vocabulary = [*sorted({w for sub in subs for w in sub.words}), "X", "zz", "KB", "Id"]
        for _ in range(5000):
            words = [rng.choice(vocabulary) for _ in range(rng.randrange(0, 5))]
            words = [w.upper() if rng.random() < 0.2 else w for w in words]
            assert route(subs, words) == scanned(subs, words), words
