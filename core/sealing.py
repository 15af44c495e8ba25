"""Reversible encryption for secrets that must wait in the database for a moment.

An outbox row for an activation mail has to carry the link until the worker renders the
mail, but SPEC §4.1 forbids a token in the clear at rest. The link is sealed with a key
derived from MADOGUCHI_SECRET_KEY and the sealed blob is erased once the mail is sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet


class Sealer:
    def __init__(self, secret_key: str) -> None:
        derived = hashlib.sha256(b"madoguchi-seal\x00" + secret_key.encode("utf-8")).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values).encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> dict[str, Any]:
        if not sealed:
            return {}
        data: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        return data
