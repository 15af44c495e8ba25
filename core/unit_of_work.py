"""One business transaction: a session plus what every rule needs (settings, clock,
hashing). Services take a ``UnitOfWork``, do their work and call ``commit()``
explicitly; leaving the block without a commit rolls everything back.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.config import Settings
from core.hashing import Hasher
from core.sealing import Sealer


class UnitOfWork:
    session: AsyncSession

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        hasher: Hasher,
        sealer: Sealer,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.sealer = sealer

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back anything uncommitted and detaches objects without expiring
        # them, so results stay readable after the block.
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class Core:
    """What the composition root builds once and hands to every door.

    ``core.uow()`` opens a unit of work; the doors never touch engines or sessions.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        secret = settings.resolved_secret_key()
        self.hasher = Hasher(secret)
        self.sealer = Sealer(secret)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.settings, self.clock, self.hasher, self.sealer)
