"""The unit of work: one database transaction with the repositories that work inside it."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import has_written
from storage.repositories import (
    ApiTokenRepository,
    AppealRepository,
    DialogStateRepository,
    FaqUseRepository,
    OutboxRepository,
    ProcessedUpdateRepository,
    RatingRepository,
    ReceivingCursorRepository,
    ReminderRepository,
    ResidentRepository,
    SendSlotRepository,
    StaffCardRepository,
    UnmatchedQuestionRepository,
    WebSignInRepository,
)


class _Repository(Protocol):
    def __init__(self, session: AsyncSession) -> None: ...


R = TypeVar("R", bound=_Repository)


class UnitOfWork:
    """`async with uow:` opens a transaction; `await uow.commit()` keeps it; leaving without commit rolls back.

    The transaction starts only when a repository is first used, so an update that needs nothing from the
    database costs the database nothing.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._entered = False
        self._session: AsyncSession | None = None
        self._repositories: dict[type, object] = {}

    async def __aenter__(self) -> Self:
        self._entered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        self._entered = False
        self._repositories.clear()
        if session is not None:
            await session.rollback()
            await session.close()

    @property
    def queued_messages(self) -> bool:
        """Whether this unit of work has put messages in the outbox."""
        outbox = self._repositories.get(OutboxRepository)
        return isinstance(outbox, OutboxRepository) and outbox.added > 0

    @property
    def wrote(self) -> bool:
        """Whether this transaction has changed anything so far (or will, at commit)."""
        return self._session is not None and has_written(self._session)

    async def commit(self) -> None:
        if not self._entered:
            raise RuntimeError("commit outside of `async with`")
        if self._session is not None:
            await self._session.commit()

    def _repository(self, kind: type[R]) -> R:
        repository = self._repositories.get(kind)
        if repository is None:
            if not self._entered:
                raise RuntimeError("a repository used outside of `async with`")
            if self._session is None:
                self._session = self._sessions()
            repository = self._repositories[kind] = kind(self._session)
        return repository  # type: ignore[return-value]

    @property
    def residents(self) -> ResidentRepository:
        return self._repository(ResidentRepository)

    @property
    def appeals(self) -> AppealRepository:
        return self._repository(AppealRepository)

    @property
    def dialogs(self) -> DialogStateRepository:
        return self._repository(DialogStateRepository)

    @property
    def unmatched(self) -> UnmatchedQuestionRepository:
        return self._repository(UnmatchedQuestionRepository)

    @property
    def api_tokens(self) -> ApiTokenRepository:
        return self._repository(ApiTokenRepository)

    @property
    def web(self) -> WebSignInRepository:
        return self._repository(WebSignInRepository)

    @property
    def send_slots(self) -> SendSlotRepository:
        return self._repository(SendSlotRepository)

    @property
    def faq_uses(self) -> FaqUseRepository:
        return self._repository(FaqUseRepository)

    @property
    def outbox(self) -> OutboxRepository:
        return self._repository(OutboxRepository)

    @property
    def ratings(self) -> RatingRepository:
        return self._repository(RatingRepository)

    @property
    def processed_updates(self) -> ProcessedUpdateRepository:
        return self._repository(ProcessedUpdateRepository)

    @property
    def staff_cards(self) -> StaffCardRepository:
        return self._repository(StaffCardRepository)

    @property
    def cursors(self) -> ReceivingCursorRepository:
        return self._repository(ReceivingCursorRepository)

    @property
    def reminders(self) -> ReminderRepository:
        return self._repository(ReminderRepository)
