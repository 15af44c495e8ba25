"""The one Jinja2 environment of ``templates/``: mail for customers and the password pages.

Why core owns it: both doors render from the same folder and must agree on what a
template may do (``StrictUndefined``: a missing value fails loudly instead of showing a
customer a blank; autoescape for ``.html.j2``; the cache of compiled templates), and
core is the only package both doors may import. The words customers read live here
already (``core.messages``); this is their long form. Nothing here renders anything: the
mail door builds the ``EmailMessage`` (``mail.templates``) and the web door the page.
Built on first use, once per process, not at import.

Template names start with their area (``mail/ja/request_ack.txt.j2``,
``web/ja/form.html.j2``); names inside a template (``{% include 'ja/_footer.txt.j2' %}``,
``{% extends "base.html.j2" %}``) stay relative to its area, as they were written.

The password pages were written for ``trim_blocks``/``lstrip_blocks`` and the mails for
Jinja's defaults (keeping every newline, which is the text a customer reads): the pages
render through ``pages()``, an overlay of the same environment with those two lexer
switches, sharing its loader, escaping and undefined policy.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.dates import long_date

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


class _Areas(Environment):
    def join_path(self, template: str, parent: str) -> str:
        """``include``/``extends`` from ``mail/ja/x.txt.j2`` of ``ja/_footer.txt.j2`` load
        ``mail/ja/_footer.txt.j2``: a template names its neighbours within its area."""
        area, _, _ = parent.partition("/")
        return template if template.startswith(area + "/") else f"{area}/{template}"


@cache
def environment() -> Environment:
    """The environment (one per process); mail renders with it. Dates go through the
    filter ``long_date`` (``core.dates``), the one way a date is written."""
    env = _Areas(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["long_date"] = long_date
    return env


@cache
def pages() -> Environment:
    """The same environment with the web pages' whitespace rules."""
    return environment().overlay(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
