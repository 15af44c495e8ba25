"""Inquiries at scale (issue 12): the lookups a customer waits for on a database holding
a vendor's whole history, beside a near-empty one, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.inquiries                       # 1,000,000 inquiries, SQLite + PostgreSQL
    .venv/bin/python -m bench.inquiries --inquiries 100000 --no-postgres

1. Fills a fresh database in bulk: ``--support-ids`` (100,000) support IDs of other
   customers, each with an active contact account and an in-force contract, holding
   ``--inquiries`` (1,000,000) inquiries with ``--messages`` (5) messages each; and a
   near-empty one (the same measured user only). Both get the measured user: one
   account, contact of three support IDs, with 30 inquiries of its own.
2. Measures at concurrency 16, through the same core functions the doors call and, when
   the Slack door has the command, over /slack/events with signed requests as Slack
   sends them: ``/support inquiries`` (open ones of a support ID), ``/support inquiries
   ID all``, ``/support inquiry show``; and the ask submission (``open_inquiry``: checks,
   the inquiry, its first message, the acknowledgement and the staff post), in core and
   as the ask modal's signed ``view_submission`` (callback_id ``inquiry``) to the door.
3. Prints p50/p99 per lookup and database and writes its section of docs/performance.md
   (between the inquiries markers) unless ``--no-write``.

Mail intake to the inquiry address is measured by ``bench.mail --to inquiry`` (the same
harness as the contact window's, so the two rates come from one run).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.door_process import DoorProcess  # noqa: E402
from bench.scale import OUT, fresh_database, measure, pg_admin  # noqa: E402
from core import inquiries, support_keys  # noqa: E402
from core.actors import Actor  # noqa: E402
from core.clock import JST, FrozenClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.inquiries.tables import Inquiry, InquiryMessage  # noqa: E402
from core.models import Account, Company, Contract, SupportId, SupportIdContact, SupportKey  # noqa: E402
from core.storage import create_engine, session_factory  # noqa: E402
from core.unit_of_work import Core  # noqa: E402
from migrations import upgrade  # noqa: E402

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=JST)
SECRET = "bench-secret-key-not-for-production"
SIGNING_SECRET = "bench-signing-secret"
CONCURRENCY = 16
ROUNDS = 2
WARMUP = 64
BATCH = 20_000
MARK_BEGIN = "<!-- inquiries:begin -->"
MARK_END = "<!-- inquiries:end -->"
FAMILY = "製品Aファミリ"
USER_EMAIL = "asker@bench-customer.example.jp"
USER_SUPPORT_IDS = ("BENCH_A", "BENCH_B", "BENCH_C")
USER_INQUIRIES = 30


def settings_for(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "DATABASE_URL": url,
        "MADOGUCHI_SECRET_KEY": SECRET,
        "MADOGUCHI_STAFF_USERS": "USTAFF1",
        "MADOGUCHI_STAFF_CHANNEL": "CSTAFF",
        **extra,
    }


def core_for(url: str, **extra: Any) -> Core:
    settings = Settings(**settings_for(url, **extra), _env_file=None)
    return Core(session_factory(create_engine(url)), settings, FrozenClock(NOW))


def _account(email: str, company_id: int, now: datetime) -> dict[str, Any]:
    return {
        "email": email,
        "company_id": company_id,
        "last_name": "山田",
        "first_name": "太郎",
        "last_name_kana": "ヤマダ",
        "first_name_kana": "タロウ",
        "phone": "03-0000-0000",
        "postal_code": "1000001",
        "prefecture": "東京都",
        "city": "千代田区",
        "street": "1-1",
        "privacy_consented_at": now,
        "created_at": now,
        "status": "active",
    }


async def _ids(core: Core, query: Any) -> dict[str, int]:
    async with core.uow() as uow:
        return {str(k): int(v) for k, v in (await uow.session.execute(query)).all()}


async def load_history(core: Core, support_ids: int, count: int, messages: int) -> float:
    """Other customers' support IDs and ``count`` inquiries with ``messages`` messages
    each, spread over the support IDs, in bulk. Returns the seconds it took."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    async with core.uow() as uow:
        company = Company(code="CLOAD", name="他社", name_norm="他社", postal_code="", address="", phone="")
        uow.session.add(company)
        await uow.session.flush()
        company_id = company.id
        await uow.commit()
    for start in range(0, support_ids, BATCH):
        ids = range(start, min(support_ids, start + BATCH))
        async with core.uow() as uow:
            s = uow.session
            await s.execute(
                insert(Account), [_account(f"load{n}@other.example.jp", company_id, now) for n in ids]
            )
            await s.execute(
                insert(SupportId),
                [{"name": f"LOAD{n:07d}", "name_key": f"load{n:07d}", "description": "", "created_at": now}
                 for n in ids],
            )  # fmt: skip
            await s.execute(
                insert(Contract),
                [{"number": f"L-{n:08d}", "company_id": company_id, "product_family": FAMILY,
                  "end_user": "他社", "starts_on": date(2024, 1, 1), "ends_on": date(2027, 12, 31),
                  "requires_terms": False} for n in ids],
            )  # fmt: skip
            await uow.commit()
    accounts = await _ids(core, select(Account.email, Account.id).where(Account.email.like("load%")))
    sids = await _ids(core, select(SupportId.name, SupportId.id).where(SupportId.name.like("LOAD%")))
    contracts = await _ids(core, select(Contract.number, Contract.id).where(Contract.number.like("L-%")))
    for start in range(0, support_ids, BATCH):
        ids = range(start, min(support_ids, start + BATCH))
        async with core.uow() as uow:
            await uow.session.execute(
                insert(SupportKey),
                [{"key_hash": support_keys.digest(uow.hasher, f"LOAD{n:08d}"), "last4": f"{n % 10_000:04d}",
                  "contract_id": contracts[f"L-{n:08d}"], "support_id_id": sids[f"LOAD{n:07d}"],
                  "issued_via": "import"} for n in ids],
            )  # fmt: skip
            await uow.session.execute(
                insert(SupportIdContact),
                [{"support_id_id": sids[f"LOAD{n:07d}"], "account_id": accounts[f"load{n}@other.example.jp"],
                  "added_at": now} for n in ids],
            )  # fmt: skip
            await uow.commit()
    statuses = ("new", "in_progress", "answered", "closed", "closed", "closed")
    first_id = 0
    for start in range(0, count, BATCH):
        ids = range(start, min(count, start + BATCH))
        rows = []
        for n in ids:
            owner = n % support_ids
            at = now - timedelta(minutes=n)
            rows.append(
                {"support_id_id": sids[f"LOAD{owner:07d}"], "product_family": FAMILY, "subject": f"質問 {n}",
                 "status": statuses[n % len(statuses)], "asker_account_id": accounts[f"load{owner}@other.example.jp"],
                 "asker_email": f"load{owner}@other.example.jp", "locale": "ja", "received_at": at,
                 "due_on": date(2026, 12, 1), "updated_at": at, "thread_id": f"<load-{n}@bench.invalid>"}
            )  # fmt: skip
        async with core.uow() as uow:
            await uow.session.execute(insert(Inquiry), rows)
            if not first_id:
                first_id = int(
                    await uow.session.scalar(select(Inquiry.id).order_by(Inquiry.id).limit(1)) or 1
                )
            await uow.commit()
        print(f"  inquiries {ids.stop:,}/{count:,}", file=sys.stderr, end="\r")
    per_batch = max(1, BATCH // messages)
    for start in range(0, count, per_batch):
        ids = range(start, min(count, start + per_batch))
        rows = [
            {"inquiry_id": first_id + n, "kind": "customer" if m % 2 == 0 else "answer",
             "author": "bench", "via": "mail", "body": "製品のライセンスについて質問があります。" * 4,
             "message_id": f"<load-{n}-{m}@bench.invalid>", "created_at": now - timedelta(minutes=n, seconds=-m)}
            for n in ids for m in range(messages)
        ]  # fmt: skip
        async with core.uow() as uow:
            await uow.session.execute(insert(InquiryMessage), rows)
            await uow.commit()
        print(f"  messages of {ids.stop:,}/{count:,} inquiries", file=sys.stderr, end="\r")
    if core.settings.database_url.startswith("postgresql"):
        async with core.uow() as uow:
            await uow.session.execute(text("ANALYZE"))
            await uow.commit()
    print(file=sys.stderr)
    return time.perf_counter() - began


async def add_user(core: Core) -> tuple[Actor, list[int]]:
    """The measured customer: contact of three support IDs with an in-force contract
    each, asker of ``USER_INQUIRIES`` inquiries (through ``open_inquiry``)."""
    async with core.uow() as uow:
        company = Company(code="CBENCH", name="ベンチ株式会社", name_norm="ベンチ株式会社", postal_code="",
                          address="", phone="")  # fmt: skip
        uow.session.add(company)
        await uow.session.flush()
        account = Account(**_account(USER_EMAIL, company.id, uow.clock.now()))
        uow.session.add(account)
        await uow.session.flush()
        for n, name in enumerate(USER_SUPPORT_IDS):
            sid = SupportId(name=name, name_key=name.lower(), description="", created_at=uow.clock.now())
            contract = Contract(number=f"B-{n}", company_id=company.id, product_family=FAMILY, end_user="ベンチ",
                                starts_on=date(2024, 1, 1), ends_on=date(2027, 12, 31), requires_terms=False)  # fmt: skip
            uow.session.add_all([sid, contract])
            await uow.session.flush()
            uow.session.add(SupportKey(key_hash=support_keys.digest(uow.hasher, f"BENCH{n}"), last4=f"000{n}",
                                       contract_id=contract.id, support_id_id=sid.id, issued_via="import"))  # fmt: skip
            uow.session.add(
                SupportIdContact(support_id_id=sid.id, account_id=account.id, added_at=uow.clock.now())
            )
        await uow.commit()
        user = Actor(kind="account", ref="slack:T1:UASKER", door="slack", account_id=account.id)
    numbers = []
    for n in range(USER_INQUIRIES):
        async with core.uow() as uow:
            opened = await inquiries.open_inquiry(
                uow,
                user,
                support_id=USER_SUPPORT_IDS[n % 3],
                product=FAMILY,
                subject=f"質問 {n}",
                body="本文です。",
            )
            numbers.append(opened.number)
    return user, numbers


def core_calls(
    core: Core, user: Actor, numbers: list[int], n: int
) -> dict[str, list[Callable[[], Awaitable[Any]]]]:
    def listing(i: int, everything: bool) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            async with core.uow() as uow:
                page = await inquiries.list_for_user(
                    uow, user, USER_SUPPORT_IDS[i % 3], include_closed=everything
                )
            assert page.items

        return call

    def show(i: int) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            async with core.uow() as uow:
                assert (await inquiries.show(uow, user, numbers[i % len(numbers)])).messages

        return call

    def ask(i: int) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            async with core.uow() as uow:
                await inquiries.open_inquiry(
                    uow, user, support_id=USER_SUPPORT_IDS[i % 3], product=FAMILY, subject=f"計測 {i}",
                    body="ベンチマークの問い合わせです。",
                )  # fmt: skip

        return call

    return {
        "inquiries of a support ID (core)": [listing(i, False) for i in range(n)],
        "inquiries ID all (core)": [listing(i, True) for i in range(n)],
        "inquiry show (core)": [show(i) for i in range(n)],
        "ask: open_inquiry (core)": [ask(i) for i in range(n)],
    }


async def slack_calls(
    url: str, numbers: list[int], n: int
) -> tuple[Any, dict[str, list[Callable[[], Awaitable[Any]]]], DoorProcess]:
    """The same lookups as Slack sends them: signed slash commands to /slack/events of
    the door serving in its own process (bench/door_process.py)."""
    import aiohttp

    core = core_for(url)
    async with core.uow() as uow:  # the measured user is linked to the Slack user UASKER
        await uow.session.execute(
            Account.__table__.update()  # type: ignore[attr-defined]
            .where(Account.email == USER_EMAIL)
            .values(slack_team_id="T1", slack_user_id="UASKER")
        )
        await uow.commit()
    await core.sessions.kw["bind"].dispose()
    door = await DoorProcess(
        settings_for(url, SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SIGNING_SECRET), now=NOW
    ).__aenter__()
    endpoint = door.events_url
    response_url = "http://127.0.0.1:9/response_url"  # never called: every answer is the HTTP response
    session = aiohttp.ClientSession()

    def signed(body: str) -> dict[str, str]:
        ts = str(int(time.time()))
        digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}",
                "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip

    def command(words: str, expect: str) -> Callable[[], Awaitable[Any]]:
        body = urlencode(
            {"team_id": "T1", "user_id": "UASKER", "command": "/support", "text": words, "trigger_id": "t",
             "channel_id": "D1", "api_app_id": "A1", "response_url": response_url}
        )  # fmt: skip

        async def call() -> None:
            async with session.post(endpoint, data=body.encode(), headers=signed(body)) as resp:
                answer = await resp.text()
            assert resp.status == 200 and expect in answer, answer[:300]

        return call

    def label(i: int) -> str:
        return inquiries.format_number(numbers[i % len(numbers)])

    # The ask modal as the door opens it (/support ask → views.open), for the submissions.
    ask = urlencode(
        {"team_id": "T1", "user_id": "UASKER", "command": "/support", "text": "ask", "trigger_id": "t",
         "channel_id": "D1", "api_app_id": "A1", "response_url": response_url}
    )  # fmt: skip
    async with session.post(endpoint, data=ask.encode(), headers=signed(ask)) as resp:
        await resp.read()
    await door.drain()
    opened = await door.calls("views.open")
    modal: dict[str, Any] = opened[-1]["view"] if opened else {}
    if isinstance(modal, str):  # form-encoded Web API calls carry the view as JSON text
        modal = json.loads(modal)

    def submission(i: int) -> Callable[[], Awaitable[Any]]:
        """The ask modal submitted (callback_id ``inquiry``): a signed ``view_submission``
        with the view's state as Slack sends it (tests/integration/slack/test_inquiries.py)."""

        def chosen(value: str) -> dict[str, Any]:
            option = {"text": {"type": "plain_text", "text": value}, "value": value}
            return {"value": {"type": "static_select", "selected_option": option}}

        def typed(value: str) -> dict[str, Any]:
            return {"value": {"type": "plain_text_input", "value": value}}

        state = {
            "support_id": chosen(USER_SUPPORT_IDS[i % 3]),
            "product": chosen(FAMILY),
            "subject": typed(f"計測 {i}"),
            "body": typed("ベンチマークの問い合わせです。\n再現手順: …"),
            "attachments": {"value": {"type": "file_input", "files": []}},
        }
        payload = {
            "type": "view_submission",
            "team": {"id": "T1", "domain": "example"},
            "user": {"id": "UASKER", "username": "uasker", "team_id": "T1"},
            "api_app_id": "A1",
            "trigger_id": f"tv{i}",
            "view": {**modal, "id": f"V{i}", "hash": "h", "state": {"values": state}},
        }
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})

        async def call() -> None:
            assert modal.get("callback_id") == "inquiry", "no ask modal"
            async with session.post(endpoint, data=body.encode(), headers=signed(body)) as resp:
                answer = await resp.text()
            assert resp.status == 200 and '"update"' in answer and "INQ-" in answer, answer[:300]

        return call

    calls = {
        "/support inquiries ID": [command(f"inquiries {USER_SUPPORT_IDS[i % 3]}", "INQ-") for i in range(n)],
        "/support inquiries ID all": [
            command(f"inquiries {USER_SUPPORT_IDS[i % 3]} all", "INQ-") for i in range(n)
        ],
        "/support inquiry show": [command(f"inquiry show {label(i)}", label(i)) for i in range(n)],
        "ask modal submission (view_submission)": [submission(i) for i in range(n)],
    }

    async def close() -> None:
        await session.close()
        await door.__aexit__(None, None, None)

    return close, calls, door


async def kept_database(kind: str, name: str, admin_url: str | None, inquiries_at_least: int) -> str | None:
    """``--keep``: the URL of a database a run before loaded and kept (migrated to the
    newest schema) holding the measured user and at least that many inquiries, or None."""
    if kind == "sqlite":
        path = OUT / f"{name}.db"
        if not path.exists():
            return None
        url = f"sqlite+aiosqlite:///{path}"
    else:
        assert admin_url is not None
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            await pg_admin(url, "SELECT 1")
        except Exception:  # no such database
            return None
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            users = (await conn.execute(select(Account.id).where(Account.email == USER_EMAIL))).first()
            count = (await conn.execute(select(func.count()).select_from(Inquiry))).scalar_one()
    finally:
        await engine.dispose()
    return url if users is not None and count >= inquiries_at_least else None


async def measured_user(core: Core) -> tuple[Actor, list[int]]:
    """The measured customer of a kept database and the inquiries ``add_user`` opened."""
    async with core.uow() as uow:
        account_id = (
            await uow.session.execute(select(Account.id).where(Account.email == USER_EMAIL))
        ).scalar_one()
        numbers = (
            await uow.session.execute(
                select(Inquiry.id)
                .where(Inquiry.asker_account_id == account_id)
                .order_by(Inquiry.id)
                .limit(USER_INQUIRIES)
            )
        ).scalars()
        user = Actor(kind="account", ref="slack:T1:UASKER", door="slack", account_id=account_id)
        return user, [int(n) for n in numbers]


async def run_database(kind: str, admin_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    tag = "kept" if args.keep else uuid.uuid4().hex[:6]
    names = {
        label: f"bench_inq_{label}_{tag}" if kind != "sqlite" else f"inq_{label}"
        for label in ("full", "empty")
    }
    least = {"full": args.inquiries, "empty": 0}
    kept = (
        {label: await kept_database(kind, name, admin_url, least[label]) for label, name in names.items()}
        if args.keep
        else {}
    )
    urls = {
        label: kept.get(label) or await fresh_database(kind, name, admin_url) for label, name in names.items()
    }
    result: dict[str, Any] = {"full": {}, "empty": {}, "cpu": {}}
    cores = {label: core_for(url) for label, url in urls.items()}
    calls: dict[str, dict[str, list[Callable[[], Awaitable[Any]]]]] = {}
    doors: dict[str, DoorProcess] = {}
    closers = []
    try:
        if kept.get("full"):
            print(f"[{kind}] kept databases: not loaded again", file=sys.stderr)
            result["load_seconds"] = float("nan")
        else:
            print(f"[{kind}] loading {args.inquiries:,} inquiries …", file=sys.stderr)
            result["load_seconds"] = await load_history(
                cores["full"], args.support_ids, args.inquiries, args.messages
            )
        for label, core in cores.items():
            user, numbers = await (measured_user(core) if kept.get(label) else add_user(core))
            if args.load_only:
                continue
            calls[label] = core_calls(core, user, numbers, args.requests)
            try:
                close, over_slack, doors[label] = await slack_calls(urls[label], numbers, args.requests)
            except ImportError as exc:
                print(f"slack lookups skipped: {exc}", file=sys.stderr)
            else:
                closers.append(close)
                calls[label].update(over_slack)
        for name in calls.get("full", {}):
            for _ in range(ROUNDS):
                for label in ("full", "empty"):
                    door = doors.get(label) if name.startswith(("/", "ask modal")) else None
                    try:
                        await measure(calls[label][name][:WARMUP])
                        cpu = await door.cpu_seconds() if door is not None else 0.0
                        p50, p99 = await measure(calls[label][name])
                        if door is not None:  # the door's CPU per request, ms
                            per_request = (await door.cpu_seconds() - cpu) / len(calls[label][name]) * 1000
                            cpus = result["cpu"].setdefault(label, {})
                            cpus[name] = min(cpus.get(name, float("inf")), per_request)
                    except AssertionError as exc:  # e.g. the command is not there yet
                        print(f"[{kind}] {name}: skipped ({str(exc)[:120]})", file=sys.stderr)
                        break
                    best = result[label].get(name, (float("inf"), float("inf")))
                    result[label][name] = (min(best[0], p50), min(best[1], p99))
        print(f"[{kind}] {result}", file=sys.stderr)
    finally:
        for close in closers:
            await close()
        for core in cores.values():
            await core.sessions.kw["bind"].dispose()
        if kind != "sqlite" and admin_url and not args.keep:
            for url in urls.values():
                await pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    return result


def render(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"`python -m bench.inquiries --inquiries {args.inquiries} --support-ids {args.support_ids} "
        f"--messages {args.messages}` ({datetime.now(JST):%Y-%m-%d}): {args.inquiries:,} inquiries and "
        f'{args.inquiries * args.messages:,} messages of {args.support_ids:,} support IDs ("full") beside a '
        f'near-empty database ("empty"); concurrency {CONCURRENCY}, best of {ROUNDS} rounds, '
        f"{args.requests} requests each; ms.",
        "",
        "| lookup | "
        + " | ".join(f"{k} full p50 / p99 | {k} empty p50 / p99 | ratio p99" for k in results)
        + " |",
        "|---|" + "---|---|---|" * len(results),
    ]
    names = list(next(iter(results.values()))["full"])
    for name in names:
        cells = []
        for data in results.values():
            full = data["full"].get(name)
            empty = data["empty"].get(name)
            if full is None or empty is None:
                cells += ["—", "—", "—"]
                continue
            cells += [
                f"{full[0]:.1f} / {full[1]:.1f}",
                f"{empty[0]:.1f} / {empty[1]:.1f}",
                f"{full[1] / empty[1]:.2f}×",
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for kind, data in results.items():
        cpu = data.get("cpu", {}).get("full", {})
        if cpu:
            lines.append(
                f"The door's CPU per request ({kind}, full; its own process, HTTP included): "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
                + "."
            )
    lines.append(
        "Load time (bulk inserts): "
        + ", ".join(
            f"{kind} {data['load_seconds']:.0f} s"
            if data["load_seconds"] == data["load_seconds"]
            else f"{kind} loaded by an earlier run (--keep)"
            for kind, data in results.items()
        )
        + "."
    )
    return "\n".join(lines)


def write_section(section: str) -> None:
    path = ROOT / "docs" / "performance.md"
    doc = path.read_text(encoding="utf-8")
    block = f"{MARK_BEGIN}\n{section}\n{MARK_END}"
    if MARK_BEGIN in doc:
        head, _, rest = doc.partition(MARK_BEGIN)
        doc = head + block + rest.partition(MARK_END)[2]
    else:
        doc = doc.rstrip() + "\n\n## Inquiries at scale (issue 12, bench/inquiries.py)\n\n" + block + "\n"
    path.write_text(doc, encoding="utf-8")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inquiries", type=int, default=1_000_000)
    parser.add_argument("--support-ids", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the databases after the run and measure on them again next time instead of loading "
        "(the load of 1,000,000 inquiries takes minutes; pass the same sizes each time)",
    )
    parser.add_argument(
        "--load-only", action="store_true", help="with --keep: load and keep, measure nothing"
    )
    args = parser.parse_args()
    if args.load_only:
        args.keep = args.no_write = True
    results = {"SQLite": await run_database("sqlite", None, args)}
    if not args.no_postgres:
        results["PostgreSQL"] = await run_database("postgresql", args.postgres, args)
    section = render(args, results)
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    asyncio.run(main())
