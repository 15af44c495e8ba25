from __future__ import annotations

import pytest

from core import support_keys
from core.hashing import Hasher
from core.normalize import support_key as canonical


@pytest.mark.parametrize(
    "typed",
    [
        "SK-7Q2M-4TXA-9KPL",
        "sk-7q2m-4txa-9kpl",
        "ＳＫ－７Ｑ２Ｍ－４ＴＸＡ－９ＫＰＬ",
        " SK 7Q2M ー 4TXA―9KPL ",
        "SK7Q2M4TXA9KPL",
    ],
)
def test_every_spelling_of_a_key_has_one_canonical_form_and_one_hash(typed: str) -> None:
    hasher = Hasher("pepper")
    assert canonical(typed) == "SK7Q2M4TXA9KPL"
    assert support_keys.is_well_formed(typed)
    assert support_keys.digest(hasher, typed) == support_keys.digest(hasher, "SK-7Q2M-4TXA-9KPL")


def test_the_hash_depends_on_the_secret_key() -> None:
    assert support_keys.digest(Hasher("a"), "SK-1") != support_keys.digest(Hasher("b"), "SK-1")


def test_a_key_of_thirty_characters_is_well_formed_and_thirty_one_is_not() -> None:
    assert support_keys.is_well_formed("A" * 30)
    assert support_keys.is_well_formed("-".join(["ABCDE"] * 6))  # 30 characters once canonical
    assert not support_keys.is_well_formed("A" * 31)


@pytest.mark.parametrize("typed", ["", "   ", "SK-7Q2M-4TXA-9KP!", "SK-あいう", "SK-7Q2M' OR 1=1", "A" * 65])
def test_malformed_keys_are_not_well_formed(typed: str) -> None:
    assert not support_keys.is_well_formed(typed)


def test_generated_keys_are_well_formed_unambiguous_and_distinct() -> None:
    keys = {support_keys.generate() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert support_keys.is_well_formed(key) and len(key) <= support_keys.MAX_LENGTH
        assert not set(canonical(key)[2:]) & set("01IOL")


def test_a_key_is_shown_masked_but_for_its_last_four_characters() -> None:
    assert support_keys.mask("9KPL") == "****-****-9KPL"


@pytest.mark.parametrize(
    ("first", "second", "key_first", "expected"),
    [
        # As documented.
        ("SK-7Q2M-4TXA-9KPL", "ACME_01", True, ("SK-7Q2M-4TXA-9KPL", "ACME_01")),
        ("ACME_01", "SK-7Q2M-4TXA-9KPL", False, ("SK-7Q2M-4TXA-9KPL", "ACME_01")),
        # The other way round, told apart by the shape (any spelling of an issued key).
        ("ACME_01", "SK-7Q2M-4TXA-9KPL", True, ("SK-7Q2M-4TXA-9KPL", "ACME_01")),
        ("ｓｋ７Ｑ２Ｍ４ＴＸＡ９ＫＰＬ", "ACME_01", False, ("ｓｋ７Ｑ２Ｍ４ＴＸＡ９ＫＰＬ", "ACME_01")),
        # Neither or both look like keys: the documented order decides.
        ("ACME_01", "OTHER", True, ("ACME_01", "OTHER")),
        ("ACME_01", "OTHER", False, ("OTHER", "ACME_01")),
        ("SK-AAAA-BBBB-CCCC", "SK-7Q2M-4TXA-9KPL", True, ("SK-AAAA-BBBB-CCCC", "SK-7Q2M-4TXA-9KPL")),
        ("SK-BAD-0001", "ACME_01", False, ("ACME_01", "SK-BAD-0001")),
    ],
)
def test_a_key_and_a_name_are_read_in_either_order_when_the_shapes_tell(
    first: str, second: str, key_first: bool, expected: tuple[str, str]
) -> None:
    assert support_keys.key_and_name(first, second, key_first=key_first) == expected
