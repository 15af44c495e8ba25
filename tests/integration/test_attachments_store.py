"""core.attachments' API for every door: store in the caller's transaction, list, link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import attachments
from core.attachments.tables import Attachment, AttachmentBlob
from core.snapshots import snapshot
from core.unit_of_work import Core


async def _counts(core: Core) -> tuple[int, int]:
    async with core.uow() as uow:
        files = await uow.session.scalar(select(func.count()).select_from(Attachment))
        blobs = await uow.session.scalar(select(func.count()).select_from(AttachmentBlob))
        return files or 0, blobs or 0


async def test_files_are_stored_with_the_message_and_listed_without_their_bytes(domain: Core) -> None:
    async with domain.uow() as uow:
        stored = await attachments.store(
            uow,
            "inquiry_message",
            7,
            [attachments.NewFile("a.pdf", b"%PDF-1.4\n1"), attachments.NewFile("../b.txt", b"hello")],
        )
        await uow.commit()
    async with snapshot(domain) as snap:
        listed = await attachments.for_owner(snap, "inquiry_message", 7)
        assert await attachments.for_owner(snap, "request", 7) == []
    assert listed == stored
    assert [(a.name, a.content_type, a.size) for a in listed] == [
        ("a.pdf", "application/pdf", 10),
        ("b.txt", "application/octet-stream", 5),
    ]
    async with snapshot(domain) as snap:
        opened = await attachments.open_link(
            snap,
            domain.hasher,
            attachments.link(domain.settings, listed[1], timedelta(hours=1), now=domain.clock.now()).rsplit(
                "/", 1
            )[1],
        )
    assert opened == (listed[1], b"hello")


async def test_a_refusal_stores_nothing_and_a_rollback_takes_the_files_with_the_message(domain: Core) -> None:
    too_big = attachments.NewFile("big.bin", bytes(domain.settings.attachment_max_bytes + 1))
    async with domain.uow() as uow:
        with pytest.raises(attachments.AttachmentsRefused) as refused:
            await attachments.store(uow, "request", 1, [attachments.NewFile("ok.txt", b"ok"), too_big])
        assert refused.value.message_id == "attachments.too_large"
        await uow.commit()
    assert await _counts(domain) == (0, 0)

    async with domain.uow() as uow:  # stored, then the message's transaction fails
        await attachments.store(uow, "request", 1, [attachments.NewFile("ok.txt", b"ok")])
    assert await _counts(domain) == (0, 0)


async def test_a_link_is_good_until_it_ends_and_only_for_its_file(domain: Core) -> None:
    async with domain.uow() as uow:
        [one, two] = await attachments.store(
            uow, "request", 1, [attachments.NewFile("1.txt", b"one"), attachments.NewFile("2.txt", b"two")]
        )
        await uow.commit()
    url = attachments.link(domain.settings, one, timedelta(days=1), now=domain.clock.now())
    assert url.startswith(domain.settings.public_url.rstrip("/") + "/files/")
    token = url.rsplit("/", 1)[1]
    _id, expires, signature = token.split(".")
    async with snapshot(domain) as snap:
        assert await attachments.open_link(snap, domain.hasher, token) == (one, b"one")
        assert await attachments.open_link(snap, domain.hasher, f"{two.id}.{expires}.{signature}") is None
    domain.clock.advance(timedelta(days=1, seconds=1))  # type: ignore[attr-defined]
    async with snapshot(domain) as snap:
        assert await attachments.open_link(snap, domain.hasher, token) is None
