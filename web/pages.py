"""The activation and password-reset pages (SPEC §4.3), mounted on serve's HTTP app
with the public pages beside them (``web.calendar_page``, ``web.terms_page``) and the
attachments' download links (``web.files``, SPEC §4.8).

``/activate/{token}`` and ``/reset/{token}`` show one form: set a password. Every rule
(token validity, the password policy, Argon2id) is in ``core.accounts`` /
``core.passwords``; this module translates HTTP to those calls and their errors to pages.

What the door itself adds, because it is about HTTP:
- CSRF: the form carries HMAC(secret, link token), so a form posted from elsewhere
  without the link is refused; nothing to store, works across instances.
- Per-IP throttling: the policy is the core's (``core.throttle``: bad links and bad
  form tokens count in ``web.link``, 5 in 15 minutes, every submission in ``web.post``);
  the page maps a refusal to 429 with the minutes to wait. The IP is the client's,
  behind the proxies of MADOGUCHI_TRUSTED_PROXIES (``web.clients``).
- A cap on submissions in flight in this process, so a burst queues at most a few
  Argon2id hashes (the core caps parallel hashing too) and is told to retry (503).
- Links on the page come from MADOGUCHI_PUBLIC_URL, never from the Host header.
- ``Referrer-Policy: no-referrer`` (the URL holds the token), ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from core import accounts, throttle
from core.actors import Actor
from core.config import SUPPORTED_LOCALES
from core.errors import DomainError, Throttled, ValidationFailed
from core.messages import render
from core.ports import Metrics
from core.unit_of_work import Core
from web import calendar_page, files, terms_page
from web.locale import LANG_COOKIE, pick_locale
from web.templating import render_page

log = logging.getLogger("madoguchi.web")

CSRF_PURPOSE = "web-csrf"
MAX_POSTS_IN_FLIGHT = 8
KINDS = ("activate", "reset")

# The page (and HTTP status) for each way a link can fail; ids from core/messages/accounts.toml.
_PROBLEM_STATUS = {
    "accounts.link_unknown": 404,
    "accounts.link_expired": 410,
    "accounts.link_used": 410,
    "accounts.disabled": 403,
}


class PagesComponent:
    """The pages only add routes: nothing to start or stop (shown in /healthz as "web")."""

    name = "web"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def healthy(self) -> bool:
        return True


def build(core: Core, *, app: web.Application, metrics: Metrics) -> PagesComponent:
    """The pages' routes on serve's HTTP app (``madoguchi serve`` calls this)."""
    pages = Pages(core, metrics)
    for kind in KINDS:
        app.router.add_get(f"/{kind}/{{token}}", pages.show)
        app.router.add_post(f"/{kind}/{{token}}", pages.submit)
    calendar_page.add_routes(core, app)
    terms_page.add_routes(core, app)
    files.add_routes(core, app, metrics)
    return PagesComponent()


def harden(response: web.Response, origin: str) -> web.Response:
    """The headers every page behind a secret link carries: no referrer (the URL holds
    the token), no caching, no framing, forms only to our own origin."""
    headers = response.headers
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cache-Control"] = "no-store"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        f"form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


@dataclass
class PageContext:
    kind: str
    token: str
    locale: str
    remember_locale: bool
    ip: str


class Pages:
    def __init__(self, core: Core, metrics: Metrics) -> None:
        self.core = core
        self.metrics = metrics
        self.settings = core.settings
        self.base = core.settings.public_url.rstrip("/")
        origin = urlsplit(self.base)
        self.origin = f"{origin.scheme}://{origin.netloc}"
        self.in_flight = 0

    # --- helpers -------------------------------------------------------------------

    def _context(self, request: web.Request) -> PageContext:
        kind = request.path.split("/", 2)[1]
        locale, remember = pick_locale(request, self.settings.locale)
        return PageContext(
            kind=kind if kind in KINDS else "activate",
            token=request.match_info["token"],
            locale=locale,
            remember_locale=remember,
            ip=request.remote or "unknown",
        )

    def _csrf(self, token: str) -> str:
        return self.core.hasher.digest(token, purpose=CSRF_PURPOSE)

    def _page(self, ctx: PageContext, template: str, status: int = 200, **values: Any) -> web.Response:
        link = f"{self.base}/{ctx.kind}/{ctx.token}"
        html = render_page(
            ctx.locale,
            template,
            kind=ctx.kind,
            action=link,
            switch={loc: f"{link}?lang={loc}" for loc in SUPPORTED_LOCALES},
            vendor=self.settings.vendor_name,
            service=self.settings.service_name,
            contact=self.settings.contact_address,
            policy=render("password.policy", ctx.locale),
            **values,
        )
        response = harden(
            web.Response(status=status, text=html, content_type="text/html", charset="utf-8"), self.origin
        )
        if ctx.remember_locale:
            response.set_cookie(
                LANG_COOKIE, ctx.locale, max_age=365 * 86400, httponly=True, samesite="Lax", path="/"
            )
        return response

    def _throttled(self, ctx: PageContext, exc: Throttled, scope: str) -> web.Response:
        self.metrics.throttle_hit("web", scope)
        log.info("web throttled", extra={"scope": scope, "ip": ctx.ip})
        return self._page(
            ctx, "throttled.html.j2", status=429, message=render(exc.message_id, ctx.locale, **exc.params)
        )

    async def _failure(self, ctx: PageContext, detail: str) -> None:
        async with self.core.uow() as uow:
            await throttle.count_bad_link(uow, ctx.ip, detail)

    async def _problem(self, ctx: PageContext, exc: DomainError) -> web.Response:
        await self._failure(ctx, exc.message_id)
        return self._problem_page(ctx, exc)

    def _problem_page(self, ctx: PageContext, exc: DomainError) -> web.Response:
        """The page for a link that does not work (its failure already counted)."""
        log.info("web link refused", extra={"reason": exc.message_id, "ip": ctx.ip})
        status = _PROBLEM_STATUS.get(exc.message_id, 400)
        return self._page(
            ctx,
            "problem.html.j2",
            status=status,
            reason=exc.message_id.rpartition(".")[2],
            message=render(exc.message_id, ctx.locale, **exc.params),
        )

    # --- handlers ------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        ctx = self._context(request)
        problem: DomainError | None = None
        # One transaction: the visitor's count, the link and a bad link's failure, so
        # concurrent bad links of one visitor are counted one after the other.
        async with self.core.uow() as uow:
            refused = await throttle.visit_link(uow, ctx.ip)
            if refused is not None:
                return self._throttled(ctx, refused.wait, refused.scope)
            try:
                info = await accounts.inspect_link(uow, ctx.token)
            except DomainError as exc:
                problem = exc
                await throttle.count_bad_link(uow, ctx.ip, exc.message_id)
        if problem is not None:
            return self._problem_page(ctx, problem)
        return self._form(ctx, info.username, info.purpose)

    def _form(
        self,
        ctx: PageContext,
        username: str,
        purpose: str,
        *,
        status: int = 200,
        problems: list[str] | None = None,
        mismatch: bool = False,
    ) -> web.Response:
        return self._page(
            ctx,
            "form.html.j2",
            status=status,
            username=username,
            purpose=purpose,
            csrf=self._csrf(ctx.token),
            problems=[render(p, ctx.locale) for p in problems or []],
            mismatch=mismatch,
        )

    async def submit(self, request: web.Request) -> web.Response:
        ctx = self._context(request)
        if self.in_flight >= MAX_POSTS_IN_FLIGHT:
            return self._page(ctx, "busy.html.j2", status=503)
        self.in_flight += 1
        try:
            return await self._submit(request, ctx)
        finally:
            self.in_flight -= 1

    async def _submit(self, request: web.Request, ctx: PageContext) -> web.Response:
        form = await request.post()
        csrf = str(form.get("csrf", ""))
        password = str(form.get("password", ""))
        confirm = str(form.get("password_confirm", ""))
        forged = not hmac.compare_digest(csrf.encode(), self._csrf(ctx.token).encode())
        async with self.core.uow() as uow:
            refused = await throttle.submit_password_form(uow, ctx.ip, forged=forged)
        if refused is not None:
            return self._throttled(ctx, refused.wait, refused.scope)
        if forged:
            log.info("web csrf refused", extra={"ip": ctx.ip})
            return self._page(ctx, "csrf.html.j2", status=403)
        problems: list[str] = []
        if password != confirm:
            mismatch = True
        else:
            mismatch = False
            actor = Actor(kind="anonymous", ref=f"ip:{ctx.ip}", door="web", locale=ctx.locale)
            try:
                async with self.core.uow() as uow:
                    account = await accounts.set_password_with_token(uow, ctx.token, password, actor)
            except ValidationFailed as exc:
                problems = list(exc.params.get("problems") or exc.fields.values())
            except DomainError as exc:
                return await self._problem(ctx, exc)
            else:
                log.info("web password set", extra={"account_id": account.id})
                return self._page(
                    ctx,
                    "done.html.j2",
                    username=account.username,
                    message=render("accounts.password_set", ctx.locale),
                )
        # The form again, with what was wrong; the link must still be good to show it.
        try:
            async with self.core.uow() as uow:
                info = await accounts.inspect_link(uow, ctx.token)
        except DomainError as exc:
            return await self._problem(ctx, exc)
        return self._form(ctx, info.username, info.purpose, status=400, problems=problems, mismatch=mismatch)
