"""``madoguchi check``: is this host ready to ``serve``? One verdict line per part.

An operator runs it after every change of configuration or version, and a deploy script
may gate on it: each part prints ``OK``, ``FAIL`` (with what to do next) or ``SKIP``
(not configured, or not checkable because the configuration is not readable), and the
exit status is 1 when any part failed. The parts are asked the way ``serve`` would ask
them, with a deadline each, so a hanging relay or database shows as a FAIL, not a hang:

- configuration: the environment and ``.env`` parse; PostgreSQL has a shared secret key;
- database: it answers and its schema is at this version's head (``db upgrade`` otherwise);
- outgoing mail: the relay answers EHLO and NOOP (with STARTTLS/AUTH as configured), or,
  with no relay, the ``.eml`` folder is writable;
- Slack: ``auth.test`` accepts the bot token (and the app token opens a Socket Mode
  connection), asked of SLACK_API_URL.

Error texts are scrubbed like log lines (a database URL's password never reaches a
terminal or a CI log).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url

from bot.serve import token_answers
from core.config import Settings
from core.messages import LOCALES, render
from core.storage import create_engine
from madoguchi.logs import scrub
from mail import relay as relays
from migrations import current, head, known

TIMEOUT = 10.0


@dataclass(frozen=True)
class Verdict:
    part: str  # config, database, mail, slack
    verdict: str  # OK, FAIL, SKIP
    message: str  # its catalog id
    params: dict[str, object]

    def line(self, locale: str) -> str:
        text = render(self.message, locale, **self.params)
        part = render(f"check.part.{self.part}", locale)
        return render("check.verdict", locale, verdict=self.verdict, part=part, text=text)


def _error(exc: BaseException) -> str:
    text = str(exc).strip()
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return scrub(described)[:300]


def configuration(settings: Settings) -> Verdict:
    backend = make_url(settings.database_url).get_backend_name()
    if backend == "postgresql" and not settings.secret_key:
        return Verdict("config", "FAIL", "check.config.secret_key", {})
    return Verdict(
        "config",
        "OK",
        "check.config.ok",
        {"dialect": backend, "locale": settings.locale, "level": settings.log_level},
    )


def invalid(error: ValidationError) -> list[Verdict]:
    """One FAIL per bad setting: its name and pydantic's reason, never the value given."""
    found = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "?"
        found.append(
            Verdict("config", "FAIL", "check.config.invalid", {"field": field, "reason": problem["msg"]})
        )
    return found


async def database(settings: Settings) -> Verdict:
    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(TIMEOUT):
            revision = await current(engine)
    except Exception as exc:
        return Verdict("database", "FAIL", "check.database.unreachable", {"error": _error(exc)})
    finally:
        await engine.dispose()
    wanted = head()
    if revision is None:
        return Verdict("database", "FAIL", "check.database.empty", {})
    if revision not in known():
        return Verdict("database", "FAIL", "check.database.ahead", {"current": revision, "head": wanted})
    if revision != wanted:
        return Verdict("database", "FAIL", "check.database.behind", {"current": revision, "head": wanted})
    return Verdict("database", "OK", "check.database.ok", {"revision": revision})


async def mail(settings: Settings) -> Verdict:
    if not settings.relay_url:
        return _eml_folder(settings.outbox_dir)
    try:
        relay = relays.Relay.from_url(settings.relay_url)
    except ValueError:
        return Verdict("mail", "FAIL", "check.mail.relay_invalid", {})
    where = f"{relay.host}:{relay.port}"
    try:
        answer = await relays.probe(relay, timeout=TIMEOUT)
    except Exception as exc:
        return Verdict("mail", "FAIL", "check.mail.relay_failed", {"relay": where, "error": _error(exc)})
    return Verdict("mail", "OK", "check.mail.relay_ok", {"relay": where, "answer": scrub(answer)[:120]})


def _eml_folder(folder: Path) -> Verdict:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".check-", delete=True) as probe:
            probe.write(b"madoguchi check\n")
            probe.flush()
    except OSError as exc:
        return Verdict(
            "mail", "FAIL", "check.mail.files_failed", {"folder": str(folder), "error": _error(exc)}
        )
    return Verdict("mail", "OK", "check.mail.files_ok", {"folder": str(folder.resolve())})


async def slack(settings: Settings) -> Verdict:
    credentials = settings.slack_multi_workspace or settings.slack_bot_token
    if credentials and not (settings.slack_signing_secret or settings.slack_app_token):
        # serve would leave the door off (said once in its log): say it here, louder.
        return Verdict("slack", "FAIL", "check.slack.no_secret", {})
    if settings.slack_multi_workspace:
        return Verdict("slack", "OK", "check.slack.oauth", {"public_url": settings.public_url.rstrip("/")})
    if not settings.slack_bot_token:
        return Verdict("slack", "SKIP", "check.slack.off", {})
    try:
        async with asyncio.timeout(TIMEOUT):
            answer = await token_answers(settings, timeout=int(TIMEOUT))
    except SlackApiError as exc:
        code = exc.response.get("error") if exc.response is not None else None
        return Verdict("slack", "FAIL", "check.slack.refused", {"error": scrub(str(code or "error"))})
    except Exception as exc:
        return Verdict("slack", "FAIL", "check.slack.unreachable", {"error": _error(exc)})
    team = str(answer.get("team") or answer.get("team_id") or "?")
    return Verdict("slack", "OK", "check.slack.ok", {"team": team, "user": str(answer.get("user_id", "?"))})


def _locale(settings: Settings | None) -> str:
    if settings is not None:
        return settings.locale
    wanted = os.environ.get("MADOGUCHI_LOCALE", "ja").strip().lower()
    return wanted if wanted in LOCALES else "ja"


async def run(load: Callable[[], Settings] = Settings, out: TextIO = sys.stdout) -> int:
    """Every part, in order; 0 when none failed."""
    settings: Settings | None
    try:
        settings = load()
    except ValidationError as error:
        settings = None
        verdicts = invalid(error)
        verdicts += [
            Verdict(part, "SKIP", "check.config.skipped", {}) for part in ("database", "mail", "slack")
        ]
    else:
        verdicts = [
            configuration(settings),
            await database(settings),
            await mail(settings),
            await slack(settings),
        ]
    locale = _locale(settings)
    for verdict in verdicts:
        print(verdict.line(locale), file=out)
    failed = sum(v.verdict == "FAIL" for v in verdicts)
    print(
        render("check.summary.failed", locale, count=failed)
        if failed
        else render("check.summary.ok", locale),
        file=out,
    )
    return 1 if failed else 0
