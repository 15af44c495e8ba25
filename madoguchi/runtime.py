"""Building the core from settings, and the one-shot CLI commands."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core import housekeeping, importing
from core.actors import SYSTEM_CLI
from core.config import Settings
from core.messages import render
from core.storage import create_engine, session_factory
from core.unit_of_work import Core
from madoguchi.progress import ProgressPrinter
from migrations import current, upgrade


def build_core(settings: Settings) -> tuple[AsyncEngine, Core]:
    engine = create_engine(settings.database_url)
    return engine, Core(session_factory(engine), settings)


async def db_command(settings: Settings, command: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        if command == "upgrade":
            await upgrade(engine)
        print(await current(engine))
    finally:
        await engine.dispose()
    return 0


async def purge_command(settings: Settings) -> int:
    """``madoguchi purge``: what ``serve`` does every hour, once."""
    engine, core = build_core(settings)
    try:
        purged = await housekeeping.purge(core)
    finally:
        await engine.dispose()
    print(
        render(
            "housekeeping.summary",
            settings.locale,
            conversations=purged.conversations,
            tokens=purged.tokens,
            failures=purged.failures,
            outbox=purged.outbox,
        )
    )
    return 0


async def import_command(settings: Settings, path: str) -> int:
    """``madoguchi import FILE.json``: progress on stderr, the summary on stdout."""
    source = Path(path)
    if not source.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    report = await _import(settings, source, quiet=False)
    return 0 if report is not None else 1


async def _import(settings: Settings, source: Path, *, quiet: bool) -> importing.ImportReport | None:
    engine, core = build_core(settings)
    printer = None if quiet else ProgressPrinter(sys.stderr, locale=settings.locale)
    try:
        async with core.uow() as uow:
            report = await importing.import_file(uow, SYSTEM_CLI, source, progress=printer)
    except importing.ImportRejected as error:
        if printer is not None:
            printer.finish()
        print(importing.describe(error, settings.locale), file=sys.stderr)
        return None
    finally:
        await engine.dispose()
    if printer is not None:
        printer.finish()
    if not quiet:
        print(summary(report, settings.locale))
    return report


def summary(report: importing.ImportReport, locale: str) -> str:
    lines = [render("import.summary.title", locale, rows=f"{report.rows:,}", seconds=f"{report.seconds:.1f}")]
    if not report.changed:
        lines.append(render("import.summary.unchanged", locale))
    lines.append("  " + render("import.summary.header", locale))
    for kind, counts in importing.total_line(report):
        label = render(f"import.kind.{kind}", locale)
        lines.append(f"  {label}: {counts.created:,} / {counts.updated:,} / {counts.unchanged:,}")
    return "\n".join(lines)


DEMO_FILE = Path(__file__).resolve().parent / "demo" / "demo.json"


async def demo_command(settings: Settings) -> int:
    """``madoguchi demo``: the demo file through the same import (idempotent), then the
    keys a newcomer can register with. They are demo data, so printing them is fine."""
    report = await _import(settings, DEMO_FILE, quiet=True)
    if report is None:
        return 1
    print(summary(report, settings.locale))
    print(demo_keys(settings.locale))
    return 0


def demo_keys(locale: str) -> str:
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    names = {c["code"]: c["name"] for c in data["companies"]}
    in_support_id = {key: sid for sid in data["support_ids"] for key in sid["keys"]}
    today = date.today()
    lines = [render("import.demo.title", locale)]
    for contract in data["contracts"]:
        valid = date.fromisoformat(contract["starts_on"]) <= today <= date.fromisoformat(contract["ends_on"])
        for key in contract["keys"]:
            sid = in_support_id.get(key)
            if sid is not None:
                note = render(
                    "import.demo.migrated",
                    locale,
                    support_id=sid["name"],
                    contacts=", ".join(sid["contacts"]),
                )
            else:
                note = render("import.demo.valid" if valid else "import.demo.expired", locale)
            lines.append(
                f"  {key}  {names[contract['company']]} {contract['number']} "
                f"{contract['starts_on']}..{contract['ends_on']}  {note}"
            )
    return "\n".join(lines)
