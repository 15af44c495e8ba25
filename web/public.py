"""What the public pages (the calendar, the terms) share: the language, the links to the
same page in the other language, and the response headers.

Unlike the password pages these hold nothing secret and are meant to be linked to; links
on them still come from MADOGUCHI_PUBLIC_URL, never from the Host header.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from core.config import SUPPORTED_LOCALES, Settings
from web.locale import LANG_COOKIE, pick_locale
from web.templating import render_page

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


def locale_of(request: web.Request, settings: Settings) -> tuple[str, bool]:
    return pick_locale(request, settings.locale)


def page(
    settings: Settings,
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    keep: dict[str, str] | None = None,
    **values: Any,
) -> web.Response:
    """Render ``web/<locale>/<template>`` for ``request``; ``keep`` is the query the
    language links carry over (the month shown, say)."""
    locale, remember = locale_of(request, settings)
    base = settings.public_url.rstrip("/")
    here = f"{base}{request.path}"
    switch = {loc: f"{here}?{urlencode({**(keep or {}), 'lang': loc})}" for loc in SUPPORTED_LOCALES}
    html = render_page(
        locale,
        template,
        base=base,
        switch=switch,
        vendor=settings.vendor_name,
        service=settings.service_name,
        contact=settings.contact_address,
        **values,
    )
    response = web.Response(status=status, text=html, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    # Today's marker changes with the clock and the language with the reader's headers:
    # a cache must ask again every time.
    response.headers["Cache-Control"] = "no-cache"
    if remember:
        response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")
    return response
