"""What an operator watches: /livez, /readyz (beside /healthz), the metrics on /metrics,
and the dashboard and alert rules in deploy/ naming only metrics a running service
exports. The service runs in-process on free ports, like tests/integration/test_serve.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml
from sqlalchemy import text

from core import outbox
from core.clock import FrozenClock
from core.config import Settings
from core.storage import create_engine
from core.unit_of_work import Core
from madoguchi import check
from madoguchi.serve import COMPONENTS, Server, web_pages
from migrations import upgrade
from tests.fakeslack import FakeSlack
from tests.integration.mail.conftest import free_port, make_mail, send
from tests.integration.slack.conftest import BOT_TOKEN, SIGNING_SECRET, sign

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


class Part:
    def __init__(self, name: str, gate: asyncio.Event | None = None) -> None:
        self.name = name
        self.ok = True
        self.gate = gate

    async def start(self) -> None:
        if self.gate is not None:
            await self.gate.wait()

    async def stop(self) -> None:
        return None

    def healthy(self) -> bool:
        return self.ok


async def get(server: Server, path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.http_port}{path}") as response,
    ):
        body = await response.text()
        return response.status, json.loads(body) if body.startswith("{") else body


def bare(settings: Settings, *parts: Part, **kw: Any) -> Server:
    factories = [lambda rt, p=p: p for p in parts]
    return Server(settings.model_copy(update={"http_port": 0}), components=factories, migrate=False, **kw)


async def test_livez_answers_while_the_database_is_down_and_readyz_says_why(settings: Settings) -> None:
    down = settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://madoguchi@127.0.0.1:{free_port()}/madoguchi"}
    )
    server = bare(down, Part("first"))
    await server.start()
    try:
        assert await get(server, "/livez") == (200, {"status": "ok"})
        status, body = await get(server, "/readyz")
        assert status == 503
        assert body["status"] == "not ready" and body["database"] == "unreachable"
        assert (await get(server, "/healthz"))[0] == 503
    finally:
        await server.stop()


async def test_readyz_waits_for_every_component_to_start(settings: Settings) -> None:
    gate = asyncio.Event()
    server = bare(settings, Part("first"), Part("slow", gate))
    starting = asyncio.create_task(server.start())
    try:
        while server.http_port is None:  # listening comes before the components start
            await asyncio.sleep(0.01)
        status, body = await get(server, "/readyz")
        assert status == 503 and body["started"] is False and body["database"] == "ok"
        assert (await get(server, "/livez"))[0] == 200
        gate.set()
        await starting
        status, body = await get(server, "/readyz")
        assert status == 200
        assert body["status"] == "ok" and body["components"] == {"first": "ok", "slow": "ok"}
        assert body["schema"]["current"] == body["schema"]["head"] is not None
        server.components[1].ok = False  # type: ignore[attr-defined]
        status, body = await get(server, "/readyz")
        assert status == 503 and body["components"]["slow"] == "stuck"
    finally:
        gate.set()
        await starting
        await server.stop()
    assert server.ready is False


@pytest.mark.parametrize("revision", [None, "0001"])
async def test_readyz_refuses_a_schema_behind_the_code(
    settings: Settings, tmp_path: Path, revision: str | None
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    if revision is not None:
        engine = create_engine(url)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()
    server = bare(settings.model_copy(update={"database_url": url}), Part("first"))
    await server.start()
    try:
        status, body = await get(server, "/readyz")
        assert status == 503
        assert body["database"] == "behind" and body["schema"]["current"] == revision
        assert (await get(server, "/livez"))[0] == 200
    finally:
        await server.stop()


async def test_probes_are_logged_at_debug_and_requests_at_info(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="madoguchi.serve")
    server = bare(settings, Part("first"))
    await server.start()
    try:
        for path in ("/livez", "/readyz", "/healthz", "/metrics", "/somewhere"):
            await get(server, path)
    finally:
        await server.stop()
    levels = {r.__dict__["route"]: r.levelno for r in caplog.records if r.getMessage() == "http request"}
    assert levels == {
        "/livez": logging.DEBUG,
        "/readyz": logging.DEBUG,
        "/healthz": logging.DEBUG,
        "/metrics": logging.DEBUG,
        "unmatched": logging.INFO,
    }


async def test_metrics_show_build_process_gc_latency_by_route_and_outbox_age(
    settings: Settings, domain: Core, clock: FrozenClock
) -> None:
    async with domain.uow() as uow:
        outbox.enqueue_mail(uow, "activation", ["user@customer.example"], {"name": "x"})
        await uow.commit()
    later = FrozenClock(clock.now() + timedelta(minutes=10))
    server = Server(
        settings.model_copy(update={"http_port": 0}), components=[web_pages], migrate=False, clock=later
    )
    await server.start()
    try:
        await get(server, "/activate/Zq3kP9xYw2LmN8vB4tR6uE1oI7aS5dF0")
        status, text = await get(server, "/metrics")
    finally:
        await server.stop()
    assert status == 200
    assert re.search(r'^madoguchi_build_info\{python="[0-9.]+",version="[^"]+"\} 1\.0$', text, re.M)
    assert "process_resident_memory_bytes " in text and "process_open_fds " in text
    assert 'python_gc_collections_total{generation="0"}' in text
    assert 'madoguchi_http_request_duration_seconds_count{method="GET",route="/activate/{token}"} 1.0' in text
    assert "Zq3kP9xYw2LmN8vB4tR6uE1oI7aS5dF0" not in text
    assert 'madoguchi_outbox_oldest_age_seconds{channel="mail"} 600.0' in text
    assert 'madoguchi_outbox_oldest_age_seconds{channel="slack"} 0.0' in text
    assert 'madoguchi_outbox_depth{channel="mail",status="pending"} 1.0' in text
    assert 'madoguchi_component_up{component="web"} 1.0' in text


# -- the whole service, as deploy/ watches it ----------------------------------------------


def _promql(expr: str) -> set[str]:
    """Metric names an expression reads: identifiers that are not PromQL's own words,
    label names, or label values."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\()", expr))
    return {w for w in words if w.startswith(("madoguchi_", "process_", "python_"))}


def deployed_names() -> dict[str, set[str]]:
    dashboard = json.loads((DEPLOY / "grafana" / "madoguchi-dashboard.json").read_text(encoding="utf-8"))
    rules = yaml.safe_load((DEPLOY / "prometheus" / "madoguchi-rules.yml").read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found.setdefault(f"dashboard: {panel['title']}", set()).update(_promql(target["expr"]))
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.setdefault(f"rule: {rule['alert']}", set()).update(_promql(rule["expr"]))
    return found


def exported(text: str) -> set[str]:
    """Every series name /metrics can show: the samples, and for each declared family
    the names its type gives it (a labelled family shows before its first sample)."""
    names = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(family)
        names.update(family + suffix for suffix in suffixes.get(kind, ()))
    return names


def test_the_dashboard_and_the_rules_read_real_metrics() -> None:
    found = deployed_names()
    assert len([k for k in found if k.startswith("dashboard")]) >= 10
    every = set().union(*found.values())
    for wanted in (
        "madoguchi_outbox_depth",
        "madoguchi_outbox_oldest_age_seconds",
        "madoguchi_component_up",
        "madoguchi_errors_total",
        "madoguchi_mails_out_total",
        "madoguchi_throttle_hits_total",
        "madoguchi_slack_ack_seconds_bucket",
        "madoguchi_smtp_data_seconds_bucket",
        "madoguchi_http_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
        "python_gc_collections_total",
    ):
        assert wanted in every, wanted
    assert _promql('sum by (le) (rate(madoguchi_x_bucket{route="/a"}[5m]))') == {"madoguchi_x_bucket"}


async def test_every_metric_deploy_names_is_on_a_running_services_metrics(
    settings: Settings, fake: FakeSlack
) -> None:
    """The real components (web, Slack with the fake Web API, outbox worker, SMTP,
    housekeeping), one request through each door, then one scrape."""
    configured = settings.model_copy(
        update={
            "http_port": 0,
            "smtp_host": "127.0.0.1",
            "smtp_port": 0,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.url,
        }
    )
    server = Server(configured, components=COMPONENTS, migrate=False)
    await server.start()
    try:
        smtp = next(c for c in server.components if c.name == "smtp")
        await send(smtp.server.port, make_mail())  # type: ignore[attr-defined]
        body = urlencode({"command": "/support", "text": "help", "team_id": "T1", "user_id": "U1"})
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{server.http_port}/slack/events", data=body, headers=headers
            ) as resp,
        ):
            assert resp.status == 200
        status, text = await get(server, "/metrics")
    finally:
        await server.stop()
    assert status == 200
    assert 'madoguchi_slack_ack_seconds_count{kind="command"} 1.0' in text
    assert 'madoguchi_smtp_data_seconds_count{result="accepted"} 1.0' in text
    for component in ("web", "slack", "outbox", "smtp", "housekeeping"):
        assert f'madoguchi_component_up{{component="{component}"}} 1.0' in text
    names = exported(text)
    assert "madoguchi_not_a_metric_total" not in names  # the comparison can fail
    missing = {where: sorted(wanted - names) for where, wanted in deployed_names().items() if wanted - names}
    assert missing == {}


async def test_readyz_stays_ready_on_a_schema_a_newer_version_migrated(
    settings: Settings, tmp_path: Path
) -> None:
    """A rolling upgrade: the first new instance migrated; the old ones keep serving."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        await engine.dispose()
    server = bare(settings.model_copy(update={"database_url": url}), Part("first"))
    await server.start()
    try:
        status, body = await get(server, "/readyz")
        assert status == 200, body
        assert body["schema"]["current"] == "9999_from_the_future" != body["schema"]["head"]
    finally:
        await server.stop()
    out = io.StringIO()
    assert (
        await check.run(lambda: settings.model_copy(update={"database_url": url, "locale": "en"}), out=out)
        == 1
    )
    assert "written by a newer version than this one" in out.getvalue().splitlines()[1]
