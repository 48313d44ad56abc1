"""Repositories: the only code that builds queries, one small class per aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DialogState, Resident, UnmatchedQuestion, utcnow

MAX_STORED_QUESTION = 2000


class ResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, resident_id: int) -> Resident | None:
        return await self._session.get(Resident, resident_id)

    async def find(self, platform: str, platform_user_id: str) -> Resident | None:
        query = select(Resident).where(Resident.platform == platform, Resident.platform_user_id == platform_user_id)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def get_or_create(
        self, platform: str, platform_user_id: str, display_name: str | None, now: datetime | None = None
    ) -> Resident:
        """The resident behind a platform account, created on first contact; safe against a parallel insert."""
        now = now or utcnow()
        resident = await self.find(platform, platform_user_id)
        if resident is None:
            try:
                async with self._session.begin_nested():
                    resident = Resident(
                        platform=platform,
                        platform_user_id=platform_user_id,
                        display_name=display_name,
                        created_at=now,
                        last_seen_at=now,
                    )
                    self._session.add(resident)
            except IntegrityError:
                resident = await self.find(platform, platform_user_id)
                if resident is None:
                    raise
        if display_name and resident.display_name != display_name:
            resident.display_name = display_name
        resident.last_seen_at = now
        return resident


class DialogStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def load(self, resident_id: int) -> tuple[str | None, dict[str, Any]]:
        row = await self._session.get(DialogState, resident_id)
        if row is None:
            return None, {}
        return row.state, dict(row.data)

    async def save(self, resident_id: int, state: str | None, data: dict[str, Any]) -> None:
        row = await self._session.get(DialogState, resident_id)
        if row is None:
            self._session.add(DialogState(resident_id=resident_id, state=state, data=data))
        else:
            row.state = state
            row.data = data


@dataclass(frozen=True, slots=True)
class FrequentMiss:
    """A group of equal unanswered questions (same normalised form): how often, an example, the nearest item."""

    normalized: str
    count: int
    example: str
    last_asked_at: datetime
    best_item_id: str | None


class UnmatchedQuestionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        text: str,
        normalized: str,
        platform: str | None,
        best_item_id: str | None,
        best_score: float | None,
    ) -> None:
        self._session.add(
            UnmatchedQuestion(
                text=text[:MAX_STORED_QUESTION],
                normalized=normalized[:MAX_STORED_QUESTION],
                platform=platform,
                best_item_id=best_item_id,
                best_score=best_score,
            )
        )

    async def most_frequent(self, since: datetime | None = None, limit: int = 20) -> list[FrequentMiss]:
        """The most often asked unanswered questions, most frequent first."""
        count = func.count(UnmatchedQuestion.id)
        last = func.max(UnmatchedQuestion.created_at)
        query = select(
            UnmatchedQuestion.normalized,
            count,
            func.max(UnmatchedQuestion.text),
            last,
            func.max(UnmatchedQuestion.best_item_id),
        ).group_by(UnmatchedQuestion.normalized)
        if since is not None:
            query = query.where(UnmatchedQuestion.created_at >= since)
        query = query.order_by(count.desc(), last.desc(), UnmatchedQuestion.normalized).limit(limit)
        rows = (await self._session.execute(query)).all()
        return [
            FrequentMiss(
                normalized=normalized,
                count=int(times),
                example=example,
                last_asked_at=last_asked,
                best_item_id=best_item_id,
            )
            for normalized, times, example, last_asked, best_item_id in rows
        ]
