"""The staff side's lookups use indexes too (SPEC §9): the inquiry behind a message in
a post's thread (``ix_inquiries_slack_post``), the post's current content, and the
morning digest's overdue and due-today inquiries (``ix_inquiries_status_due``). Same
EXPLAIN harness and data as test_inquiry_indexes.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from core.inquiries import desk
from core.inquiries.digest import _waiting
from core.unit_of_work import Core
from tests.integration.inquiries.test_inquiry_indexes import _assert_indexed, loaded, loaded_url

__all__ = ["loaded", "loaded_url"]


async def test_the_inquiry_behind_a_thread_message_is_found_by_index(loaded: Core) -> None:
    async def call(uow: Any) -> None:
        assert await desk.by_staff_post(uow, "CSTAFF", "1700000000.000001") is None

    await _assert_indexed(loaded, call)


async def test_the_posts_current_content_is_read_by_index(loaded: Core) -> None:
    async def call(uow: Any) -> None:
        _channel, _ts, context = await desk.post_context(uow, 7)
        assert context["inquiry"] == "INQ-000007" and context["excerpt"] == "本文"

    await _assert_indexed(loaded, call)


async def test_the_digest_reads_by_index(loaded: Core) -> None:
    async def call(uow: Any) -> None:
        items, overdue, _today = await _waiting(uow, date(2026, 11, 26))
        assert items and overdue

    await _assert_indexed(loaded, call)
