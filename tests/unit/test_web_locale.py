"""The password page picks its language like a browser user expects."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from web.pages import LANG_COOKIE, pick_locale


def _request(path: str = "/activate/t", *, accept: str = "", cookie: str = "") -> object:
    headers = {}
    if accept:
        headers["Accept-Language"] = accept
    if cookie:
        headers["Cookie"] = f"{LANG_COOKIE}={cookie}"
    return make_mocked_request("GET", path, headers=headers)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("ja,en;q=0.5", "ja"),
        ("fr-FR,en;q=0.3,ja;q=0.8", "ja"),
        ("fr-FR,de;q=0.5", "ja"),
        ("en;q=0", "ja"),
        ("", "ja"),
        ("EN-gb", "en"),
        ("en;q=abc, ja;q=0.1", "ja"),
    ],
)
def test_accept_language_chooses_the_best_supported_language(accept: str, expected: str) -> None:
    assert pick_locale(_request(accept=accept), "ja") == (expected, False)  # type: ignore[arg-type]


def test_an_explicit_choice_wins_and_is_to_be_remembered() -> None:
    assert pick_locale(_request("/activate/t?lang=en", accept="ja"), "ja") == ("en", True)  # type: ignore[arg-type]


def test_a_remembered_choice_beats_accept_language() -> None:
    assert pick_locale(_request(accept="ja", cookie="en"), "ja") == ("en", False)  # type: ignore[arg-type]


def test_unknown_values_are_ignored() -> None:
    request = _request("/activate/t?lang=xx", accept="de", cookie="zz")
    assert pick_locale(request, "en") == ("en", False)  # type: ignore[arg-type]
