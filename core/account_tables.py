"""The tables of the account lifecycle (SPEC §4.11): sign-in links and email changes.

Separate from ``core.models`` so the account lifecycle's schema reads in one place;
registered on ``Base.metadata`` by one import at the end of ``core.models``. Both hold a
secret only as its keyed hash (``core.hashing``), like ``account_tokens``: the raw token
exists in the Slack answer or the sealed part of an outbox row, never at rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, BigId


class SignInLink(Base):
    """A single-use, short-lived link to the sign-in page, made for one Slack user
    (``/support link``): signing in with it links that Slack user to the account."""

    __tablename__ = "signin_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    slack_team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32), index=True)
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The account the Slack user was linked to (set when used).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)


class EmailChange(Base):
    """A new address waiting for its owner to confirm it with the mailed link; until
    then the account keeps its old address (it is the username)."""

    __tablename__ = "email_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    new_email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
