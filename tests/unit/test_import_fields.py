"""The vendor file's field rules (core/importing/fields.py), with no database: each value
is cleaned or refused with the JSON path it was found at."""

from __future__ import annotations

from datetime import date

import pytest

from core.importing import ImportRejected
from core.importing.fields import date_field, key_at, list_field, object_at, prefecture_of, text_field


def test_a_text_is_trimmed_and_a_missing_optional_one_is_empty() -> None:
    assert text_field({"name": "  顧客A  "}, "name", "companies[0]", required=True) == "顧客A"
    assert text_field({}, "phone", "companies[0]", required=False) == ""


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({}, "import.reason.missing"),
        ({"code": "   "}, "import.reason.missing"),
        ({"code": 12}, "import.reason.not_a_string"),
        ({"code": "C" * 65}, "import.reason.too_long"),
    ],
)
def test_a_bad_text_is_refused_at_its_path(row: dict[str, object], reason: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        text_field(row, "code", "companies[3]", required=True)
    assert (caught.value.path, caught.value.reason) == ("companies[3].code", reason)


def test_a_date_must_be_an_iso_calendar_date() -> None:
    assert date_field({"ends_on": "2026-12-31"}, "ends_on", "contracts[0]") == date(2026, 12, 31)
    for value in ("2026-02-30", "31.12.2026", 20261231):
        with pytest.raises(ImportRejected) as caught:
            date_field({"ends_on": value}, "ends_on", "contracts[1]")
        assert (caught.value.path, caught.value.reason) == (
            "contracts[1].ends_on",
            "import.reason.not_a_date",
        )


def test_lists_objects_and_keys_are_refused_at_their_paths() -> None:
    assert list_field({"keys": None}, "keys", "contracts[0]") == []
    with pytest.raises(ImportRejected) as caught:
        list_field({"keys": "SK"}, "keys", "contracts[0]")
    assert (caught.value.path, caught.value.reason) == ("contracts[0].keys", "import.reason.not_a_list")
    with pytest.raises(ImportRejected) as caught:
        object_at(["not", "an", "object"], "companies[7]")
    assert caught.value.path == "companies[7]"
    with pytest.raises(ImportRejected) as caught:
        key_at("SK-7Q2M/4TXA", "contracts[2].keys[5]")
    assert (caught.value.path, caught.value.reason) == ("contracts[2].keys[5]", "import.reason.key_malformed")
    assert key_at(" sk-7q2m-4txa-9kpl ", "contracts[2].keys[6]") == key_at("SK7Q2M4TXA9KPL", "x")


def test_the_prefecture_is_the_one_the_address_starts_with() -> None:
    assert prefecture_of(" 東京都千代田区丸の内1-1") == "東京都"
    assert prefecture_of("千代田区丸の内1-1") == ""
