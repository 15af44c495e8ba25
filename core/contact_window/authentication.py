"""What the MTA in front of us says about a mail's sender: its RFC 8601
``Authentication-Results`` (DMARC) and its spam verdict, and whether that forbids an
automatic answer (backscatter: an acknowledgement to a forged sender hits a stranger).

Anybody can write these headers into a message, so only the MTA we run in front is
believed, and only where it alone can have written:

- ``Authentication-Results``: a header whose authserv-id is one of
  MADOGUCHI_TRUSTED_AUTHSERV_IDS, and of those only the topmost. An MTA prepends its
  header, so anything below came with the message; RFC 8601 §5 also has the MTA remove
  incoming headers that claim its own authserv-id. Headers of other authserv-ids are
  ignored wherever they are. ``dmarc=fail`` there means "no automatic answer".
- Spam verdicts (``X-Spam-Flag: YES``, ``X-Spam-Status: Yes, …``, ``X-Spam: yes``), only
  while a trusted MTA is configured, and wherever they stand: a filter may append rather
  than prepend, and a forged "yes" can only withhold an automatic answer from the
  address the forger claims, which is exactly the mail this rule exists for.

Nothing here decides whether staff see the mail: they always do. Database-free and pure,
so the assessment runs it in the mail door's parser process. Unset
MADOGUCHI_TRUSTED_AUTHSERV_IDS believes nothing, as before this module existed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.config import Settings

# The trace headers the mail door hands over, top first (lower-cased names).
AUTHENTICATION_RESULTS = "authentication-results"
SPAM_HEADERS = ("x-spam-flag", "x-spam-status", "x-spam")
TRACE_HEADERS = (AUTHENTICATION_RESULTS, *SPAM_HEADERS)
MAX_TRACE_HEADERS = 50

DMARC_FAIL = "dmarc_fail"
SPAM = "spam"

_RESULT = re.compile(r"^\s*([a-z0-9][a-z0-9_.-]*)\s*(?:/\s*\d+\s*)?=\s*\"?([a-z0-9_.-]*)")


@dataclass(frozen=True)
class AuthenticationResults:
    """One ``Authentication-Results`` header: who wrote it and each method's results."""

    authserv_id: str
    results: dict[str, tuple[str, ...]] = field(default_factory=dict)  # method → results


def _without_comments(value: str) -> str:
    """The header without its RFC 5322 comments (nested parentheses), quoted strings kept."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            out.append(ch)
            quoted = ch != '"'
            continue
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = ch == '"'
            out.append(ch)
    return "".join(out)


def _split(value: str) -> list[str]:
    """``;``-separated parts, a ``;`` inside a quoted string kept."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """``authserv-id [version]; method=result …; …`` (RFC 8601 §2.2); None if there is
    no authserv-id to read."""
    parts = _split(_without_comments(value.replace("\r", " ").replace("\n", " ")))
    head = parts[0].split()
    if not head:
        return None
    authserv_id = head[0].strip('"').lower()
    results: dict[str, list[str]] = {}
    for part in parts[1:]:
        match = _RESULT.match(part.lower())
        if match is not None and match.group(2):
            results.setdefault(match.group(1), []).append(match.group(2))
    return AuthenticationResults(authserv_id, {k: tuple(v) for k, v in results.items()})


def _spam_verdict(name: str, value: str) -> bool:
    words = value.strip().lower().replace(",", " ").split()
    return bool(words) and words[0] == "yes" and name in SPAM_HEADERS


def suspicion(settings: Settings, trace: list[tuple[str, str]]) -> str | None:
    """Why the trusted MTA's verdict forbids an automatic answer (``dmarc_fail``,
    ``spam``), or None. ``trace`` is the mail's trace headers, top first."""
    trusted = {i.lower() for i in settings.trusted_authserv_ids}
    if not trusted:
        return None
    for name, value in trace:
        if name != AUTHENTICATION_RESULTS:
            continue
        parsed = parse_authentication_results(value)
        if parsed is None or parsed.authserv_id not in trusted:
            continue
        if "fail" in parsed.results.get("dmarc", ()):
            return DMARC_FAIL
        break  # the topmost trusted header decides; whatever is below came with the mail
    if any(_spam_verdict(name, value) for name, value in trace):
        return SPAM
    return None
