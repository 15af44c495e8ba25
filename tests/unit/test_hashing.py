from __future__ import annotations

import hashlib
import hmac

import pytest

from core.hashing import Hasher


@pytest.mark.parametrize("secret", ["short", "x" * 64, "長い秘密鍵" * 30, ""])
@pytest.mark.parametrize("value", ["SK7Q2M4TXA9KPL", "", "トークン"])
def test_digest_is_standard_hmac_sha256_of_purpose_and_value(secret: str, value: str) -> None:
    expected = hmac.new(
        secret.encode("utf-8"), b"support-key\x00" + value.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    assert Hasher(secret).digest(value, purpose="support-key") == expected


def test_the_same_hasher_gives_the_same_digest_every_time() -> None:
    hasher = Hasher("pepper")
    first = hasher.digest("A", purpose="token")
    hasher.digest("B", purpose="token")
    assert hasher.digest("A", purpose="token") == first
    assert hasher.matches("A", first, purpose="token")
    assert not hasher.matches("A", first, purpose="support-key")
