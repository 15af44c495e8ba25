"""The password pages' throttling policy (core.throttle): bad links per visitor, every
form submission per visitor, and which scope refused with how long to wait."""

from __future__ import annotations

from core import throttle
from core.unit_of_work import Core

VISITOR = "192.0.2.7"


async def test_a_visitor_may_open_links_until_five_bad_ones(domain: Core) -> None:
    for n in range(throttle.MAX_FAILURES):
        async with domain.uow() as uow:
            assert await throttle.visit_link(uow, VISITOR) is None
        async with domain.uow() as uow:
            await throttle.count_bad_link(uow, VISITOR, f"accounts.link_unknown {n}")
    async with domain.uow() as uow:
        refused = await throttle.visit_link(uow, VISITOR)
        other = await throttle.visit_link(uow, "192.0.2.8")
    assert refused is not None and refused.scope == throttle.LINK_SCOPE
    assert refused.wait.message_id == "throttle.wait" and refused.wait.minutes == 15
    assert other is None


async def test_every_submission_counts_and_the_eleventh_is_refused(domain: Core) -> None:
    for _ in range(throttle.LIMITS[throttle.POST_SCOPE]):
        async with domain.uow() as uow:
            assert await throttle.submit_password_form(uow, VISITOR) is None
    async with domain.uow() as uow:
        refused = await throttle.submit_password_form(uow, VISITOR)
    assert refused is not None and refused.scope == throttle.POST_SCOPE
    async with domain.uow() as uow:
        failures = await throttle.recent_failures(uow, scope=throttle.POST_SCOPE)
    # A refused submission is not counted again.
    assert len(failures) == throttle.LIMITS[throttle.POST_SCOPE]


async def test_bad_links_refuse_the_form_too(domain: Core) -> None:
    for _ in range(throttle.MAX_FAILURES):
        async with domain.uow() as uow:
            await throttle.count_bad_link(uow, VISITOR, "csrf")
    async with domain.uow() as uow:
        refused = await throttle.submit_password_form(uow, VISITOR)
    assert refused is not None and refused.scope == throttle.LINK_SCOPE
