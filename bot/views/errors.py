"""A domain error as the sentence the user reads, in their language."""

from __future__ import annotations

from bot import blocks as bk
from bot.views.accounts import resend_button
from core.activation import AccountPending
from core.errors import DomainError, ValidationFailed


def error_text(error: DomainError, locale: str) -> str:
    """The error's catalog message; for a validation error, each field's (once each).
    Its parameters often echo what the user typed (a support ID, an address), so they
    are escaped like every other value (``bk.say``)."""
    if isinstance(error, ValidationFailed) and error.fields:
        lines = [bk.say(mid, locale, **error.params) for mid in error.fields.values()]
        return bk.Mrkdwn("\n".join(dict.fromkeys(lines)))
    return bk.say(error.message_id, locale, **error.params)


def error_blocks(error: DomainError, locale: str) -> list[bk.Block]:
    """The error as blocks: its text, and for a pending account the button that mails a
    new activation link (SPEC §4.11: the answer offers the resend)."""
    blocks = [bk.section(error_text(error, locale))]
    if isinstance(error, AccountPending):
        blocks.append(resend_button(locale))
    return blocks
