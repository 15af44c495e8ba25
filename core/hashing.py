"""Keyed hashes for support keys and link tokens (SPEC §4.1: stored only as HMAC).

A keyed hash rather than a plain one: the keys are short and structured, so without the
pepper (MADOGUCHI_SECRET_KEY) a stolen database could be brute-forced offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_BLOCK = 64  # SHA-256 block size


class Hasher:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once.

    Output is exactly ``hmac.new(key, msg, sha256).hexdigest()``; copying the two
    pre-keyed states costs a third of building an HMAC object per call, which counts
    when an import hashes a million keys.
    """

    def __init__(self, secret_key: str) -> None:
        key = secret_key.encode("utf-8")
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, value: str, *, purpose: str) -> str:
        """Hex HMAC-SHA256 of value; ``purpose`` separates key hashes from token hashes."""
        inner = self._inner.copy()
        inner.update(purpose.encode("ascii") + b"\x00" + value.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def matches(self, value: str, stored: str, *, purpose: str) -> bool:
        return hmac.compare_digest(self.digest(value, purpose=purpose), stored)


def new_token() -> str:
    """A 256-bit URL-safe random token for links."""
    return secrets.token_urlsafe(32)
