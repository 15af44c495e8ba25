"""The slash commands' router: subcommands (``Sub``), matching the typed words to one,
checking its arity and the usage line, for ``/support`` and ``/support-admin`` alike.

Words only: which core service a subcommand calls is its handler's business, in the
listener that owns the command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import blocks as bk
from bot.who import Who

Blocks = list[bk.Block]
# A handler gets the request's unit of work, or a snapshot when every use case only reads.
Handler = Callable[[Any, Who, list[str], Any], Awaitable[Blocks]]


@dataclass(frozen=True)
class Sub:
    words: tuple[str, ...]  # the subcommand's own words, e.g. ("key", "add")
    usage: str  # the argument part shown in the usage line
    min_args: int
    max_args: int | None  # None: the rest of the text is free (a description)
    handler: Handler
    # The core use cases the handler calls: core decides from them whether the request
    # reads a snapshot or needs a unit of work (core.snapshots.open_for). None: it only
    # renders.
    uses: tuple[Callable[..., Any], ...] = ()


def usage_blocks(command: str, sub: Sub, locale: str) -> Blocks:
    usage = bk.code(" ".join(part for part in (command, *sub.words, sub.usage) if part))
    return [bk.section(bk.say("slack.usage.prefix", locale, usage=usage))]


class Router:
    """A command's subcommands indexed by their words, built once at import (a command's
    list is fixed): routing is one dictionary look-up per length, longest first, instead
    of a scan of every subcommand on every command."""

    def __init__(self, subs: list[Sub]) -> None:
        self.by_words: dict[tuple[str, ...], Sub] = {}
        for sub in subs:
            self.by_words.setdefault(sub.words, sub)  # the first of equals, as listed
        self.longest = max((len(sub.words) for sub in subs), default=0)

    def route(self, words: list[str]) -> tuple[Sub | None, list[str]]:
        """The longest subcommand whose words start the text, and the remaining words."""
        lowered = tuple(w.lower() for w in words[: self.longest])
        for n in range(len(lowered), -1, -1):
            best = self.by_words.get(lowered[:n])
            if best is not None:
                return best, words[n:]
        return None, words


def arity_ok(sub: Sub, args: list[str]) -> bool:
    return len(args) >= sub.min_args and (sub.max_args is None or len(args) <= sub.max_args)


def mail_arg(text: str) -> str:
    """Slack turns typed addresses into ``<mailto:a@b|a@b>``; take the address."""
    if text.startswith("<mailto:") and text.endswith(">"):
        return text[len("<mailto:") : -1].split("|", 1)[0]
    return text
