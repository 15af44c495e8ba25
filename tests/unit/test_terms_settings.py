"""The links customers are sent to (SPEC §4.11): terms and privacy policy settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.config import Settings


def _settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["MADOGUCHI_TERMS_URL", "MADOGUCHI_PRIVACY_URL"])
@pytest.mark.parametrize(
    "bad", ["javascript:alert(1)", "www.example.jp/terms", "https://x.example/<b>", "https://a|b"]
)
def test_a_link_that_is_not_http_stops_start_up_naming_the_variable(name: str, bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(**{name: bad})
    assert name in str(caught.value)


def test_an_empty_link_is_unset() -> None:
    settings = _settings(MADOGUCHI_TERMS_URL="", MADOGUCHI_PRIVACY_URL=" ")
    assert settings.terms_url is None and settings.privacy_url is None
    assert settings.terms_link == "http://127.0.0.1:3000/terms"


def test_the_feed_url_follows_the_public_url() -> None:
    assert _settings(MADOGUCHI_PUBLIC_URL="https://s.example.jp/").calendar_feed_url == (
        "https://s.example.jp/calendar.ics"
    )
