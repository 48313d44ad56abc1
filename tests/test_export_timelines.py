"""An export's timelines as the database works them out, the same on both engines: moments as a time zone's
wall-clock times (summer and winter), the last move to each stage, deadlines met, missed or not yet due, the
last rating, who acted besides the resident, the photos; only the period's appeals, of the departments asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from bot.app import Application
from storage.models import Appeal, AppealAttachment, AppealEvent, Rating
from storage.repositories import AppealTimeline
from storage.uow import UnitOfWork
from tests.conftest import stored_resident

BERLIN = "Europe/Berlin"  # a zone with summer time, to tell a real conversion from a fixed offset
SUMMER = datetime(2026, 7, 15, 10, 5, 30, 123456, tzinfo=UTC)  # 12:05:30 in Berlin
WINTER = datetime(2026, 1, 15, 10, 5, tzinfo=UTC)  # 11:05 in Berlin
NOW = datetime(2026, 7, 30, 12, 0, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second)  # a wall-clock time, as the export gives it


async def seed(app: Application) -> None:
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", "42")
        await uow.commit()

    def appeal(id_: int, opened: datetime, department: str = "Отдел ЖКХ", **columns: object) -> dict[str, object]:
        return {
            "id": id_, "number": f"А-2026-{id_:06d}", "resident_id": resident, "category": "ЖКХ",
            "department": department, "stage": "new", "description": "Текст жителя", "created_at": opened,
            "first_response_due_at": opened + timedelta(hours=8), "resolution_due_at": opened + timedelta(days=30),
        } | columns  # fmt: skip

    def event(id_: int, at: datetime, actor: str, to_stage: str, kind: str = "move") -> dict[str, object]:
        return {"appeal_id": id_, "created_at": at, "actor": actor, "to_stage": to_stage, "kind": kind}

    hours = timedelta(hours=1)
    appeals = [
        # Answered, reopened by a poor rating, answered again and closed with a better one.
        appeal(
            1,
            SUMMER,
            stage="closed",
            first_response_at=SUMMER + hours,
            answered_at=SUMMER + 5 * 24 * hours,
            closed_at=SUMMER + 6 * 24 * hours,
        ),
        # Never answered: the first response is overdue, the resolution not yet due.
        appeal(2, NOW - timedelta(days=10)),
        # First answered late; its resolution deadline is not set (rejected appeals have none).
        appeal(
            3,
            WINTER,
            department="Дорожное хозяйство",
            stage="rejected",
            first_response_at=WINTER + 9 * hours,
            resolution_due_at=None,
            closed_at=WINTER + 9 * hours,
        ),
        appeal(4, datetime(2025, 12, 31, 22, 59, tzinfo=UTC)),  # 23:59 in Berlin: the day before the period
    ]
    events = [
        event(1, SUMMER, "resident", "new"),
        event(1, SUMMER + hours, "staff:olga", "accepted"),
        event(1, SUMMER + 2 * hours, "staff:olga", "in_progress"),
        event(1, SUMMER + 3 * hours, "staff:ivan", "in_progress", kind="extension"),
        event(1, SUMMER + 3 * 24 * hours, "staff:ivan", "answered"),
        event(1, SUMMER + 4 * 24 * hours, "resident", "in_progress"),
        event(1, SUMMER + 5 * 24 * hours, "staff:olga", "answered"),
        event(1, SUMMER + 6 * 24 * hours, "resident", "closed"),
        event(2, NOW - timedelta(days=10), "resident", "new"),
        event(3, WINTER, "resident", "new"),
        event(3, WINTER + 9 * hours, "staff:petr", "rejected"),
    ]
    ratings = [
        {"appeal_id": 1, "score": 2, "created_at": SUMMER + 3 * 24 * hours},
        {"appeal_id": 1, "score": 5, "created_at": SUMMER + 6 * 24 * hours},
    ]
    photos = [
        {"appeal_id": 1, "platform": "telegram", "platform_file_id": "a", "media_path": "ab/abc.jpg"},
        {"appeal_id": 1, "platform": "telegram", "platform_file_id": "b", "media_path": None},  # not kept yet
    ]
    async with app.sessions() as session:
        for model, rows in ((Appeal, appeals), (AppealEvent, events), (Rating, ratings), (AppealAttachment, photos)):
            await session.execute(insert(model), rows)
        await session.commit()


async def timelines(app: Application, departments: list[str] | None = None) -> list[AppealTimeline]:
    start, end = datetime(2025, 12, 31, 23, 0, tzinfo=UTC), NOW  # 1 January to 30 July, in Berlin
    async with UnitOfWork(app.sessions) as uow:
        batches = uow.appeals.timelines(
            start, end, zone=BERLIN, now=NOW, leave_out_actor="resident", departments=departments
        )
        return [timeline async for batch in batches for timeline in batch]


async def test_the_database_works_out_each_appeals_timeline(app: Application) -> None:
    await seed(app)

    reopened, unanswered, rejected = await timelines(app)

    assert reopened == AppealTimeline(
        number="А-2026-000001", category="ЖКХ", department="Отдел ЖКХ", stage="closed",
        opened=berlin(2026, 7, 15, 12, 5, 30),
        moved_to_accepted=berlin(2026, 7, 15, 13, 5, 30),
        moved_to_in_progress=berlin(2026, 7, 19, 12, 5, 30),  # the last move there: the reopening
        moved_to_answered=berlin(2026, 7, 20, 12, 5, 30),  # the second answer
        moved_to_closed=berlin(2026, 7, 21, 12, 5, 30),
        first_response=berlin(2026, 7, 15, 13, 5, 30), first_response_due=berlin(2026, 7, 15, 20, 5, 30),
        first_response_in_time=True, resolution_due=berlin(2026, 8, 14, 12, 5, 30), extended=True,
        resolved_in_time=True, finished=berlin(2026, 7, 21, 12, 5, 30),
        rating=5, rated=berlin(2026, 7, 21, 12, 5, 30),  # the last rating counts
        actors="staff:ivan, staff:olga", photos=2, kept_photos=("ab/abc.jpg",),
    )  # fmt: skip
    assert (unanswered.first_response, unanswered.first_response_in_time) == (None, False)  # overdue at NOW
    assert unanswered.resolved_in_time is None  # due in 20 days
    assert (unanswered.actors, unanswered.extended, unanswered.rating, unanswered.photos) == ("", False, None, 0)
    assert (unanswered.moved_to_accepted, unanswered.moved_to_closed) == (None, None)
    assert rejected.opened == berlin(2026, 1, 15, 11, 5)  # winter time
    assert (rejected.first_response_in_time, rejected.resolution_due, rejected.resolved_in_time) == (
        False, None, None
    )  # fmt: skip
    assert rejected.actors == "staff:petr"

    assert [appeal.number for appeal in await timelines(app, ["Дорожное хозяйство"])] == ["А-2026-000003"]
    assert await timelines(app, []) == []
