"""Ratings of answers: a resident rates their own answered appeal once per answer; a poor rating may reopen it."""

from __future__ import annotations

from datetime import datetime

from bot.services.appeal_stages import RESIDENT_ACTOR, AppealStage, DomainError
from bot.services.appeals import move_appeal
from bot.services.notices import Notices
from storage.models import Appeal, Rating
from storage.uow import UnitOfWork

POOR = 2  # ratings up to this may reopen the appeal
CLOSES = 3  # ratings from this close it


class RatingNotAllowed(DomainError):
    """Not the resident's appeal, not answered, or this answer is rated already."""


async def rate(uow: UnitOfWork, notices: Notices, resident_id: int, number: str, score: int, now: datetime) -> Appeal:
    """Store the rating of the current answer; a rating of 3 or more closes the appeal."""
    if not 1 <= score <= 5:
        raise RatingNotAllowed(f"a rating is 1 to 5, got {score}")
    appeal = await _answered(uow, resident_id, number)
    if await uow.ratings.latest(appeal.id, since=appeal.answered_at) is not None:
        raise RatingNotAllowed(f"the answer to {number} is rated already")
    uow.ratings.add(Rating(appeal_id=appeal.id, score=score, created_at=now))
    appeal.last_score, appeal.last_rated_at = score, now
    if score >= CLOSES:
        await move_appeal(uow, notices, number, AppealStage.CLOSED, actor=RESIDENT_ACTOR, now=now)
    return appeal


async def comment(uow: UnitOfWork, resident_id: int, number: str, text: str) -> Rating:
    """Attach the resident's words to their latest rating of the appeal."""
    appeal = await uow.appeals.owned_by(resident_id, number)
    rating = await uow.ratings.latest(appeal.id) if appeal else None
    if rating is None:
        raise RatingNotAllowed(f"no rating of {number} to comment on")
    rating.comment = f"{rating.comment}\n{text}" if rating.comment else text
    return rating


async def reopen(uow: UnitOfWork, notices: Notices, resident_id: int, number: str, now: datetime) -> Appeal:
    """Back to work after a poor rating; staff are alerted with the rating and the resident's comment."""
    appeal = await _answered(uow, resident_id, number)
    rating = await uow.ratings.latest(appeal.id, since=appeal.answered_at)
    if rating is None or rating.score > POOR:
        raise RatingNotAllowed(f"{number} can be reopened only after a rating of {POOR} or less")
    await move_appeal(
        uow, notices, number, AppealStage.IN_PROGRESS, actor=RESIDENT_ACTOR, now=now, comment=rating.comment
    )
    await notices.to_staff(
        uow,
        "staff.reopened",
        now,
        appeal,
        number=number,
        department=appeal.department,
        score=rating.score,
        comment=rating.comment or "",
    )
    return appeal


async def close(uow: UnitOfWork, notices: Notices, resident_id: int, number: str, now: datetime) -> Appeal:
    """The resident is done with an answered appeal, whatever they rated it."""
    await _answered(uow, resident_id, number)
    return await move_appeal(uow, notices, number, AppealStage.CLOSED, actor=RESIDENT_ACTOR, now=now)


async def _answered(uow: UnitOfWork, resident_id: int, number: str) -> Appeal:
    appeal = await uow.appeals.owned_by(resident_id, number)
    if appeal is None or appeal.stage != AppealStage.ANSWERED:
        raise RatingNotAllowed(f"{number} is not an answered appeal of this resident")
    return appeal
