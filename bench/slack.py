"""Throughput and latency of the Slack door against a bare Bolt app that only acks.

    .venv/bin/python -m bench.slack                 # both modes, c = 1/16/64, writes docs/performance.md
    .venv/bin/python -m bench.slack --seconds 1 --no-write

One server process per Bolt mode (``process_before_response`` True and False) serves, on
one aiohttp app, madoguchi's door at /slack/events and a bare Bolt ``AsyncApp`` whose
listener only acks at /bare/events; the load generator (this process, aiohttp) signs
every request like Slack. Storage is SQLite (a temp file), seeded with a customer who has
a support ID of three keys, and one fresh registration conversation per registration
request (the step measured is the support-key submission, a view_submission that answers
``response_action: update`` with the company step). Users' locales are known, so no Web
API call is made; the numbers are the door's own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

SECRET = "bench-signing-secret"
KEY = "SK-REGI-STER-7777"
ROOT = Path(__file__).resolve().parents[1]


# -- server side ----------------------------------------------------------------------


def settings_for(db: str, pbr: bool) -> Any:
    from core.config import Settings

    return Settings(
        DATABASE_URL=db,
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL="http://127.0.0.1:9/api/",  # never called: locales are seeded
        MADOGUCHI_SECRET_KEY="bench-secret-key",
        MADOGUCHI_VAR_DIR=str(Path(db.split("///", 1)[1]).parent / "var"),
        _env_file=None,
    )


async def serve(db: str, pbr: bool) -> None:
    import logging

    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp

    from bot.app import SlackDoor
    from core.storage import create_engine, session_factory
    from core.unit_of_work import Core

    logging.basicConfig(level=logging.WARNING)
    settings = settings_for(db, pbr)
    engine = create_engine(db)
    core = Core(session_factory(engine), settings)
    door = SlackDoor(core, process_before_response=pbr)
    app = web.Application()
    app.add_routes(door.routes())

    from slack_bolt.authorization import AuthorizeResult

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # As madoguchi's door does: the identity is known, no auth.test per request.
        return AuthorizeResult(enterprise_id=None, team_id=team_id, bot_token="xoxb-bare", bot_user_id="UB")

    bare = AsyncApp(
        authorize=authorize,
        signing_secret=SECRET,
        process_before_response=pbr,
        logger=logging.getLogger("bench.bare"),
    )
    logging.getLogger("bench.bare").setLevel(logging.WARNING)

    @bare.command("/support")
    async def only_ack(ack: Any) -> None:
        await ack()

    async def bare_handler(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bare.async_dispatch(await to_bolt_request(request)))

    app.router.add_post("/bare/events", bare_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    from madoguchi.serve import settle_heap

    settle_heap()  # as `madoguchi serve` does once started
    print(f"READY {port}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    await engine.dispose()


async def seed(db: str, conversations: int) -> list[tuple[str, str]]:
    """The customer U1 with a support ID, and ``conversations`` registrations waiting
    on the key step (one per user, since a user has one conversation at a time)."""
    from core import registration
    from core.actors import Actor
    from core.models import SlackUser
    from core.storage import create_engine, session_factory
    from core.unit_of_work import Core
    from migrations import upgrade
    from tests import factories

    engine = create_engine(db)
    await upgrade(engine)
    core = Core(session_factory(engine), settings_for(db, True))
    async with core.uow() as uow:
        company = await factories.company(uow, "ベンチ株式会社")
        contract = await factories.contract(uow, company, number="K-BENCH")
        for n in range(3):
            await factories.key(uow, contract, f"SK-BNCH-BNCH-000{n}")
        await factories.key(uow, await factories.contract(uow, company, number="K-BENCH2"), KEY)
        account = await factories.account(
            uow, company, "bench@customer.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        now = uow.clock.now()
        uow.session.add(SlackUser(team_id="T1", user_id="U1", locale="ja", updated_at=now))
        for n in range(conversations):
            uow.session.add(SlackUser(team_id="T1", user_id=f"R{n}", locale="ja", updated_at=now))
        await uow.commit()
    from core import support_ids

    async with core.uow() as uow:
        me = Actor(kind="account", ref="slack:T1:U1", door="slack", account_id=account.id)
        await support_ids.issue(uow, me, "SK-BNCH-BNCH-0000", "BENCH_01", "ベンチ")
        await support_ids.add_key(uow, me, "BENCH_01", "SK-BNCH-BNCH-0001")
        await support_ids.add_key(uow, me, "BENCH_01", "SK-BNCH-BNCH-0002")
    out = []
    for n in range(conversations):
        async with core.uow() as uow:
            view = await registration.start(uow, Actor(kind="anonymous", ref=f"slack:T1:R{n}", door="slack"))
            out.append((f"R{n}", view.conversation_id))
    await engine.dispose()
    return out


# -- load generator -------------------------------------------------------------------


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={sig}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(text: str) -> str:
    return urlencode(
        {
            "command": "/support",
            "text": text,
            "team_id": "T1",
            "user_id": "U1",
            "trigger_id": "t",
            "channel_id": "C1",
        }
    )


def step_body(user: str, cid: str) -> str:
    payload = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "trigger_id": "t",
        "view": {
            "id": "V1",
            "type": "modal",
            "hash": "h",
            "callback_id": "register",
            "private_metadata": cid,
            "blocks": [{"type": "context", "block_id": "step_support_key", "elements": []}],
            "state": {"values": {"support_key": {"value": {"type": "plain_text_input", "value": KEY}}}},
        },
    }
    return urlencode({"payload": json.dumps(payload)})


async def run_cell(
    url: str, bodies: Any, concurrency: int, seconds: float, expect: str
) -> tuple[float, float, float, int]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                body = bodies()
                if body is None:
                    return
                started = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=signed(body)) as resp:
                    text = await resp.text()
                latencies.append(time.perf_counter() - started)
                if resp.status != 200 or expect not in text:
                    raise RuntimeError(f"unexpected answer {resp.status}: {text[:200]}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return len(latencies) / elapsed, p50, p99, len(latencies)


async def bench(seconds: float, levels: list[int], conversations: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for pbr in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            db = f"sqlite+aiosqlite:///{tmp}/bench.db"
            pending = await seed(db, conversations)
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.slack", "--serve", db, "--pbr", "1" if pbr else "0"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                port = int(line.split()[1])
                base = f"http://127.0.0.1:{port}"
                help_body = command_body("help")
                list_body = command_body("id list")
                cases = [
                    ("bare Bolt, ack only", f"{base}/bare/events", lambda b=help_body: b, ""),
                    ("/support help", f"{base}/slack/events", lambda b=help_body: b, "/support id list"),
                    ("/support id list", f"{base}/slack/events", lambda b=list_body: b, "BENCH_01"),
                ]
                queue = iter(pending)

                def next_step(queue: Any = queue) -> str | None:
                    item = next(queue, None)
                    return None if item is None else step_body(*item)

                cases.append(("registration step (key)", f"{base}/slack/events", next_step, "step_company"))
                for name, url, bodies, expect in cases:
                    for c in levels:
                        await run_cell(url, bodies, c, min(0.3, seconds / 4), expect)  # warm-up
                        rps, p50, p99, n = await run_cell(url, bodies, c, seconds, expect)
                        rows.append(
                            {"mode": pbr, "case": name, "c": c, "rps": rps, "p50": p50, "p99": p99, "n": n}
                        )
                        print(
                            f"pbr={pbr!s:5} {name:26} c={c:<3} {rps:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  (n={n})"
                        )
            finally:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=30)
    return rows


def table(rows: list[dict[str, Any]], levels: list[int]) -> str:
    lines = [
        "| mode | request | " + " | ".join(f"c={c} req/s · p50 · p99 (ms)" for c in levels) + " |",
        "|---|---|" + "---|" * len(levels),
    ]
    for pbr in (True, False):
        for case in dict.fromkeys(r["case"] for r in rows):
            cells = []
            for c in levels:
                r = next((x for x in rows if x["mode"] == pbr and x["case"] == case and x["c"] == c), None)
                cells.append(f"{r['rps']:,.0f} · {r['p50']:.1f} · {r['p99']:.1f}" if r else "—")
            mode = "process_before_response" if pbr else "default (ack polling)"
            lines.append(f"| {mode} | {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_docs(body: str) -> None:
    path = ROOT / "docs" / "performance.md"
    # Only the table is rewritten; the analysis around it is written by a person.
    start, end = "<!-- slack-bench-table:start -->", "<!-- slack-bench-table:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n## Slack door — `bench/slack.py`\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", metavar="DB")
    parser.add_argument("--pbr", default="1")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--levels", default="1,16,64")
    # One conversation per registration request: enough for the warm-ups and the three
    # cells at ~1,300 key steps/s (a cell that runs out ends early, with fewer requests).
    parser.add_argument("--conversations", type=int, default=16000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.pbr == "1"))
        return
    levels = [int(x) for x in args.levels.split(",")]
    rows = asyncio.run(bench(args.seconds, levels, args.conversations))
    result = table(rows, levels)
    print(result)
    if not args.no_write:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_docs(
            f"Measured {stamp} with `python -m bench.slack` (SQLite, {args.seconds:g} s per cell).\n\n{result}"
        )


if __name__ == "__main__":
    main()
