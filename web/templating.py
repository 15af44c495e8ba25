"""Rendering a password page (``templates/web/<locale>/*.html.j2``).

The environment is ``core.templates``' (one for mail and web: autoescape, ``StrictUndefined``
so a missing value fails the test suite instead of rendering an empty string to a
customer); the pages use its ``pages()`` overlay. Handlers pass plain values, never ORM
objects.
"""

from __future__ import annotations

from typing import Any

from core.templates import pages


def render_page(page_locale: str, name: str, **values: Any) -> str:
    return pages().get_template(f"web/{page_locale}/{name}").render(locale=page_locale, **values)
