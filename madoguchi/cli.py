"""The ``madoguchi`` command: the only place that reads settings and builds engines.

madoguchi --version        print the installed version
madoguchi db upgrade        bring the schema to the current migration
madoguchi import FILE.json  load the vendor's companies, contracts, keys, support IDs
madoguchi demo              load the demo data (idempotent)
madoguchi serve             HTTP (Slack, web pages, /healthz), SMTP and the outbox worker
madoguchi purge             delete what is kept only for a while (serve does it hourly)
madoguchi check             configuration, database, relay and Slack token: OK / FAIL each
madoguchi --version         the installed version (also ``python -m madoguchi --version``)

Every command logs JSON lines to stderr, secrets scrubbed (``madoguchi.logs``), at
MADOGUCHI_LOG_LEVEL; what a command reports goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from core.config import MissingSecretKey, Settings
from madoguchi import logs
from madoguchi.version import version


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="madoguchi", description="madoguchi support front desk")
    parser.add_argument("--version", action="version", version=f"madoguchi {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the schema to the newest revision")
    db_sub.add_parser("current", help="print the schema revision")
    imp = sub.add_parser("import", help="import a vendor data file (SPEC §3)")
    imp.add_argument("file")
    sub.add_parser("demo", help="load the demo data")
    sub.add_parser("purge", help="delete expired conversations, old tokens, failures and sent outbox rows")
    sub.add_parser("check", help="check configuration, database, relay and Slack token (exit 1 on any FAIL)")
    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--no-smtp", action="store_true", help="do not run the inbound SMTP server")
    serve.add_argument("--no-worker", action="store_true", help="do not run the outbox worker")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate at start")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # What the service writes is private to its user (core/private_files.py), including
    # what libraries create on their own (SQLite's temporary files, spooled mail).
    os.umask(0o077)
    try:
        return _command(argv)
    except MissingSecretKey as refusal:
        print(f"madoguchi: {refusal}", file=sys.stderr)
        return 2


def _command(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    logs.configure()
    if args.command == "check":  # reads the settings itself: a bad one is a FAIL line
        from madoguchi import check

        return asyncio.run(check.run())
    settings = Settings()
    logs.configure(settings.log_level)
    if args.command == "db":
        from madoguchi import runtime

        return asyncio.run(runtime.db_command(settings, args.db_command))
    if args.command == "import":
        from madoguchi import runtime

        return asyncio.run(runtime.import_command(settings, args.file))
    if args.command == "demo":
        from madoguchi import runtime

        return asyncio.run(runtime.demo_command(settings))
    if args.command == "purge":
        from madoguchi import runtime

        return asyncio.run(runtime.purge_command(settings))
    if args.command == "serve":
        from madoguchi import serve

        return asyncio.run(
            serve.serve(
                settings, smtp=not args.no_smtp, worker=not args.no_worker, migrate=not args.no_migrate
            )
        )
    return 2


if __name__ == "__main__":
    sys.exit(main())
