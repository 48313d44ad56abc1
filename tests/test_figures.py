"""The reports' figures, worked out by the database, on both engines: the same medians, percentiles, shares and
ratings as Python works out from the same appeals, groups in name order, first-response times kept once."""

from __future__ import annotations

import math
import random
import statistics
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from bot.app import Application
from bot.report import period, settle, tables
from storage.models import Appeal, Rating
from storage.uow import UnitOfWork
from tests.conftest import stored_resident

DEPARTMENTS = ("Отдел ЖКХ", "Дорожное хозяйство", "Благоустройство")


def interpolated(values: list[float], share: float) -> float:
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


async def test_figures_per_department_match_what_python_works_out(app: Application) -> None:
    rng = random.Random(11)
    calendar = app.services.appeals.calendar
    zone = calendar.timezone
    days = period(date(2026, 11, 1), date(2026, 11, 30), zone, 30)
    appeals, ratings = [], []
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", "42")
        await uow.commit()
    for n in range(1, 121):
        opened = days.start + timedelta(minutes=rng.randrange(29 * 24 * 60))
        responded = opened + timedelta(hours=rng.uniform(0.1, 40)) if n % 7 else None
        answered = opened + timedelta(days=rng.uniform(0.5, 40)) if responded and n % 4 else None
        appeals.append({
            "id": n, "number": f"А-2026-{n:06d}", "resident_id": resident, "category": "ЖКХ",
            "department": DEPARTMENTS[n % 3], "stage": "answered" if answered else "new", "description": "—",
            "created_at": opened, "first_response_due_at": calendar.add_working_hours(opened, 8),
            "resolution_due_at": calendar.add_days(opened, 30), "first_response_at": responded,
            "answered_at": answered,
        })  # fmt: skip
        if answered and n % 2:
            ratings.append({"appeal_id": n, "score": rng.randint(1, 5), "created_at": answered})
    # One appeal outside the period, which no figure may count.
    appeals.append({**appeals[0], "id": 999, "number": "А-2026-000999", "created_at": days.end})
    async with app.sessions() as session:
        await session.execute(insert(Appeal), appeals)
        await session.execute(insert(Rating), ratings)
        await session.commit()

    async with UnitOfWork(app.sessions) as uow:
        [rows] = await tables(uow, calendar, days, "department")
        assert await settle(uow, calendar) == 0  # table() kept them all; nothing is worked out twice
    async with app.sessions() as session:
        kept = dict((await session.execute(select(Appeal.id, Appeal.first_response_hours))).all())

    assert [row.group for row in rows] == [*sorted(DEPARTMENTS), "всего"]
    for row in rows:
        group = [a for a in appeals if a["id"] != 999 and row.group in (a["department"], "всего")]
        responded = [a for a in group if a["first_response_at"]]
        hours = [calendar.working_hours_between(a["created_at"], a["first_response_at"]) for a in responded]
        assert all(math.isclose(kept[a["id"]], h) for a, h in zip(responded, hours, strict=True))
        days_to_answer = [(a["answered_at"] - a["created_at"]) / timedelta(days=1) for a in group if a["answered_at"]]
        scores = [r["score"] for r in ratings if r["appeal_id"] in {a["id"] for a in group}]
        assert row.opened == len(group)
        assert math.isclose(row.first_response_median or 0, statistics.median(hours))
        assert math.isclose(row.first_response_p90 or 0, interpolated(hours, 0.9))
        assert math.isclose(row.resolution_median_days or 0, statistics.median(days_to_answer), rel_tol=1e-6)
        in_time = [a for a in group if a["first_response_at"] and a["first_response_at"] <= a["first_response_due_at"]]
        assert row.first_response_in_time == len(in_time) / len(group)
        assert row.average_rating is not None
        assert math.isclose(row.average_rating, statistics.fmean(scores))
        assert sum(row.scores.values()) == len(scores)


async def test_an_empty_period_has_no_figures(app: Application) -> None:
    days = period(date(2020, 1, 1), date(2020, 1, 31), ZoneInfo("Europe/Moscow"), 31)
    async with UnitOfWork(app.sessions) as uow:
        [rows] = await tables(uow, app.services.appeals.calendar, days, "category")
    assert len(rows) == 1
    total = rows[0]
    assert (total.group, total.opened, total.first_response_median, total.average_rating) == ("всего", 0, None, None)
    assert total.first_response_in_time is None
