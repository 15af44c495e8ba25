"""How people name an inquiry and its states: ``INQ-000123``, ``[INQ-000123]`` in a
mail subject, and the four statuses of SPEC §4.8.

Separate because every door reads these (Slack arguments, mail subjects, templates)
and none of them needs the database to do so.
"""

from __future__ import annotations

import re
from typing import Final, Literal

# The product of questions about the service itself; allowed with or without a support ID.
OTHER_PRODUCT: Final = "その他"

Status = Literal["new", "in_progress", "answered", "closed"]
# 受付 → 対応中 → 回答済み → 完了; the catalog names them (``inquiry.status.<code>``).
STATUSES: Final[tuple[Status, ...]] = ("new", "in_progress", "answered", "closed")
OPEN_STATUSES: Final[tuple[Status, ...]] = ("new", "in_progress", "answered")
# Waiting for staff: what can be overdue.
WAITING_FOR_STAFF: Final[tuple[Status, ...]] = ("new", "in_progress")

# ``[INQ-000123]`` in a subject: a thread hint (the mail door checks the sender).
SUBJECT_TAG = re.compile(r"\[INQ-(\d{1,12})\]", re.I)
_NUMBER = re.compile(r"^\s*(?:INQ-?)?0*(\d{1,12})\s*$", re.I)


def format_number(number: int) -> str:
    return f"INQ-{number:06d}"


def parse_number(value: str | int) -> int | None:
    """``INQ-000123``, ``inq-123`` or ``123`` → 123; anything else None."""
    if isinstance(value, int):
        return value if value > 0 else None
    match = _NUMBER.match(value)
    if match is None:
        return None
    number = int(match.group(1))
    return number if number > 0 else None


def subject_tag(number: int) -> str:
    return f"[{format_number(number)}]"
