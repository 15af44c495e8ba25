"""Keyed hashes for support keys and link tokens (SPEC §4.1: stored only as HMAC).

A keyed hash rather than a plain one: the keys are short and structured, so without the
pepper (MADOGUCHI_SECRET_KEY) a stolen database could be brute-forced offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


class Hasher:
    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode("utf-8")

    def digest(self, value: str, *, purpose: str) -> str:
        """Hex HMAC-SHA256 of value; ``purpose`` separates key hashes from token hashes."""
        mac = hmac.new(self._key, purpose.encode("ascii") + b"\x00" + value.encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()

    def matches(self, value: str, stored: str, *, purpose: str) -> bool:
        return hmac.compare_digest(self.digest(value, purpose=purpose), stored)


def new_token() -> str:
    """A 256-bit URL-safe random token for links."""
    return secrets.token_urlsafe(32)
