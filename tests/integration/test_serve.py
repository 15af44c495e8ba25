"""The one process: health, metrics and the component lifecycle, in-process on free ports."""

from __future__ import annotations

import aiohttp
import pytest

from core.config import Settings
from madoguchi.components import Runtime
from madoguchi.serve import Server

EVENTS: list[str] = []


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ok = True

    async def start(self) -> None:
        EVENTS.append(f"start {self.name}")

    async def stop(self) -> None:
        EVENTS.append(f"stop {self.name}")

    def healthy(self) -> bool:
        return self.ok


def build_first(rt: Runtime) -> Recorder:
    return Recorder("first")


def build_second(rt: Runtime) -> Recorder | None:
    return Recorder("second") if rt.worker else None


def _server(settings: Settings, **kw: bool) -> Server:
    settings = settings.model_copy(update={"http_port": 0})
    return Server(settings, components=[build_first, build_second], migrate=False, **kw)


async def test_components_start_in_order_and_stop_in_reverse(settings: Settings) -> None:
    EVENTS.clear()
    server = _server(settings)
    await server.start()
    await server.stop()
    assert EVENTS == ["start first", "start second", "stop second", "stop first"]


async def test_a_role_switched_off_leaves_its_component_out(settings: Settings) -> None:
    EVENTS.clear()
    server = _server(settings, worker=False)
    await server.start()
    await server.stop()
    assert EVENTS == ["start first", "stop first"]


async def test_healthz_reports_database_and_components(settings: Settings) -> None:
    server = _server(settings)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.http_port}/healthz"
            async with http.get(url) as response:
                assert response.status == 200
                body = await response.json()
            assert body == {
                "status": "ok",
                "database": "ok",
                "components": {"first": "ok", "second": "ok"},
            }
            server.components[1].ok = False  # type: ignore[attr-defined]
            async with http.get(url) as response:
                assert response.status == 503
                assert (await response.json())["components"]["second"] == "stuck"
    finally:
        await server.stop()


@pytest.mark.parametrize("path", ["/healthz", "/nowhere/secret-token-value"])
async def test_metrics_count_requests_by_route_template_and_show_outbox_depth(
    settings: Settings, path: str
) -> None:
    server = _server(settings)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{server.http_port}"
            async with http.get(base + path):
                pass
            async with http.get(base + "/metrics") as response:
                assert response.status == 200
                text = await response.text()
        assert "madoguchi_outbox_depth" in text
        assert "secret-token-value" not in text
        if path == "/healthz":
            assert 'madoguchi_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
        else:
            assert 'route="unmatched",status="404"' in text
    finally:
        await server.stop()
