"""Attachment downloads: ``GET /files/<token>`` (SPEC §4.8, docs/attachments.md).

The token is a signed, expiring link made by ``core.attachments.link``; checking it and
reading the file are the core's. This module turns the answer into HTTP:

- the bytes as a download (``Content-Disposition: attachment`` with the sanitised name
  as RFC 6266/5987 ``filename*``), with the type ``core.attachments.served_type`` allows
  (never the sender's, never one a browser would run), ``nosniff``, a sandboxing CSP,
  ``Cache-Control: private`` and no referrer;
- one 404 page (ja/en, like the password pages) for a link that is malformed, forged,
  expired, or names a file that is gone: nothing tells them apart;
- at most ``MAX_DOWNLOADS_IN_FLIGHT`` files in memory at once in this process (more: 503);
- a bad link counts against the visitor in the password pages' scope (``core.throttle``,
  5 in 15 minutes), so guessing links is throttled like guessing activation tokens.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from aiohttp import web

from core import attachments, throttle
from core.config import SUPPORTED_LOCALES
from core.messages import render
from core.ports import Metrics
from core.unit_of_work import Core
from web.locale import pick_locale
from web.templating import render_page

log = logging.getLogger("madoguchi.web")

ROUTE = "/files/{token}"
# Files served at once by this process: each is in memory while it is sent (≤ 10 MiB),
# so a burst of downloads costs at most this many files' worth; more get 503 (retry).
MAX_DOWNLOADS_IN_FLIGHT = 8


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one as ``filename*``."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;%' else "_" for c in name)
    return f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{quote(name, safe='')}"


def add_routes(core: Core, app: web.Application, metrics: Metrics) -> FileLinks:
    """``GET /files/{token}`` on serve's HTTP app (``web.pages.build`` calls this)."""
    links = FileLinks(core, metrics)
    app.router.add_get(ROUTE, links.download)
    return links


class FileLinks:
    def __init__(self, core: Core, metrics: Metrics) -> None:
        self.core = core
        self.metrics = metrics
        self.settings = core.settings
        self.in_flight = 0

    async def download(self, request: web.Request) -> web.Response:
        if self.in_flight >= MAX_DOWNLOADS_IN_FLIGHT:
            return self._page(request, "busy.html.j2", 503)
        self.in_flight += 1
        try:
            return await self._download(request)
        finally:
            self.in_flight -= 1

    async def _download(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        ip = request.remote or "unknown"
        async with self.core.uow() as uow:
            refused = await throttle.visit_link(uow, ip)
            if refused is not None:
                self.metrics.throttle_hit("web", refused.scope)
                log.info("web throttled", extra={"scope": refused.scope, "ip": ip})
                message = render(refused.wait.message_id, self._locale(request), **refused.wait.params)
                return self._page(request, "throttled.html.j2", 429, message=message)
            found = await attachments.open_link(uow, self.core.hasher, token)
            if found is None:
                await throttle.count_bad_link(uow, ip, "file link")
                await uow.commit()
        if found is None:
            log.info("web file link refused", extra={"ip": ip})
            return self._page(
                request,
                "file_missing.html.j2",
                404,
                message=render("attachments.link_unusable", self._locale(request)),
            )
        attachment, data = found
        log.info("web file served", extra={"attachment_id": attachment.id, "size": attachment.size})
        response = web.Response(body=data, status=200)
        headers = response.headers
        headers["Content-Type"] = attachments.served_type(attachment.content_type)
        headers["Content-Disposition"] = content_disposition(attachment.name)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cache-Control"] = "private, max-age=0, must-revalidate"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        headers["X-Frame-Options"] = "DENY"
        return response

    def _locale(self, request: web.Request) -> str:
        locale, _remember = pick_locale(request, self.settings.locale)
        return locale

    def _page(self, request: web.Request, template: str, status: int, **values: Any) -> web.Response:
        locale = self._locale(request)
        # The language switch is relative: the page never repeats the token, so every
        # refused link gets the very same page.
        html = render_page(
            locale,
            template,
            kind="files",
            switch={loc: f"?lang={loc}" for loc in SUPPORTED_LOCALES},
            vendor=self.settings.vendor_name,
            service=self.settings.service_name,
            contact=self.settings.contact_address,
            **values,
        )
        response = web.Response(status=status, text=html, content_type="text/html", charset="utf-8")
        headers = response.headers
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
        )
        return response
