"""Batch writes (``UnitOfWork.write_many``): on SQLite they bypass SQLAlchemy's execution
(core/storage/compiled.py), so the rows they store must read back exactly as the rows
SQLAlchemy's own ``executemany`` stores: same values, same Python types, the columns
left out filled with their defaults, RETURNING answered row by row."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update

from core.contact_window.inbox import _STORE
from core.models import InboundMail, OutboxMessage
from core.storage.compiled import Query
from core.unit_of_work import Core

_OUTBOX = cast(Table, OutboxMessage.__table__)
_COLUMNS = [c for c in _OUTBOX.c if c.name != "id"]
NEW_OUTBOX = Query(insert(_OUTBOX))
SEND_AGAIN = Query(
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(last_error=bindparam("b_error"), status="deferred")  # a value in the statement
)


def _rows(first: int, now: datetime) -> list[dict[str, Any]]:
    # "channel", "locale", "sealed", "attempts", "last_error", … left out: their defaults.
    return [
        {
            "template": "request_ack",
            "recipients": [f"user{n}@customer.example.jp"],
            "context": {"number": n, "subject": "パスワード", "files": [["a.pdf", 3]], "none": None},
            "headers": {"In-Reply-To": f"<{n}@customer.example.jp>"},
            "message_id": f"<ack-{n}@support.example.com>",
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(first, first + 3)
    ]


async def test_rows_written_in_a_batch_read_back_as_sqlalchemys_own(domain: Core) -> None:
    now = domain.clock.now()
    async with domain.uow() as uow:
        assert await uow.write_many(NEW_OUTBOX, _rows(1, now)) == []
        await uow.session.execute(insert(_OUTBOX), _rows(4, now))
        await uow.commit()
    async with domain.uow() as uow:
        stored = (await uow.session.execute(select(*_COLUMNS).order_by(_OUTBOX.c.id))).all()
    ours, theirs = [tuple(r) for r in stored[:3]], [tuple(r) for r in stored[3:]]
    names = [c.name for c in _COLUMNS]
    for mine, sqlalchemys in zip(ours, theirs, strict=True):
        differ = {
            name: (a, b)
            for name, a, b in zip(names, mine, sqlalchemys, strict=True)
            if name not in {"recipients", "context", "headers", "message_id"} and (a, type(a)) != (b, type(b))
        }
        assert differ == {}
    assert [r[names.index("channel")] for r in stored] == ["mail"] * 6
    assert stored[0][names.index("context")] == {
        "number": 1,
        "subject": "パスワード",
        "files": [["a.pdf", 3]],
        "none": None,
    }
    assert stored[0][names.index("recipients")] == ["user1@customer.example.jp"]
    assert isinstance(stored[0][names.index("next_attempt_at")], datetime)

    async with domain.uow() as uow:
        ids = [r[0] for r in (await uow.session.execute(select(_OUTBOX.c.id).order_by(_OUTBOX.c.id))).all()]
        await uow.write_many(SEND_AGAIN, [{"b_id": i, "b_error": f"451 {i}"} for i in ids[:2]])
        await uow.commit()
    async with domain.uow() as uow:
        errors = (
            await uow.session.execute(select(_OUTBOX.c.last_error, _OUTBOX.c.status).order_by(_OUTBOX.c.id))
        ).all()
    assert [tuple(e) for e in errors] == [
        (f"451 {ids[0]}", "deferred"),
        (f"451 {ids[1]}", "deferred"),
        *[("", "pending")] * 4,
    ]


async def test_returning_answers_each_row_written_and_none_skipped(domain: Core) -> None:
    now = domain.clock.now()
    # The contact window's store statement (INSERT … ON CONFLICT DO NOTHING RETURNING).
    store = Query(_STORE["postgresql" if domain.dialect.name == "postgresql" else "sqlite"])

    def row(digest: str) -> dict[str, Any]:
        return {
            "digest": digest,
            "mail_from": "a@b.example",
            "rcpt_tos": ["contact@support.example.com"],
            "raw": b"Subject: x\r\n\r\n\xe3\x81\x82",
            "received_at": now,
            "state": "received",
            "malformed": False,
            "error": "",
        }

    async with domain.uow() as uow:
        assert await uow.write_many(store, [row("a" * 64), row("b" * 64)]) == [("a" * 64,), ("b" * 64,)]
        assert await uow.write_many(store, [row("b" * 64), row("c" * 64)]) == [("c" * 64,)]
        await uow.commit()
    async with domain.uow() as uow:
        raws = (await uow.session.scalars(select(InboundMail.raw))).all()
    assert [bytes(r) for r in raws] == [b"Subject: x\r\n\r\n\xe3\x81\x82"] * 3
