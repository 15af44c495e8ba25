"""A fake Slack Web API: a real aiohttp server on 127.0.0.1, port 0.

It records every call (method, parsed body, headers) and answers like Slack does
(``{"ok": true, ...}``). Tests point ``AsyncWebClient(base_url=...)`` at it, so the whole
client stack — JSON/form encoding, auth headers, the 429 retry handler — runs for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    # The body as sent (a file upload's bytes, as text).
    raw: str = ""


Answer = Callable[[Call], dict[str, Any]]


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    # method → how many next calls answer 429 with Retry-After
    rate_limited: dict[str, int] = field(default_factory=dict)
    retry_after: int = 1
    # method → custom answer
    answers: dict[str, Answer] = field(default_factory=dict)
    user_locales: dict[str, str] = field(default_factory=dict)
    # method → an event the answer waits for (a slow Slack)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)
    url: str = ""
    # Socket Mode: what the app sent back over the WebSocket (acks with their payloads).
    socket_received: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    # Uploaded files (``file_input``): id → (name, bytes, mimetype), answered by
    # ``files.info`` and downloaded from ``/files/{id}`` with the bot token.
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    downloads: list[Call] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _ts: int = 0

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/files/{id}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/api/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await self.socket_received.put(json.loads(message.data))
        return ws

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to the connected app."""
        for _ in range(100):
            if self.sockets:
                break
            await asyncio.sleep(0.05)
        await self.sockets[-1].send_json(envelope)

    async def _file(self, request: web.Request) -> web.Response:
        """``url_private_download``: the bytes for a bot token, Slack's sign-in page otherwise."""
        self.downloads.append(Call("download", {"id": request.match_info["id"]}, dict(request.headers)))
        found = self.files.get(request.match_info["id"])
        if found is None or not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        _name, data, mimetype = found
        return web.Response(body=data, content_type=mimetype)

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if request.method == "GET":
            body = dict(request.query)
        elif request.content_type == "application/json":
            body: dict[str, Any] = json.loads(raw) if raw else {}
        else:
            body = dict(parse_qsl(raw))
            for name in ("blocks", "view", "attachments"):
                if isinstance(body.get(name), str):
                    with contextlib.suppress(ValueError):
                        body[name] = json.loads(body[name])
        if request.method == "POST" and request.query:
            # slack_sdk sends some methods' arguments as a query string (conversations.open).
            body = {**dict(request.query), **body}
        call = Call(method, body, dict(request.headers), raw=raw)
        self.calls.append(call)
        if method in self.hold:
            await self.hold[method].wait()
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(self.retry_after)},
            )
        if method in self.answers:
            return web.json_response(self.answers[method](call))
        return web.json_response(self._default(call))

    def _default(self, call: Call) -> dict[str, Any]:
        body = call.body
        if call.method == "users.info":
            user = str(body.get("user", ""))
            return {
                "ok": True,
                "user": {"id": user, "name": user.lower(), "locale": self.user_locales.get(user, "ja-JP")},
            }
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            self._ts += 1
            return {
                "ok": True,
                "channel": body.get("channel", "C0"),
                "ts": f"{int(time.time())}.{self._ts:06d}",
                "message": {"text": body.get("text", "")},
            }
        if call.method in ("views.open", "views.update", "views.publish", "views.push"):
            view = body.get("view") or {}
            if isinstance(view, str):
                view = json.loads(view)
            return {"ok": True, "view": {**view, "id": "V0001", "hash": "h1"}}
        if call.method == "files.info":
            found = self.files.get(str(body.get("file", "")))
            if found is None:
                return {"ok": False, "error": "file_not_found"}
            name, data, mimetype = found
            link = self.url.replace("/api/", f"/files/{body['file']}")
            file = {"id": body["file"], "name": name, "size": len(data), "mimetype": mimetype}
            return {"ok": True, "file": {**file, "url_private": link, "url_private_download": link}}
        if call.method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(body.get("users", "U0"))}}
        if call.method == "apps.connections.open":
            return {"ok": True, "url": self.url.replace("http://", "ws://").replace("/api/", "/socket")}
        if call.method == "auth.test":
            return {"ok": True, "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT", "url": "https://x/"}
        if call.method == "oauth.v2.access":
            return {
                "ok": True,
                "access_token": "xoxb-installed-token",
                "token_type": "bot",
                "scope": "commands,chat:write",
                "bot_user_id": "UBOT2",
                "app_id": "A1",
                "team": {"id": "T2", "name": "Team Two"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "U2"},
            }
        return {"ok": True}


async def serve_routes(routes: list[web.RouteDef]) -> tuple[web.AppRunner, str]:
    """An aiohttp app with ``routes`` (the Slack door's) listening on a free loopback
    port, as tests and benches drive it; returns the runner (``cleanup()`` it) and the
    base URL."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
