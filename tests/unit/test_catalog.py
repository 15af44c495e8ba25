from __future__ import annotations

import pytest

from core.messages import LOCALES, MissingMessage, catalog, render


def test_every_message_has_japanese_and_english() -> None:
    for message_id, texts in catalog().items():
        for locale in LOCALES:
            assert texts[locale].strip(), f"{message_id} has an empty {locale} text"


def test_spec_wording_of_an_invalid_key_is_verbatim() -> None:
    assert render("support_key.invalid", "ja") == "無効なサポートキーです。"
    assert render("support_key.invalid", "en") == "Invalid support key."


def test_placeholders_are_filled() -> None:
    assert "7" in render("throttle.wait", "en", minutes=7)


def test_unknown_message_id_is_an_error() -> None:
    with pytest.raises(MissingMessage):
        render("no.such.message")
