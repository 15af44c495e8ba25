"""The service specification and terms page (SPEC §4.5, §4.11): ``/terms``, the page every
terms link points to unless MADOGUCHI_TERMS_URL names another (then ``/terms`` redirects
there, so an old link still arrives).

The text is MADOGUCHI_TERMS_FILE (UTF-8 plain text: a blank line between paragraphs),
read on each request so a new version is served without a restart; without it, the
built-in text in ``templates/web/<locale>/_terms_default.html.j2``. A configured file that
cannot be read is an operator's mistake: the page says the terms are unavailable and whom
to ask (503), and the log says why, rather than showing other terms than the ones agreed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from core.unit_of_work import Core
from web.public import page

log = logging.getLogger("madoguchi.web")


def add_routes(core: Core, app: web.Application) -> None:
    app.router.add_get("/terms", TermsPage(core).show)


def paragraphs(text: str) -> list[list[str]]:
    """Paragraphs (separated by blank lines) as their lines; escaping is the template's."""
    out: list[list[str]] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").lstrip("\ufeff").split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


class TermsPage:
    def __init__(self, core: Core) -> None:
        self.settings = core.settings
        self.own = f"{self.settings.public_url.rstrip('/')}/terms"

    async def show(self, request: web.Request) -> web.Response:
        settings = self.settings
        if settings.terms_link != self.own:
            raise web.HTTPFound(settings.terms_link)
        text: list[list[str]] | None = None
        if settings.terms_file is not None:
            try:
                text = paragraphs(
                    await asyncio.to_thread(Path(settings.terms_file).read_text, encoding="utf-8")
                )
            except (OSError, UnicodeDecodeError) as exc:
                log.error("terms file unreadable: %s (%s)", settings.terms_file, type(exc).__name__)
                return page(settings, request, "terms_unavailable.html.j2", status=503)
        return page(settings, request, "terms.html.j2", paragraphs=text, version=settings.terms_version)
