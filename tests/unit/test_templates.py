"""One Jinja2 environment for mail and web (core.templates)."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from core.templates import environment, pages


def test_mail_and_pages_share_one_loader_and_one_undefined_policy() -> None:
    assert pages().loader is environment().loader
    assert pages().undefined is environment().undefined
    with pytest.raises(UndefinedError):
        pages().get_template("web/ja/done.html.j2").render()


SITE = {"vendor": "V", "service": "S", "contact_address": "c@x.example", "public_url": "http://x"}
PERSON = {"company": "顧客A", "last_name": "山田", "first_name": "太郎"}


def test_a_template_names_its_neighbours_within_its_area() -> None:
    text = (
        environment()
        .get_template("mail/ja/username_reminder.txt.j2")
        .render(username="taro", **PERSON, **SITE)
    )
    assert "運用窓口: c@x.example" in text  # from mail/ja/_footer.txt.j2
    html = environment().get_template("mail/en/username_reminder.html.j2")
    rendered = html.render(username="<taro>", mail_subject="s", **PERSON, **SITE)
    assert "&lt;taro&gt;" in rendered and "<hr>" in rendered  # mail/en/_layout.html.j2, escaped
