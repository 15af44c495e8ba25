"""The language of a web page: ``?lang=``, the cookie that remembers it, Accept-Language.

Its own module because every page of the door picks its language the same way (the
password pages, the calendar, the terms).
"""

from __future__ import annotations

from aiohttp import web

from core.config import SUPPORTED_LOCALES

LANG_COOKIE = "madoguchi_lang"


def pick_locale(request: web.Request, default: str) -> tuple[str, bool]:
    """``?lang=`` (remembered in a cookie) > cookie > Accept-Language > default.

    Returns the locale and whether the choice came from ``?lang=`` (then it is stored).
    """
    asked = request.query.get("lang", "")
    if asked in SUPPORTED_LOCALES:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE, "")
    if cookie in SUPPORTED_LOCALES:
        return cookie, False
    best: tuple[float, str] | None = None
    for part in request.headers.get("Accept-Language", "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in SUPPORTED_LOCALES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, primary)
    return (best[1] if best else default), False
