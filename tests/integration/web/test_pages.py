"""The password page behind activation and reset links (SPEC §4.3), over real HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.models import Account
from tests.integration.web.conftest import PUBLIC_URL, Site

GOOD = "Kumquat-2026x"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, html
    return match.group(1)


async def _get(site: Site, path: str, **headers: str) -> tuple[int, str, aiohttp.ClientResponse]:
    async with aiohttp.ClientSession() as http, http.get(site.base + path, headers=headers) as response:
        return response.status, await response.text(), response


async def _post(site: Site, path: str, data: dict[str, str], **headers: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(site.base + path, data=data, headers=headers) as response,
    ):
        assert response.headers["Referrer-Policy"] == "no-referrer"
        return response.status, await response.text()


async def _account_status(site: Site) -> str:
    async with site.core.uow() as uow:
        row = (await uow.session.scalars(select(Account))).one()
        return row.status


async def test_an_activation_link_shows_the_form_with_the_policy_and_no_referrer(site: Site) -> None:
    token = await site.register()
    status, html, response = await _get(site, f"/activate/{token}")
    assert status == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert 'lang="ja"' in html
    assert "パスワードは8文字以上で、英大文字・英小文字・数字をそれぞれ1文字以上含み" in html
    assert "taro.yamada@customer-a.example.jp" in html
    assert _csrf(html)


async def test_the_page_speaks_english_by_accept_language_and_switches_by_link(site: Site) -> None:
    token = await site.register()
    status, html, _ = await _get(site, f"/activate/{token}", **{"Accept-Language": "en-US,en;q=0.9,ja;q=0.5"})
    assert status == 200
    assert 'lang="en"' in html
    assert "Use at least 8 characters" in html
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{site.base}/activate/{token}?lang=ja", headers={"Accept-Language": "en"}) as r:
            assert 'lang="ja"' in await r.text()
        # The choice is remembered by a cookie for the next page of the same browser.
        async with http.get(f"{site.base}/activate/{token}", headers={"Accept-Language": "en"}) as r:
            assert 'lang="ja"' in await r.text()


async def test_links_on_the_page_come_from_the_public_url_not_the_host_header(site: Site) -> None:
    token = await site.register()
    _, html, _ = await _get(site, f"/activate/{token}", Host="evil.example")
    assert f'action="{PUBLIC_URL}/activate/{token}"' in html
    assert "evil.example" not in html


async def test_a_forged_link_is_refused_with_a_page_pointing_to_the_contact_window(site: Site) -> None:
    status, html, response = await _get(site, "/activate/forged-token-that-was-never-issued")
    assert status == 404
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert 'id="link-link_unknown"' in html
    assert "mailto:contact@support.example.com" in html
    assert "このリンクは無効です" in html


async def test_an_expired_link_is_refused_with_its_own_page(site: Site, clock: FrozenClock) -> None:
    token = await site.register()
    clock.advance(timedelta(days=7, seconds=1))
    status, html, _ = await _get(site, f"/activate/{token}", **{"Accept-Language": "en"})
    assert status == 410
    assert 'id="link-link_expired"' in html
    assert "has expired" in html
    assert "mailto:contact@support.example.com" in html


async def test_a_good_password_activates_the_account_and_the_link_then_reads_as_used(site: Site) -> None:
    token = await site.register()
    _, html, _ = await _get(site, f"/activate/{token}")
    data = {"csrf": _csrf(html), "password": GOOD, "password_confirm": GOOD}
    status, done = await _post(site, f"/activate/{token}", data)
    assert status == 200
    assert 'id="password-done"' in done
    assert "パスワードを設定しました" in done
    assert await _account_status(site) == "active"

    status, html, _ = await _get(site, f"/activate/{token}")
    assert status == 410
    assert 'id="link-link_used"' in html
    status, again = await _post(site, f"/activate/{token}", data)
    assert status == 410
    assert 'id="link-link_used"' in again


async def test_a_weak_password_is_refused_with_the_rules_it_breaks_and_the_link_still_works(
    site: Site,
) -> None:
    token = await site.register()
    _, html, _ = await _get(site, f"/activate/{token}", **{"Accept-Language": "en"})
    csrf = _csrf(html)
    status, page = await _post(
        site,
        f"/activate/{token}",
        {"csrf": csrf, "password": "alllowercase", "password_confirm": "alllowercase"},
        **{"Accept-Language": "en"},
    )
    assert status == 400
    assert 'id="errors"' in page
    assert "upper-case letter" in page
    assert "digit" in page
    assert await _account_status(site) == "pending"
    status, _ = await _post(
        site, f"/activate/{token}", {"csrf": csrf, "password": GOOD, "password_confirm": GOOD}
    )
    assert status == 200
    assert await _account_status(site) == "active"


async def test_a_confirmation_that_differs_is_refused(site: Site) -> None:
    token = await site.register()
    _, html, _ = await _get(site, f"/activate/{token}")
    status, page = await _post(
        site, f"/activate/{token}", {"csrf": _csrf(html), "password": GOOD, "password_confirm": GOOD + "x"}
    )
    assert status == 400
    assert "確認用のパスワードが一致しません" in page
    assert await _account_status(site) == "pending"


@pytest.mark.parametrize("csrf", ["", "0" * 64, "not-even-hex"])
async def test_a_wrong_csrf_token_is_refused_and_sets_nothing(site: Site, csrf: str) -> None:
    token = await site.register()
    status, page = await _post(
        site, f"/activate/{token}", {"csrf": csrf, "password": GOOD, "password_confirm": GOOD}
    )
    assert status == 403
    assert 'id="csrf"' in page
    assert await _account_status(site) == "pending"


async def test_the_csrf_token_of_one_link_does_not_open_another(site: Site) -> None:
    first = await site.register("first@customer-a.example.jp")
    _, html, _ = await _get(site, f"/activate/{first}")
    second = await site.register("second@customer-a.example.jp")
    status, _ = await _post(
        site, f"/activate/{second}", {"csrf": _csrf(html), "password": GOOD, "password_confirm": GOOD}
    )
    assert status == 403


async def test_twenty_rapid_guesses_from_one_ip_are_refused_after_five(site: Site) -> None:
    statuses = []
    last = ""
    for n in range(20):
        status, last, _ = await _get(site, f"/activate/guess-{n:04d}-abcdefghijklmnop")
        statuses.append(status)
    assert statuses == [404] * 5 + [429] * 15
    assert 'id="throttled"' in last
    assert "15分後にもう一度お試しください" in last
    # A real link from the same address is refused too until the window passes.
    token = await site.register()
    status, _, _ = await _get(site, f"/activate/{token}")
    assert status == 429


async def test_twenty_rapid_submissions_from_one_ip_are_refused_after_ten(site: Site) -> None:
    token = await site.register()
    _, html, _ = await _get(site, f"/activate/{token}")
    data = {"csrf": _csrf(html), "password": "weak", "password_confirm": "weak"}
    statuses = []
    last = ""
    for _ in range(20):
        status, last = await _post(site, f"/activate/{token}", data, **{"Accept-Language": "en"})
        statuses.append(status)
    assert statuses == [400] * 10 + [429] * 10
    assert 'id="throttled"' in last
    assert "Too many failed attempts" in last


async def test_a_reset_link_is_served_under_reset_with_reset_wording(site: Site) -> None:
    token = await site.register()
    status, html, _ = await _get(site, f"/reset/{token}", **{"Accept-Language": "en"})
    assert status == 200
    assert f'action="{PUBLIC_URL}/reset/{token}"' in html


async def test_throttle_hits_are_counted_in_metrics(site: Site) -> None:
    for n in range(6):
        await _get(site, f"/activate/guess-{n:04d}-abcdefghijklmnop")
    _, text, _ = await _get(site, "/metrics")
    assert 'madoguchi_throttle_hits_total{door="web",scope="web.link"} 1.0' in text
    assert 'route="/activate/{token}",status="404"' in text
    assert "guess-0000" not in text


async def test_a_link_of_a_disabled_account_is_refused(site: Site) -> None:
    token = await site.register()
    async with site.core.uow() as uow:
        row = (await uow.session.scalars(select(Account))).one()
        row.status = "disabled"
        await uow.commit()
    status, html, _ = await _get(site, f"/activate/{token}")
    assert status == 403
    assert 'id="link-disabled"' in html
    assert "mailto:contact@support.example.com" in html


async def test_every_page_kind_renders_in_both_languages(site: Site, clock: FrozenClock) -> None:
    token = await site.register()
    for lang in ("ja", "en"):
        for path, expected in (
            (f"/activate/{token}?lang={lang}", 200),
            (f"/reset/forged-{lang}-token-value?lang={lang}", 404),
        ):
            status, html, _ = await _get(site, path)
            assert status == expected
            assert f'lang="{lang}"' in html


async def test_submissions_over_the_in_flight_cap_are_told_to_retry(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await site.register()
    _, html, _ = await _get(site, f"/activate/{token}")
    monkeypatch.setattr("web.pages.MAX_POSTS_IN_FLIGHT", 0)
    status, page = await _post(
        site, f"/activate/{token}", {"csrf": _csrf(html), "password": GOOD, "password_confirm": GOOD}
    )
    assert status == 503
    assert 'id="busy"' in page
    assert await _account_status(site) == "pending"
