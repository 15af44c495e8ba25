"""``/terms`` over real HTTP (SPEC §4.5, §4.11): the text of MADOGUCHI_TERMS_FILE, a
built-in text without one, a redirect when MADOGUCHI_TERMS_URL points elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from madoguchi.serve import Server, web_pages
from tests.integration.web.conftest import PUBLIC_URL, Site

Serve = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def serve(site: Site) -> Serve:
    """Another server on the same database, with some settings changed."""

    @asynccontextmanager
    async def run(**changes: Any) -> AsyncIterator[str]:
        settings = site.core.settings.model_copy(update=changes)
        server = Server(settings, components=[web_pages], migrate=False, clock=site.core.clock)
        await server.start()
        try:
            yield f"http://127.0.0.1:{server.http_port}"
        finally:
            await server.stop()

    return run


async def _get(base: str, path: str, **headers: str) -> tuple[int, str, aiohttp.ClientResponse]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(base + path, headers=headers, allow_redirects=False) as response,
    ):
        return response.status, await response.text(), response


async def test_without_a_terms_file_the_built_in_text_is_served(site: Site) -> None:
    status, html, response = await _get(site.base, "/terms", **{"Accept-Language": "ja"})
    assert status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>サービス仕様書・約款</h1>" in html
    assert "その権限を有する方の承認を得ていること" in html
    assert site.core.settings.terms_version in html
    assert "サービス仕様書・約款についてのご質問は、運用窓口" in html
    assert "mailto:contact@support.example.com" in html
    _, english, _ = await _get(site.base, "/terms?lang=en")
    assert 'lang="en"' in english and "have the approval of someone who is" in english


async def test_the_terms_file_is_served_escaped_paragraph_by_paragraph(serve: Serve, tmp_path: Path) -> None:
    terms = tmp_path / "terms.txt"
    terms.write_text(
        "\ufeff第1条（目的）\r\n本約款は<b>テスト</b>用です。\r\n\r\n第2条 & その他\n", encoding="utf-8"
    )
    async with serve(terms_file=terms) as base:
        status, html, _ = await _get(base, "/terms?lang=ja")
        assert status == 200
        assert "<p>第1条（目的）<br>本約款は&lt;b&gt;テスト&lt;/b&gt;用です。</p>" in html
        assert "<p>第2条 &amp; その他</p>" in html
        assert "第1条（サービスの内容）" not in html  # not the built-in text
        # A new version of the file is served without a restart.
        terms.write_text("第1条（改定）\n", encoding="utf-8")
        _, again, _ = await _get(base, "/terms?lang=ja")
        assert "第1条（改定）" in again


async def test_an_unreadable_terms_file_is_a_503_naming_the_contact_window(
    serve: Serve, tmp_path: Path
) -> None:
    async with serve(terms_file=tmp_path / "missing.txt") as base:
        status, html, _ = await _get(base, "/terms?lang=ja")
    assert status == 503
    assert "サービス仕様書・約款を表示できません" in html and "contact@support.example.com" in html


async def test_terms_url_elsewhere_makes_terms_a_redirect_and_every_link_points_there(serve: Serve) -> None:
    async with serve(terms_url="https://www.example.co.jp/support/terms") as base:
        status, _, response = await _get(base, "/terms")
    assert status == 302
    assert response.headers["Location"] == "https://www.example.co.jp/support/terms"


def test_the_terms_link_defaults_to_the_public_url(site: Site) -> None:
    settings = site.core.settings
    assert settings.terms_url is None
    assert settings.terms_link == f"{PUBLIC_URL}/terms"
    assert (
        settings.model_copy(update={"terms_url": "https://x.example/t"}).terms_link == "https://x.example/t"
    )
