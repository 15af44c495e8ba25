"""Replacing one person's values with a pseudonym, in a column, in free text, in JSON.

Pure functions: ``erase`` hands them one row's values at a time. A name part of a single
character (林, 森) is replaced only where an honorific follows it (様, さん, 殿): alone it
is too likely to be part of another word, which erasing would garble.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.privacy.registry import Person, Treatment

PSEUDONYM_DOMAIN = "erased.invalid"
HONORIFICS = "様|さん|殿|さま"


@dataclass(frozen=True)
class Pseudonym:
    """What the person is called after erasure: ``erased-<hex>`` and an address that can
    never receive mail (``.invalid``, RFC 2606)."""

    name: str
    # What replaces a text the person wrote, in the vendor's language.
    erased_text: str

    @property
    def email(self) -> str:
        return f"{self.name}@{PSEUDONYM_DOMAIN}"


def values_of(email: str, account: Any | None) -> tuple[str, ...]:
    """The strings that identify the person inside free text, longest first."""
    found: set[str] = {email}
    if account is not None:
        last, first = account.last_name, account.first_name
        last_kana, first_kana = account.last_name_kana, account.first_name_kana
        for a, b in ((last, first), (last_kana, first_kana)):
            if a and b:
                found |= {f"{a}{b}", f"{a} {b}", f"{a}\u3000{b}"}
        found |= {v for v in (last, first, last_kana, first_kana, account.street) if len(v or "") >= 2}
        if account.phone:
            found |= {account.phone, re.sub(r"\D", "", account.phone)}
        found |= {f"{v}{h}" for v in (last, first) if len(v or "") == 1 for h in HONORIFICS.split("|")}
    return tuple(sorted((v for v in found if v), key=len, reverse=True))


def _pattern(person: Person) -> re.Pattern[str] | None:
    if not person.values:
        return None
    return re.compile("|".join(re.escape(v) for v in person.values), re.IGNORECASE)


class Scrubber:
    def __init__(self, person: Person, pseudonym: Pseudonym) -> None:
        self.person = person
        self.pseudonym = pseudonym
        self._pattern = _pattern(person)

    def text(self, value: str) -> str:
        if not value or self._pattern is None:
            return value

        def swap(match: re.Match[str]) -> str:
            return (
                self.pseudonym.email if match.group(0).lower() == self.person.email else self.pseudonym.name
            )

        return self._pattern.sub(swap, value)

    def email(self, value: str) -> str:
        if (value or "").strip().lower() == self.person.email:
            return self.pseudonym.email
        return self.text(value)

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.email(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def column(self, treatment: Treatment, value: Any, *, own: bool, nullable: bool) -> Any:
        """The erased value of one column."""
        if value is None:
            return None
        if treatment is Treatment.EMAIL:
            return self.email(value)
        if treatment is Treatment.PSEUDONYM:
            return self.pseudonym.name
        if treatment is Treatment.CLEAR:
            return None if nullable else ""
        if treatment is Treatment.OWN_TEXT and own:
            return self.pseudonym.erased_text
        if treatment in (Treatment.TEXT, Treatment.OWN_TEXT):
            return self.text(value)
        if treatment is Treatment.JSON:
            return self.json(value)
        if treatment is Treatment.BYTES:
            return b"" if isinstance(value, bytes) else ""
        raise ValueError(treatment)
