"""A domain error as the sentence the user reads, in their language."""

from __future__ import annotations

from core.errors import DomainError, ValidationFailed
from core.messages import render


def error_text(error: DomainError, locale: str) -> str:
    """The error's catalog message; for a validation error, each field's (once each)."""
    if isinstance(error, ValidationFailed) and error.fields:
        lines = [render(mid, locale, **error.params) for mid in error.fields.values()]
        return "\n".join(dict.fromkeys(lines))
    return render(error.message_id, locale, **error.params)
