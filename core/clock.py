"""Time as a dependency, so expiry and throttling rules are tested with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC (stored values must share a zone)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests and benchmarks."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        # Always UTC: SQLite stores datetimes without their offset, so every stored
        # value must be in one zone for comparisons to hold.
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for what was stored as UTC; make them aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
