"""How erasure replaces a person's values inside text and JSON (core.privacy.scrub)."""

from __future__ import annotations

from types import SimpleNamespace

from core.privacy.registry import Person, Treatment
from core.privacy.scrub import Pseudonym, Scrubber, values_of

ERASED = Pseudonym("erased-0a1b2c3d", "（本人の求めにより消去しました）")


def account(**names: str) -> SimpleNamespace:
    fields = {
        "last_name": "山田",
        "first_name": "太郎",
        "last_name_kana": "ヤマダ",
        "first_name_kana": "タロウ",
        "street": "丸の内1-1-1",
        "phone": "03-1111-2222",
    }
    return SimpleNamespace(**{**fields, **names})


def scrubber(email: str = "taro@customer-a.example.jp", **names: str) -> Scrubber:
    person = Person(email=email, account_id=1, values=values_of(email, account(**names)))
    return Scrubber(person, ERASED)


def test_names_kana_phone_and_address_in_text_become_the_pseudonym() -> None:
    s = scrubber()
    text = "山田 太郎様（ヤマダタロウ）03-1111-2222／0311112222 TARO@customer-a.example.jp"
    out = s.text(text)
    for value in ("山田", "太郎", "ヤマダ", "タロウ", "1111", "taro@", "TARO@"):
        assert value not in out
    assert "erased-0a1b2c3d@erased.invalid" in out and out.count("erased-0a1b2c3d") == 5


def test_a_one_character_name_is_replaced_only_before_an_honorific() -> None:
    s = scrubber(last_name="林", first_name="一")
    assert s.text("林様、林業の件で一度お電話ください。") == "erased-0a1b2c3d、林業の件で一度お電話ください。"


def test_json_is_scrubbed_inside_and_an_address_equal_to_the_persons_is_replaced() -> None:
    s = scrubber()
    value = {
        "to": ["taro@customer-a.example.jp", "hanako@customer-a.example.jp"],
        "n": 3,
        "asker": "山田 太郎",
    }
    assert s.json(value) == {
        "to": ["erased-0a1b2c3d@erased.invalid", "hanako@customer-a.example.jp"],
        "n": 3,
        "asker": "erased-0a1b2c3d",
    }


def test_own_text_is_replaced_whole_and_someone_elses_only_where_it_names_the_person() -> None:
    s = scrubber()
    assert s.column(Treatment.OWN_TEXT, "何でも書ける本文", own=True, nullable=False) == ERASED.erased_text
    assert (
        s.column(Treatment.OWN_TEXT, "山田さんの件", own=False, nullable=False) == "erased-0a1b2c3dさんの件"
    )
    assert s.column(Treatment.CLEAR, "ヤマダ", own=False, nullable=False) == ""
    assert s.column(Treatment.CLEAR, "U123", own=False, nullable=True) is None
    assert s.column(Treatment.BYTES, b"From: taro", own=False, nullable=False) == b""
    assert s.column(Treatment.EMAIL, "hanako@customer-a.example.jp", own=False, nullable=False) == (
        "hanako@customer-a.example.jp"
    )
