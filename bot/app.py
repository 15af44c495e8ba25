"""The Slack door: a slack-bolt ``AsyncApp`` on the ``madoguchi serve`` aiohttp server.

One URL (``/slack/events``) takes events, slash commands and interactivity; Socket Mode
replaces it when SLACK_APP_TOKEN is set; ``/slack/install`` and ``/slack/oauth_redirect``
run the OAuth install when SLACK_CLIENT_ID/SECRET are set.

Why the request path is ours and not Bolt's:
- Bolt's signature check raises on a non-numeric timestamp or a non-ASCII signature (a
  500) and logs the whole body of a rejected request (which may hold a support key), so
  the check runs here first and Bolt's own is switched off.
- Web API calls must never run before the ack. Listeners hand such work to
  ``context["after_ack"]``; it starts once the HTTP response has been written.

``process_before_response=True`` (the default) answers with whatever the listener
acked, after it finished: no polling loop (Bolt's otherwise adds its poll interval to
every answer; docs/performance.md), and listeners
keep their pre-ack work to a few database round trips (see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import bolt_fence, stores
from bot.listeners import register
from core.ports import Metrics, NoMetrics
from core.unit_of_work import Core

log = logging.getLogger("madoguchi.slack")

BOT_SCOPES = [
    "commands",
    "chat:write",
    "channels:history",
    "groups:history",
    "files:read",
    "files:write",
    "im:history",
    "im:write",
    "users:read",
]
MAX_BODY = 1024 * 1024


class AfterAck:
    """Work a listener wants done once Slack has its answer (Web API calls, DMs)."""

    def __init__(self, door: SlackDoor, *, sent: bool = False) -> None:
        self._door = door
        self.sent = asyncio.Event()
        if sent:
            self.sent.set()

    def __call__(self, job: Callable[[], Awaitable[Any]]) -> None:
        self._door.spawn(self._run(job))

    async def _run(self, job: Callable[[], Awaitable[Any]]) -> None:
        await self.sent.wait()
        await job()


class SlackDoor:
    """Everything the Slack door needs, built once by the composition root."""

    def __init__(
        self,
        core: Core,
        *,
        process_before_response: bool = True,
        register_listeners: bool = True,
    ) -> None:
        bolt_fence.install()  # Bolt's matching and form parsing, same answers for less CPU
        settings = core.settings
        self.core = core
        self.settings = settings
        self.tasks: set[asyncio.Task[Any]] = set()
        self._locale_misses: dict[tuple[str, str], float] = {}
        self.name = "slack"
        # The service's counters when run by serve; nothing counted in bare tests and benches.
        self.metrics: Metrics = NoMetrics()
        self._bot_identity: AuthorizeResult | None = None
        self.verifier = SignatureVerifier(settings.slack_signing_secret or "unused-in-socket-mode")
        # Keyed once; each request hashes on a copy (hmac.HMAC.copy) instead of keying anew.
        self._signing = hmac.new(self.verifier.signing_secret.encode(), digestmod=hashlib.sha256)
        self.client = AsyncWebClient(
            base_url=settings.slack_api_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
            logger=logging.getLogger("madoguchi.slack.web"),
        )
        bolt_logger = logging.getLogger("madoguchi.slack.bolt")
        # Bolt builds debug strings (with request bodies) whenever its logger is at DEBUG.
        bolt_logger.setLevel(logging.INFO)
        logging.getLogger("madoguchi.slack.web").setLevel(logging.INFO)
        self.oauth = bool(settings.slack_client_id and settings.slack_client_secret)
        common: dict[str, Any] = {
            "client": self.client,
            "logger": bolt_logger,
            "signing_secret": settings.slack_signing_secret or "unused-in-socket-mode",
            "process_before_response": process_before_response,
            "request_verification_enabled": False,
            "url_verification_enabled": True,
            "ssl_check_enabled": True,
        }
        if self.oauth:
            self.installations = stores.InstallationStore(core)
            self.app = AsyncApp(
                oauth_settings=AsyncOAuthSettings(
                    client_id=settings.slack_client_id,
                    client_secret=settings.slack_client_secret,
                    scopes=BOT_SCOPES,
                    install_path="/slack/install",
                    redirect_uri_path="/slack/oauth_redirect",
                    installation_store=self.installations,
                    state_store=stores.OAuthStateStore(core),
                    installation_store_bot_only=True,
                ),
                installation_store_bot_only=True,
                **common,
            )
        else:
            door = self

            async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
                return await door._authorize()

            self.app = AsyncApp(authorize=authorize, **common)
        if self.oauth:
            # app_uninstalled / tokens_revoked forget the workspace's token.
            self.app.enable_token_revocation_listeners()
        self.app.use(self._attach_after_ack)
        self.socket_handler: Any = None
        if register_listeners:
            register(self)

    # -- authorization (single workspace) -------------------------------------------

    async def _authorize(self) -> AuthorizeResult:
        """The one bot token; its identity comes from ``auth.test`` at start-up, not
        from a Web API call in front of a request's ack."""
        if self._bot_identity is not None:
            return self._bot_identity
        return AuthorizeResult(
            enterprise_id=None, team_id=None, bot_token=self.settings.slack_bot_token, bot_user_id=None
        )

    async def start(self) -> None:
        if not self.oauth and self.settings.slack_bot_token:
            try:
                answer = await self.client.auth_test(token=self.settings.slack_bot_token)
                self._bot_identity = AuthorizeResult(
                    enterprise_id=answer.get("enterprise_id"),
                    team_id=answer.get("team_id"),
                    bot_token=self.settings.slack_bot_token,
                    bot_user_id=answer.get("user_id"),
                    bot_id=answer.get("bot_id"),
                )
            except Exception as exc:  # Slack unreachable at start: serve anyway, retry never needed
                log.warning("slack: auth.test failed at start (%s); bot identity unknown", type(exc).__name__)
        if self.settings.slack_app_token:
            # Socket Mode only (SLACK_APP_TOKEN): its WebSocket client is not loaded in HTTP mode.
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self.socket_handler = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
            listeners = self.socket_handler.client.socket_mode_request_listeners
            listeners.remove(self.socket_handler.handle)
            listeners.append(self._handle_socket_request)
            await self.socket_handler.connect_async()
            log.info("slack: Socket Mode connected")

    def healthy(self) -> bool:
        return True

    async def stop(self) -> None:
        if self.socket_handler is not None:
            await self.socket_handler.close_async()
        await self.drain()

    # -- users.info back-off -----------------------------------------------------------

    LOCALE_RETRY_SECONDS = 3600.0
    LOCALE_MISSES_MAX = 10_000

    def may_ask_locale(self, team: str, user: str) -> bool:
        """False for an hour after ``users.info`` failed for this user (a cache only:
        another instance may ask once more, which is harmless)."""
        failed_at = self._locale_misses.get((team, user))
        return failed_at is None or time.monotonic() - failed_at > self.LOCALE_RETRY_SECONDS

    def locale_lookup_failed(self, team: str, user: str) -> None:
        if len(self._locale_misses) >= self.LOCALE_MISSES_MAX:
            self._locale_misses.clear()
        self._locale_misses[(team, user)] = time.monotonic()

    # -- after-ack work --------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _guard(coro: Awaitable[Any]) -> None:
        try:
            await coro
        except Exception as exc:
            # The type only: a Slack error's text may echo what we sent.
            log.error("slack: after-ack work failed: %s", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for every after-ack job (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _attach_after_ack(self, context: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        if "after_ack" not in context:
            # Not through one of our entry points (a test calling dispatch directly):
            # nothing to wait for.
            context["after_ack"] = AfterAck(self, sent=True)
        return await next()

    # -- HTTP ------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        routes = [web.post("/slack/events", self.handle_events)]
        if self.oauth:
            routes += [
                web.get("/slack/install", self.handle_oauth),
                web.get("/slack/oauth_redirect", self.handle_oauth),
            ]
        return routes

    def _signed_text(self, body: bytes, headers: Any) -> str | None:
        """The body as text when Slack signed it, else None.

        ``SignatureVerifier.is_valid``'s rules (slack_sdk 3.x: the timestamp within five
        minutes of its clock, ``v0=`` + HMAC-SHA256 of ``v0:TIMESTAMP:BODY`` under the
        signing secret, compared in constant time) on the bytes as they came, with the
        HMAC keyed once and copied: the verifier encodes the decoded body again and keys
        a new ``hmac.HMAC`` object for every request."""
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return None
        if not (signature.isascii() and signature.startswith("v0=") and len(signature) < 200):
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if abs(self.verifier.clock.now() - int(timestamp)) > 60 * 5:
            return None
        digest = self._signing.copy()
        digest.update(b"v0:" + timestamp.encode() + b":" + body)
        expected = "v0=" + digest.hexdigest()
        return text if hmac.compare_digest(expected, signature) else None

    async def handle_events(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413)
        body = await request.read()
        if len(body) > MAX_BODY:
            return web.Response(status=413)
        text = self._signed_text(body, request.headers)
        if text is None:
            return web.Response(status=401, text="invalid signature")
        after = AfterAck(self)
        try:
            try:
                bolt_request = AsyncBoltRequest(
                    body=text,
                    query=request.query_string,
                    headers=dict(request.headers),
                    context={"after_ack": after},
                )
                bolt_response: BoltResponse = await self.app.async_dispatch(bolt_request)
            except Exception as exc:
                # Bolt reads some payload fields without checking them (a view without
                # "type"); a signed but malformed request is the sender's fault, not ours.
                log.warning("slack: unreadable payload (%s)", type(exc).__name__)
                return web.Response(status=400, text="unreadable payload")
            response = await bolt_fence.to_aiohttp_response(bolt_response)
            await response.prepare(request)
            await response.write_eof()
            self.metrics.slack_ack(payload_kind(bolt_request.body), time.perf_counter() - started)
            return response
        finally:
            after.sent.set()

    async def _handle_socket_request(self, client: Any, req: Any) -> None:
        """Bolt's Socket Mode handler, plus the after-ack jobs started once the ack is sent."""
        # Socket Mode only, like ``start``'s import: not loaded in HTTP mode.
        from slack_bolt.adapter.socket_mode.async_internals import send_async_response
        from slack_bolt.adapter.socket_mode.internals import build_headers

        started = time.perf_counter()
        after = AfterAck(self)
        try:
            bolt_request = AsyncBoltRequest(
                mode="socket_mode", body=req.payload, headers=build_headers(req), context={"after_ack": after}
            )
            bolt_response = await self.app.async_dispatch(bolt_request)
            await send_async_response(client, req, bolt_response, time.time())
            self.metrics.slack_ack(payload_kind(bolt_request.body), time.perf_counter() - started)
        finally:
            after.sent.set()

    async def handle_oauth(self, request: web.Request) -> web.StreamResponse:
        flow = self.app.oauth_flow
        assert flow is not None
        bolt_request = AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))
        if request.path == flow.install_path:
            bolt_response = await flow.handle_installation(bolt_request)
        else:
            bolt_response = await flow.handle_callback(bolt_request)
        return await to_aiohttp_response(bolt_response)


_KINDS = {
    "event_callback": "event",
    "block_actions": "action",
    "block_suggestion": "action",
    "shortcut": "action",
    "message_action": "action",
    "view_submission": "view",
    "view_closed": "view",
}


def payload_kind(body: dict[str, Any]) -> str:
    """What a request is, for the ack histogram's one small label."""
    if "command" in body:
        return "command"
    return _KINDS.get(str(body.get("type", "")), "other")


def slack_configured(core: Core) -> bool:
    s = core.settings
    if s.slack_client_id and s.slack_client_secret and s.slack_signing_secret:
        return True
    return bool(s.slack_bot_token and (s.slack_signing_secret or s.slack_app_token))
