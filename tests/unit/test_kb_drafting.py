"""What ``kb from INQ`` takes out of a draft (core.knowledge.drafting): the asker's
names, company and addresses, anything that looks like an email address or a Japanese
phone number — and nothing that only looks a little like one."""

from __future__ import annotations

import pytest

from core.knowledge.drafting import _known, _Scrubber

ROW = (
    "件名",
    "製品Aファミリ",
    None,
    "old.address@example.co.jp",
    "Ken.Mori@example.co.jp",
    "森",
    "Ken",
    "モリ",
    "ケン",
    "045-111-2222",
    "株式会社みなと製作所",
)


def scrub(text: str, locale: str = "ja") -> tuple[str, dict[str, int]]:
    scrubber = _Scrubber(locale, _known(ROW))
    return scrubber(text), scrubber.removed


@pytest.mark.parametrize(
    "phone",
    [
        "03-1234-5678",
        "090 1234 5678",
        "0120-123-456",
        "+81-3-1234-5678",
        "０３－１２３４－５６７８",
        "0312345678",
    ],
)
def test_japanese_phone_numbers_are_removed(phone: str) -> None:
    text, removed = scrub(f"電話：{phone}まで")
    assert text == "電話：（電話番号）まで" and removed == {"phone": 1}


@pytest.mark.parametrize(
    "kept",
    ["INQ-000123", "E-1001", "2026-12-08", "バージョン 10.2.3", "KB-A-0001", "3000文字", "v0.12.345"],
)
def test_numbers_that_are_not_phone_numbers_stay(kept: str) -> None:
    assert scrub(kept) == (kept, {})


def test_any_email_address_is_removed_full_width_at_included() -> None:
    text, removed = scrub("連絡先 someone@other.example.com と a.b＠c.example.jp")
    assert text == "連絡先 （メールアドレス） と （メールアドレス）" and removed == {"email": 2}


def test_the_company_is_removed_with_and_without_its_legal_form() -> None:
    text, removed = scrub("株式会社みなと製作所の件です。みなと製作所では")
    assert "みなと" not in text and removed == {"company": 2}


def test_a_latin_name_is_removed_only_as_a_whole_word() -> None:
    text, removed = scrub("Dear Ken, the Kenya office and KEN")
    assert "Kenya" in text and text.startswith("Dear （お名前）,")
    assert removed == {"name": 2}


def test_a_one_character_name_is_left_for_staff() -> None:
    # 森 alone would take 森林 apart; the notice tells staff to check for names.
    assert scrub("森林の管理") == ("森林の管理", {})


def test_placeholders_follow_the_staff_members_language() -> None:
    text, _ = scrub("mail Ken.Mori@example.co.jp", locale="en")
    assert text == "mail [email address]"
