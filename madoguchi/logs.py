"""Structured log lines: one JSON object per line, secrets scrubbed.

Every record becomes ``{"ts", "level", "logger", "msg", ...extra}``. The scrubber is a
last line of defence: callers log route templates and ids, never links or tokens, but a
library message (an exception text quoting a URL, a Slack error echoing a token) must
not carry one to the log either.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_SECRET_PATTERNS = (
    # Activation / reset links: the token is the last path segment.
    (re.compile(r"(/(?:activate|reset)/)[A-Za-z0-9_\-]{8,}"), r"\1[redacted]"),
    # Slack tokens (bot, user, app, config, refresh).
    (re.compile(r"\bxox[abeprs]-[A-Za-z0-9-]+"), "[redacted-slack-token]"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "[redacted-slack-token]"),
    # user:password@ in URLs (relay, database).
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
    # Support-key shaped strings such as SK-7Q2M-4TXA-9KPL.
    (re.compile(r"\b[A-Z]{2}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b"), "[redacted-key]"),
)

# One search over all the patterns first: nearly every log text holds no secret, and one
# scan is a fifth of the five substitutions' cost (docs/performance.md, issue 16).
_ANY_SECRET = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _r in _SECRET_PATTERNS))

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def scrub(text: str) -> str:
    # Every pattern above needs a "-" or a "/": most log texts (ids, names, domains)
    # have neither and are let through without a regular expression.
    if "-" not in text and "/" not in text:
        return text
    if _ANY_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# One encoder for every line: ``json.dumps`` with options builds a new one per call
# (a fifth of a line's cost in a mail burst).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        fields = record.__dict__
        for key in fields.keys() - _RESERVED:
            if not key.startswith("_"):
                value = fields[key]
                out[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return _ENCODER.encode(out)


def configure(level: int | str = logging.INFO) -> None:
    """Route every logger (ours and the libraries') through the JSON formatter, for every
    command (``level``: MADOGUCHI_LOG_LEVEL, a name or a number)."""
    # The JSON line never shows thread or process names: records need not look them up
    # (the logging HOWTO's "Optimization"; ~15 µs of a 75 µs line, three lines a mail).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Nor the caller's file and line: no stack walk for each record (same HOWTO section).
    logging._srcfile = None
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log prints raw paths (tokens); serve logs requests itself.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiosmtpd logs every SMTP command with the addresses in it: personal data, and
    # thousands of lines in a burst. The mail door logs what matters itself.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
