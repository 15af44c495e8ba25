"""The one Jinja2 environment of the web pages (``templates/web/<locale>/*.html.j2``).

Autoescape on, ``StrictUndefined`` so a missing value fails the test suite instead of
rendering an empty string to a customer. Handlers pass plain values, never ORM objects.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "web"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(page_locale: str, name: str, **values: Any) -> str:
    return environment().get_template(f"{page_locale}/{name}").render(locale=page_locale, **values)
