"""An export's timelines as the database works them out, the same on both engines: moments as a time zone's
wall-clock times (summer and winter), the last move to each stage, deadlines met, missed or not yet due, the
last rating, who acted besides the resident, the photos; only the period's appeals, of the departments asked.
The appeal keeps its history's moments as the services move it; a database from before read them in from the
histories when it was upgraded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.app import Application
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealDraft, answer_appeal, extend_resolution, move_appeal, open_appeal
from bot.services.ratings import rate, reopen
from storage.db import create_engine, session_factory, upgrade
from storage.models import Appeal, AppealAttachment, AppealEvent, Rating
from storage.repositories import AppealTimeline
from storage.uow import UnitOfWork
from tests.conftest import PostgresServer, stored_resident

BERLIN = "Europe/Berlin"  # a zone with summer time, to tell a real conversion from a fixed offset
SUMMER = datetime(2026, 7, 15, 10, 5, 30, 123456, tzinfo=UTC)  # 12:05:30 in Berlin
WINTER = datetime(2026, 1, 15, 10, 5, tzinfo=UTC)  # 11:05 in Berlin
NOW = datetime(2026, 7, 30, 12, 0, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second)  # a wall-clock time, as the export gives it


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def before_timelines(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database at the schema before the appeals kept their history's moments (revision 0015)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.empty_database()
    engine = create_engine(url)
    await upgrade(engine, "0015")
    yield engine
    await engine.dispose()


async def seed(sessions: async_sessionmaker) -> None:  # type: ignore[type-arg]
    """Appeals with their histories written as rows, as an older version of the bot wrote them."""
    async with UnitOfWork(sessions) as uow:
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
        event(1, SUMMER + 4 * hours, "staff:Ёлкина", "in_progress", kind="message"),
        event(1, SUMMER + 5 * hours, "staff:Анна", "in_progress", kind="message"),
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
    async with sessions() as session:
        for model, rows in ((Appeal, appeals), (AppealEvent, events), (Rating, ratings), (AppealAttachment, photos)):
            await session.execute(insert(model), rows)
        await session.commit()


async def timelines(
    sessions: async_sessionmaker,
    departments: list[str] | None = None,  # type: ignore[type-arg]
) -> list[AppealTimeline]:
    start, end = datetime(2025, 12, 31, 23, 0, tzinfo=UTC), NOW  # 1 January to 30 July, in Berlin
    async with UnitOfWork(sessions) as uow:
        batches = uow.appeals.timelines(start, end, zone=BERLIN, now=NOW, departments=departments)
        return [timeline async for batch in batches for timeline in batch]


async def test_an_upgraded_database_reads_each_appeals_timeline_from_its_history(
    before_timelines: AsyncEngine,
) -> None:
    sessions = session_factory(before_timelines)
    await seed(sessions)
    await upgrade(before_timelines)

    reopened, unanswered, rejected = await timelines(sessions)

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
        # as the services keep them: by code point, whatever the database's collation
        actors="staff:ivan, staff:olga, staff:Ёлкина, staff:Анна", photos=2, kept_photos=("ab/abc.jpg",),
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

    assert [appeal.number for appeal in await timelines(sessions, ["Дорожное хозяйство"])] == ["А-2026-000003"]
    assert await timelines(sessions, []) == []


async def test_the_services_keep_each_appeals_timeline_as_they_move_it(app: Application) -> None:
    notices, policy, hours = app.services.notices, app.services.appeals, timedelta(hours=1)
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", "42")
        appeal = await open_appeal(uow, policy, resident, "telegram", AppealDraft("ЖКХ", "Течёт крыша"), SUMMER)
        await uow.commit()
    number = appeal.number
    steps = [
        lambda uow: move_appeal(uow, notices, number, AppealStage.ACCEPTED, actor="staff:olga", now=SUMMER + hours),
        lambda uow: move_appeal(uow, notices, number, AppealStage.IN_PROGRESS, actor="staff:olga",
                                now=SUMMER + 2 * hours),
        lambda uow: extend_resolution(uow, policy, notices, number, "Нужен подрядчик", actor="staff:ivan",
                                      now=SUMMER + 3 * hours),
        lambda uow: answer_appeal(uow, notices, number, "Крышу починим", actor="staff:ivan",
                                  now=SUMMER + 3 * 24 * hours),
        lambda uow: rate(uow, notices, resident, number, 2, SUMMER + 3 * 24 * hours),
        lambda uow: reopen(uow, notices, resident, number, SUMMER + 4 * 24 * hours),
        lambda uow: answer_appeal(uow, notices, number, "Починили", actor="staff:olga", now=SUMMER + 5 * 24 * hours),
        lambda uow: rate(uow, notices, resident, number, 5, SUMMER + 6 * 24 * hours),  # and closes it
    ]  # fmt: skip
    for step in steps:
        async with UnitOfWork(app.sessions) as uow:
            await step(uow)
            await uow.commit()

    [timeline] = await timelines(app.sessions)

    assert (timeline.stage, timeline.opened) == ("closed", berlin(2026, 7, 15, 12, 5, 30))
    assert timeline.moved_to_accepted == berlin(2026, 7, 15, 13, 5, 30)
    assert timeline.moved_to_in_progress == berlin(2026, 7, 19, 12, 5, 30)  # the last move there: the reopening
    assert timeline.moved_to_answered == berlin(2026, 7, 20, 12, 5, 30)  # the second answer
    assert timeline.moved_to_closed == timeline.finished == berlin(2026, 7, 21, 12, 5, 30)
    assert timeline.first_response == berlin(2026, 7, 15, 13, 5, 30)
    assert (timeline.extended, timeline.rating, timeline.rated) == (True, 5, berlin(2026, 7, 21, 12, 5, 30))
    assert timeline.actors == "staff:ivan, staff:olga"  # not the resident, who reopened and closed it
