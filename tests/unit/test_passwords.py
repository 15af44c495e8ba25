from __future__ import annotations

import asyncio

import pytest

from core import passwords
from core.errors import ValidationFailed


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Abc1234", "password.too_short"),
        ("abcdefg1", "password.needs_upper"),
        ("ABCDEFG1", "password.needs_lower"),
        ("Abcdefgh", "password.needs_digit"),
        ("A1" + "b" * 127, "password.too_long"),
        ("Taro@Example.jp1", None),
    ],
)
def test_each_weak_password_names_the_rule_it_breaks(password: str, problem: str | None) -> None:
    problems = passwords.policy_problems(password, "taro@example.jp")
    assert problems == ([problem] if problem else [])


def test_a_password_equal_to_the_username_is_refused_whatever_its_case() -> None:
    problems = passwords.policy_problems("Taro1@Example.JP", "taro1@example.jp")
    assert problems == ["password.is_username"]


def test_eight_characters_with_upper_lower_and_digit_is_enough() -> None:
    assert passwords.policy_problems("Abcdefg1", "someone@example.jp") == []


def test_check_policy_raises_with_the_first_problem_on_the_password_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        passwords.check_policy("short", "someone@example.jp")
    assert caught.value.fields == {"password": "password.too_short"}
    assert caught.value.params["problems"][0] == "password.too_short"


async def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    stored = await passwords.hash_password("Correct1Horse")
    assert stored.startswith("$argon2id$")
    assert "Correct1Horse" not in stored
    assert await passwords.verify_password(stored, "Correct1Horse")
    assert not await passwords.verify_password(stored, "Correct1horse")
    assert not await passwords.verify_password(None, "Correct1Horse")
    assert not await passwords.verify_password("not-a-hash", "Correct1Horse")
    assert not passwords.needs_rehash(stored)


async def test_a_burst_of_hashes_is_computed_off_the_event_loop_and_all_complete() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(ticker())
    hashes = await asyncio.gather(*(passwords.hash_password(f"Pass{i}word") for i in range(6)))
    beat.cancel()
    assert len(set(hashes)) == 6
    # The loop kept running while the hashes were computed in the pool.
    assert ticks > 6
    assert passwords._executor()._max_workers == passwords.MAX_PARALLEL
