"""What one value of the vendor file must be, and the refusal naming its JSON path.

Separate from the passes over the file (``core.importing.reading``) because these are
the SPEC's field rules alone — types, lengths, dates, key spelling — with no database
and no state: each takes a value and the path it was found at, and returns it cleaned
or raises ``ImportRejected`` for that path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any, BinaryIO

import ijson

from core import support_keys
from core.contact_details import PREFECTURES
from core.importing.report import ImportRejected
from core.normalize import support_key as canonical_key

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Lengths of the columns the values go into (core.models).
MAX = {
    "code": 64,
    "name": 255,
    "postal_code": 8,
    "address": 255,
    "phone": 32,
    "number": 64,
    "company": 64,
    "product_family": 255,
    "end_user": 255,
    "support_id": 80,
    "description": 255,
    "email": 254,
}


def prefecture_of(address: str) -> str:
    """The prefecture an address starts with, or ""."""
    text = address.strip()
    for name in PREFECTURES:
        if text.startswith(name):
            return name
    return ""


def elements(handle: BinaryIO, section: str) -> Iterator[tuple[int, Any]]:
    """(index, row) for every element of the top-level array ``section``."""
    try:
        yield from enumerate(ijson.items(handle, f"{section}.item", use_float=True))
    except ijson.JSONError as exc:
        raise ImportRejected("$", "import.reason.invalid_json", detail=str(exc)[:200]) from exc


def text_field(row: dict[str, Any], name: str, path: str, *, required: bool, limit: str | None = None) -> str:
    value = row.get(name)
    if value is None:
        if required:
            raise ImportRejected(f"{path}.{name}", "import.reason.missing")
        return ""
    if not isinstance(value, str):
        raise ImportRejected(f"{path}.{name}", "import.reason.not_a_string")
    value = value.strip()
    if required and not value:
        raise ImportRejected(f"{path}.{name}", "import.reason.missing")
    maximum = MAX[limit or name]
    if len(value) > maximum:
        raise ImportRejected(f"{path}.{name}", "import.reason.too_long", max=maximum)
    return value


def date_field(row: dict[str, Any], name: str, path: str) -> date:
    value = row.get(name)
    if value is None:
        raise ImportRejected(f"{path}.{name}", "import.reason.missing")
    if isinstance(value, str) and ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ImportRejected(f"{path}.{name}", "import.reason.not_a_date")


def list_field(row: dict[str, Any], name: str, path: str) -> list[Any]:
    value = row.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportRejected(f"{path}.{name}", "import.reason.not_a_list")
    return value


def object_at(row: Any, path: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ImportRejected(path, "import.reason.not_an_object")
    return row


def key_at(value: Any, path: str) -> str:
    """The canonical spelling of a key (what is hashed), or the reason it is refused."""
    if not isinstance(value, str):
        raise ImportRejected(path, "import.reason.not_a_string")
    if len(value.strip()) > support_keys.MAX_LENGTH:
        raise ImportRejected(path, "import.reason.key_too_long", max=support_keys.MAX_LENGTH)
    if not support_keys.is_well_formed(value):
        raise ImportRejected(path, "import.reason.key_malformed")
    return canonical_key(value)
