"""The sign-in page (``/signin/{token}``, SPEC §4.11: ``/support link``) and the page that
confirms a new email address (``/email/{token}``, ``/support profile``).

Every rule is in core (``core.signin``, ``core.profile``, ``core.throttle``); this module
translates HTTP to those calls and their errors to pages, as ``web.pages`` does for the
password pages and with its protections: CSRF as HMAC(secret, link token), per-client
throttling of bad links and of submissions, links from MADOGUCHI_PUBLIC_URL only, and
``web.pages.harden``'s headers. A confirmation is a POST behind a button, never the GET:
mail scanners open links by themselves.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from core import profile, signin, throttle
from core.actors import Actor
from core.config import SUPPORTED_LOCALES
from core.errors import DomainError, Forbidden, NotFound, Throttled
from core.messages import render
from core.ports import Metrics
from core.unit_of_work import Core
from web.locale import LANG_COOKIE, pick_locale
from web.pages import harden
from web.templating import render_page

log = logging.getLogger("madoguchi.web")

CSRF_PURPOSE = "web-csrf-account"
_PROBLEM_STATUS = {
    "accounts.link_unknown": 404,
    "accounts.link_expired": 410,
    "accounts.link_used": 410,
    "accounts.disabled": 403,
    "accounts.email_taken": 409,
}


def add_routes(core: Core, *, app: web.Application, metrics: Metrics) -> None:
    """The pages' routes on serve's HTTP app (``madoguchi serve`` calls this)."""
    pages = AccountPages(core, metrics)
    app.router.add_get(f"/{signin.PAGE}/{{token}}", pages.signin_show)
    app.router.add_post(f"/{signin.PAGE}/{{token}}", pages.signin_submit)
    app.router.add_get(f"/{profile.PAGE}/{{token}}", pages.email_show)
    app.router.add_post(f"/{profile.PAGE}/{{token}}", pages.email_submit)


class AccountPages:
    def __init__(self, core: Core, metrics: Metrics) -> None:
        self.core = core
        self.metrics = metrics
        self.settings = core.settings
        self.base = core.settings.public_url.rstrip("/")
        origin = urlsplit(self.base)
        self.origin = f"{origin.scheme}://{origin.netloc}"

    # --- helpers -------------------------------------------------------------------

    def _csrf(self, token: str) -> str:
        return self.core.hasher.digest(token, purpose=CSRF_PURPOSE)

    @staticmethod
    def _ip(request: web.Request) -> str:
        return request.remote or "unknown"

    def _page(self, request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
        kind, token = request.path.split("/", 2)[1], request.match_info["token"]
        locale, remember = pick_locale(request, self.settings.locale)
        link = f"{self.base}/{kind}/{token}"
        html = render_page(
            locale,
            template,
            kind=kind,
            action=link,
            switch={loc: f"{link}?lang={loc}" for loc in SUPPORTED_LOCALES},
            vendor=self.settings.vendor_name,
            service=self.settings.service_name,
            contact=self.settings.contact_address,
            **values,
        )
        page = web.Response(status=status, text=html, content_type="text/html", charset="utf-8")
        response = harden(page, self.origin)
        if remember:
            response.set_cookie(
                LANG_COOKIE, locale, max_age=365 * 86400, httponly=True, samesite="Lax", path="/"
            )
        return response

    def _throttled(self, request: web.Request, exc: Throttled, scope: str) -> web.Response:
        self.metrics.throttle_hit("web", scope)
        log.info("web throttled", extra={"scope": scope, "ip": self._ip(request)})
        locale, _ = pick_locale(request, self.settings.locale)
        return self._page(
            request, "throttled.html.j2", status=429, message=render(exc.message_id, locale, **exc.params)
        )

    async def _problem(self, request: web.Request, exc: DomainError) -> web.Response:
        async with self.core.uow() as uow:
            await throttle.count_bad_link(uow, self._ip(request), exc.message_id)
        log.info("web link refused", extra={"reason": exc.message_id, "ip": self._ip(request)})
        locale, _ = pick_locale(request, self.settings.locale)
        return self._page(
            request,
            "problem.html.j2",
            status=_PROBLEM_STATUS.get(exc.message_id, 400),
            reason=exc.message_id.rpartition(".")[2],
            message=render(exc.message_id, locale, **exc.params),
        )

    async def _admitted(self, request: web.Request) -> web.Response | dict[str, str]:
        """The checks every submission passes first: the client's throttles (the
        submission counts), then the form's CSRF token. The form's fields, or the page
        that refuses."""
        async with self.core.uow() as uow:
            refused = await throttle.submit_password_form(uow, self._ip(request))
        if refused is not None:
            return self._throttled(request, refused.wait, refused.scope)
        form = {k: str(v) for k, v in (await request.post()).items()}
        token = request.match_info["token"]
        if not hmac.compare_digest(form.get("csrf", "").encode(), self._csrf(token).encode()):
            async with self.core.uow() as uow:
                await throttle.count_bad_link(uow, self._ip(request), "csrf")
            log.info("web csrf refused", extra={"ip": self._ip(request)})
            return self._page(request, "csrf.html.j2", status=403)
        return form

    # --- the sign-in page ------------------------------------------------------------

    async def signin_show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        problem: NotFound | None = None
        async with self.core.uow() as uow:
            refused = await throttle.visit_link(uow, self._ip(request))
            if refused is not None:
                return self._throttled(request, refused.wait, refused.scope)
            try:
                await signin.inspect_link(uow, token)
            except NotFound as exc:
                problem = exc
        if problem is not None:
            return await self._problem(request, problem)
        return self._page(request, "signin.html.j2", csrf=self._csrf(token), username="", failed=False)

    async def signin_submit(self, request: web.Request) -> web.Response:
        admitted = await self._admitted(request)
        if isinstance(admitted, web.Response):
            return admitted
        token = request.match_info["token"]
        username = admitted.get("username", "")[:254]
        locale, _ = pick_locale(request, self.settings.locale)
        actor = Actor(kind="anonymous", ref=f"ip:{self._ip(request)}", door="web", locale=locale)
        try:
            async with self.core.uow() as uow:
                account = await signin.sign_in(
                    uow, token, username, admitted.get("password", ""), client=self._ip(request), actor=actor
                )
        except Throttled as exc:
            return self._throttled(request, exc, signin.ACCOUNT_SCOPE)
        except Forbidden as exc:
            if exc.message_id != signin.FAILED:
                return await self._problem(request, exc)
            return self._page(
                request, "signin.html.j2", status=400, csrf=self._csrf(token), username=username, failed=True
            )
        except DomainError as exc:
            return await self._problem(request, exc)
        log.info("web signed in", extra={"account_id": account.id})
        return self._page(
            request, "done.html.j2", username=account.username, message=render("signin.linked", locale)
        )

    # --- confirming a new email address --------------------------------------------

    async def email_show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        problem: NotFound | None = None
        async with self.core.uow() as uow:
            refused = await throttle.visit_link(uow, self._ip(request))
            if refused is not None:
                return self._throttled(request, refused.wait, refused.scope)
            try:
                new_email, _ = await profile.inspect_email_change(uow, token)
            except NotFound as exc:
                problem = exc
        if problem is not None:
            return await self._problem(request, problem)
        return self._page(request, "email_confirm.html.j2", csrf=self._csrf(token), new_email=new_email)

    async def email_submit(self, request: web.Request) -> web.Response:
        admitted = await self._admitted(request)
        if isinstance(admitted, web.Response):
            return admitted
        locale, _ = pick_locale(request, self.settings.locale)
        actor = Actor(kind="anonymous", ref=f"ip:{self._ip(request)}", door="web", locale=locale)
        try:
            async with self.core.uow() as uow:
                account = await profile.confirm_email_change(uow, request.match_info["token"], actor)
        except DomainError as exc:
            return await self._problem(request, exc)
        log.info("web email changed", extra={"account_id": account.id})
        return self._page(
            request,
            "done.html.j2",
            username=account.username,
            message=render("profile.email_confirmed", locale, email=account.username),
        )
