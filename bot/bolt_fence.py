"""The Bolt fence: the one place that reaches into slack-bolt's internals, for speed.

Mirrors **slack-bolt 1.30** (pinned ``<1.31`` in pyproject.toml). Every other module in
``bot/`` uses Bolt as its documentation shows; what is here replaces two internal steps
with equivalents that give the same answers for less CPU, measured on the ask modal's
submission (docs/performance.md, "Inquiries at scale"):

- **Matching listeners.** Bolt tries the listeners in order and asks each built-in
  matcher (``app.view("inquiry")``, ``app.action(...)``) through its keyword-argument
  injection, which builds the request's whole argument set each time: ~30 µs a matcher,
  and a view submission passes ~25 of them before its own. A built-in matcher's function
  takes the body only (``slack_bolt/listener_matcher/builtins.py``,
  ``build_listener_matcher``), so it is called with the body directly.
- **Parsing the form body.** Slack sends interactive payloads as ``payload=<JSON>``,
  percent-encoded; a modal in Japanese is thousands of escapes, and
  ``urllib.parse.parse_qsl`` decodes them one at a time in Python (~0.6 ms for the ask
  modal). ``parse_body`` here is Bolt's ``slack_bolt.request.internals.parse_body`` with
  a ``parse_qsl`` that decodes them in C (0.02 ms) — the same result for every input
  (tests/unit/test_bolt_fence.py compares both on hostile and random bodies).

``install()`` is idempotent; with any other Bolt version it changes nothing (stock Bolt
is correct, only slower) and logs why.
"""

from __future__ import annotations

import binascii
import json
import logging
import urllib.parse
from importlib.metadata import version
from typing import Any

from slack_bolt.listener_matcher.async_builtins import AsyncBuiltinListenerMatcher
from slack_bolt.request import async_request

log = logging.getLogger("madoguchi.slack")

MIRRORED = "1.30."


def unquote_plus(text: str) -> str:
    """``urllib.parse.unquote_plus(text)`` (UTF-8, errors="replace").

    urllib decodes an ASCII string's escapes one by one in Python. Quoted-printable is
    the same escaping with ``=`` for ``%``, and ``binascii.a2b_qp`` decodes it in C; it
    differs only around a ``=`` of the input, line breaks, and escapes that are not two
    hex digits. The first two are ruled out before; the third shows in the length (each
    valid escape shortens the text by exactly two, an invalid one by one at most), and
    anything unusual takes urllib's own path."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if text.isascii() and "=" not in text and "\n" not in text and "\r" not in text:
        raw = binascii.a2b_qp(text.replace("%", "="))
        if len(raw) == len(text) - 2 * text.count("%"):
            return raw.decode("utf-8", "replace")
    return urllib.parse.unquote(text)


def parse_qsl(body: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(body, keep_blank_values=True)`` as of Python 3.11–3.13:
    ``&``-separated, empty fields skipped, a field without ``=`` kept with an empty
    value."""
    pairs = []
    for field in body.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def parse_body(body: str, content_type: str | None) -> Any:
    """``slack_bolt.request.internals.parse_body`` (1.30) on ``parse_qsl`` above."""
    if not body:
        return {}
    if (content_type is not None and content_type == "application/json") or body.startswith("{"):
        return json.loads(body)
    if "payload" in body:
        payload = dict(parse_qsl(body)).get("payload")
        return json.loads(payload) if payload is not None else {}
    return dict(parse_qsl(body))


_installed = False


def install() -> None:
    """Put the two equivalents in place (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    found = version("slack-bolt")
    if not found.startswith(MIRRORED):
        log.warning("slack: slack-bolt %s, fence mirrors %sx: Bolt runs unmodified", found, MIRRORED)
        return
    stock = AsyncBuiltinListenerMatcher.async_matches

    async def async_matches(self: AsyncBuiltinListenerMatcher, req: Any, resp: Any) -> bool:
        if self.arg_names == ["body"]:
            return bool(await self.func(body=req.body))  # type: ignore[misc]
        return await stock(self, req, resp)

    AsyncBuiltinListenerMatcher.async_matches = async_matches  # type: ignore[method-assign]
    async_request.parse_body = parse_body  # type: ignore[attr-defined]
