"""core.dates.long_date: the one way a date or an instant is written (docs/wording.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.dates import long_date
from core.templates import environment


@pytest.mark.parametrize(
    ("value", "locale", "time", "expected"),
    [
        (date(2026, 12, 8), "ja", False, "2026年12月8日（火）"),
        (date(2026, 12, 8), "en", False, "Tue, December 8, 2026"),
        ("2026-12-08", "ja", False, "2026年12月8日（火）"),
        # 20:30 UTC on the 7th is 05:30 on the 8th in Tokyo: the JST day is the one shown.
        (datetime(2026, 12, 7, 20, 30, tzinfo=UTC), "ja", False, "2026年12月8日（火）"),
        (datetime(2026, 12, 7, 20, 30, tzinfo=UTC), "ja", True, "2026年12月8日（火）05:30"),
        (datetime(2026, 12, 7, 20, 30, tzinfo=UTC), "en", True, "Tue, December 8, 2026 05:30 JST"),
        # SQLite hands back naive UTC.
        (datetime(2026, 12, 7, 20, 30), "ja", True, "2026年12月8日（火）05:30"),
        ("2026-12-07T20:30:00+00:00", "ja", True, "2026年12月8日（火）05:30"),
        (date(2027, 1, 3), "ja", True, "2027年1月3日（日）"),
        (None, "ja", False, "—"),
    ],
)
def test_long_date(value: object, locale: str, time: bool, expected: str) -> None:
    assert long_date(value, locale, time=time) == expected  # type: ignore[arg-type]


def test_templates_have_it_as_the_filter_long_date() -> None:
    template = environment().from_string("{{ d | long_date }} / {{ d | long_date('en') }}")
    assert template.render(d="2026-12-08") == "2026年12月8日（火） / Tue, December 8, 2026"
