"""The subcommand router's index gives the answer of the plain way: the first of the
longest subcommands scanned in order."""

from __future__ import annotations

import random

from bot.commands import Router, Sub
from bot.listeners import admin, support


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
        router = Router(subs)
        vocabulary = [*sorted({w for sub in subs for w in sub.words}), "X", "zz", "KB", "Id"]
        for _ in range(5000):
            words = [rng.choice(vocabulary) for _ in range(rng.randrange(0, 5))]
            words = [w.upper() if rng.random() < 0.2 else w for w in words]
            assert router.route(words) == scanned(subs, words), words
