"""A claim of one channel reads only that channel's due rows (migration 0020).

Without a staff channel the worker claims mail only, and staff posts wait. Led by
(status, next_attempt_at), the index put every waiting post before the mail in each
claim's walk. The plan must now seek the channel within the index, on both databases,
with enough waiting posts that a planner would rather scan.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import insert, text

from core import delivery
from core.models import OutboxMessage
from core.outbox import mail_values, slack_values
from core.unit_of_work import Core
from tests.query_plans import captured, engine_of, plan_nodes

WAITING_POSTS = 3000


async def _load(domain: Core) -> None:
    async with domain.uow() as uow:
        posts = [slack_values(uow, "staff_request", {"n": n}) for n in range(WAITING_POSTS)]
        await uow.session.execute(insert(OutboxMessage), posts)
        mails = [mail_values(uow, "ack", [f"user{n}@customer.example"], {}) for n in range(5)]
        await uow.session.execute(insert(OutboxMessage), mails)
        await uow.commit()
    async with engine_of(domain).begin() as conn:
        await conn.execute(text("ANALYZE"))


async def test_a_mail_claim_seeks_mail_rows_past_waiting_staff_posts(domain: Core) -> None:
    await _load(domain)
    claimed: list[delivery.Claimed] = []

    async def claim() -> None:
        async with domain.uow() as uow:
            claimed.extend(await delivery.claim(uow, "test-worker", ("mail",), 20))

    [(statement, parameters)] = await captured(domain, claim)
    assert len(claimed) == 5 and all(row.channel == "mail" for row in claimed)

    async with engine_of(domain).connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = " | ".join(
                str(row[-1])
                for row in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
            )
            assert re.search(r"USING INDEX ix_outbox_due \(status=\? AND channel=\?", plan), plan
        else:
            found = (
                await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            ).scalar()
            nodes = plan_nodes((found if isinstance(found, list) else json.loads(found))[0]["Plan"])
            outbox = [node for node in nodes if node.get("Relation Name") == "outbox"]
            assert outbox and all(node.get("Index Name") == "ix_outbox_due" for node in outbox), nodes
            # The waiting posts are never read: nothing found was thrown away again.
            assert sum(node.get("Rows Removed by Filter", 0) for node in outbox) == 0, nodes
            assert all("channel" in node.get("Index Cond", "") for node in outbox), nodes
