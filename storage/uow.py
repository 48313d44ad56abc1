"""The unit of work: one database transaction with the repositories that work inside it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories import (
    AppealRepository,
    DialogStateRepository,
    OutboxRepository,
    RatingRepository,
    ReminderRepository,
    ResidentRepository,
    UnmatchedQuestionRepository,
)


class UnitOfWork:
    """`async with uow:` opens a transaction; `await uow.commit()` keeps it; leaving without commit rolls back."""

    residents: ResidentRepository
    appeals: AppealRepository
    dialogs: DialogStateRepository
    unmatched: UnmatchedQuestionRepository
    outbox: OutboxRepository
    ratings: RatingRepository
    reminders: ReminderRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.residents = ResidentRepository(self._session)
        self.appeals = AppealRepository(self._session)
        self.dialogs = DialogStateRepository(self._session)
        self.unmatched = UnmatchedQuestionRepository(self._session)
        self.outbox = OutboxRepository(self._session)
        self.ratings = RatingRepository(self._session)
        self.reminders = ReminderRepository(self._session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.rollback()
            await session.close()

    async def commit(self) -> None:
        if self._session is None:
            raise RuntimeError("commit outside of `async with`")
        await self._session.commit()
