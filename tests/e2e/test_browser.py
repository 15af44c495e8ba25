"""A real browser on the password page: weak password refused, good one accepted.

Headless Chromium from the Debian package (``make test`` installs it when it can),
driven by Playwright with ``executable_path``; never ``playwright install``. Skips with
the reason where Chromium is absent. The screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.config import Settings
from core.unit_of_work import Core
from madoguchi.serve import Server, web_pages
from tests.e2e.conftest import free_port
from tests.integration.web.conftest import Site

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


@pytest.fixture
async def live_site(settings: Settings, clock: FrozenClock, domain: Core) -> AsyncIterator[Site]:
    port = free_port()
    settings = settings.model_copy(update={"http_port": port, "public_url": f"http://127.0.0.1:{port}"})
    server = Server(settings, components=[web_pages], migrate=False, clock=clock)
    await server.start()
    try:
        yield Site(server, server.core)
    finally:
        await server.stop()


async def test_a_person_sets_a_password_in_a_real_browser(live_site: Site, db_url: str) -> None:
    if db_url.startswith("postgresql"):
        pytest.skip("the browser walk is the same on both databases; run once, on SQLite")
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (/usr/bin/chromium); `make test` installs the Debian package")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright for Python is not installed")

    token = await live_site.register(locale="en")
    url = f"{live_site.base}/activate/{token}"
    ARTIFACTS.mkdir(exist_ok=True)
    profile = tempfile.mkdtemp(prefix="madoguchi-chromium-")
    try:
        async with async_playwright() as pw:
            # A fresh profile directory per run (Playwright passes it as --user-data-dir).
            browser = await pw.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), args=FLAGS, headless=True, locale="en-US"
            )
            try:
                page = await browser.new_page()
                await page.goto(url + "?lang=ja")
                assert "英大文字・英小文字・数字" in await page.inner_text("#policy")
                await page.screenshot(path=str(ARTIFACTS / "password-form-ja.png"), full_page=True)
                await page.click("a[hreflang=en]")
                await page.wait_for_selector("html[lang=en]")
                assert "Use at least 8 characters" in await page.inner_text("#policy")

                await page.fill("#password", "lowercase1")
                await page.fill("#password_confirm", "lowercase1")
                await page.click("#submit")
                await page.wait_for_selector("#errors")
                assert "upper-case letter" in await page.inner_text("#errors")
                await page.screenshot(path=str(ARTIFACTS / "password-weak.png"), full_page=True)

                await page.fill("#password", "Kumquat-2026x")
                await page.fill("#password_confirm", "Kumquat-2026x")
                await page.click("#submit")
                await page.wait_for_selector("#done")
                assert "Your password has been set" in await page.inner_text("#done")
                await page.screenshot(path=str(ARTIFACTS / "password-done.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
