"""What a support ID's name and description may be (SPEC §4.4), and how names compare.

Separate because the rule is shared: the services check what a person types, and the
vendor import (``core.importing``) checks the names of migrated support IDs, with no
database in either check.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import ValidationFailed

NAME_MAX = 80
DESCRIPTION_MAX = 255
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def is_well_formed_name(name: str) -> bool:
    """The SPEC's name rule (1–80 of ``A-Z a-z 0-9 - _``); the import checks it too."""
    return 0 < len(name) <= NAME_MAX and bool(_NAME.match(name))


def name_key(name: str) -> str:
    """How a name is compared: width-folded (a name typed in full width is the same
    name), trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", name).strip().lower()


def validate_name(name: str) -> str:
    """A typed name as it is stored (NFKC-folded, trimmed), or the field's refusal."""
    cleaned = unicodedata.normalize("NFKC", name).strip()
    if not cleaned:
        raise ValidationFailed({"name": "support_id.name_required"})
    if len(cleaned) > NAME_MAX:
        raise ValidationFailed({"name": "support_id.name_too_long"}, max=NAME_MAX)
    if not _NAME.match(cleaned):
        raise ValidationFailed({"name": "support_id.name_invalid"})
    return cleaned


def validate_description(description: str) -> str:
    cleaned = description.strip()
    if len(cleaned) > DESCRIPTION_MAX:
        raise ValidationFailed({"description": "support_id.description_too_long"}, max=DESCRIPTION_MAX)
    return cleaned
