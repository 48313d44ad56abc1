"""`python -m bot report`: per category and per department, how fast and how well appeals were answered."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import export
from bot.app import appeal_policy, load_texts, migrated_database
from bot.config import Config
from bot.faq.loader import load_faq
from bot.services.working_time import WorkingCalendar
from storage.repositories import GroupFigures
from storage.uow import UnitOfWork

POOR = 2
TOTAL = "всего"
SETTLE_BATCH = 5000


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="response times and ratings per category and department")
    report.add_argument(
        "--from", dest="start", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: 30 days ago)"
    )
    report.add_argument(
        "--to", dest="end", type=date.fromisoformat, default=None, help="YYYY-MM-DD, inclusive (default: today)"
    )
    report.add_argument("--csv", type=Path, default=None, help="also write every appeal of the period to FILE")
    report.add_argument("--xlsx", type=Path, default=None, help="also write every appeal of the period to FILE")
    report.add_argument("--html", type=Path, default=None, help="also write the dashboard's overview to FILE")


@dataclass(frozen=True, slots=True)
class Period:
    """Calendar days `first` to `last`, both included, and the moments [start, end) they span."""

    first: date
    last: date
    start: datetime
    end: datetime


def period(first: date | None, last: date | None, zone: ZoneInfo, days: int) -> Period:
    """The days asked for: up to `last` (default: today), from `first` (default: `days` days up to `last`)."""
    last = last or datetime.now(zone).date()
    first = first or last - timedelta(days=days - 1)
    start, end = datetime.combine(first, time.min, zone), datetime.combine(last + timedelta(days=1), time.min, zone)
    return Period(first, last, start, end)


@dataclass(frozen=True, slots=True)
class Row:
    """The figures of one group of appeals; times in working hours, shares from 0 to 1, None when unknown."""

    group: str
    opened: int
    first_response_median: float | None
    first_response_p90: float | None
    first_response_in_time: float | None
    answered_in_time: float | None
    average_rating: float | None
    poor_ratings: float | None
    resolution_median_days: float | None  # calendar days from opening to the answer
    scores: Mapping[int, int]  # how many ratings of each score


async def settle(uow: UnitOfWork, calendar: WorkingCalendar) -> int:
    """Work out the first-response time in working hours of every appeal first answered since the last time,
    keep it (committing), and say how many there were. Reports count on it; the calendar as it is now is used."""
    settled = 0
    while batch := await uow.appeals.unsettled(SETTLE_BATCH):
        await uow.appeals.settle({id_: calendar.working_hours_between(opened, responded)
                                  for id_, opened, responded in batch})  # fmt: skip
        settled += len(batch)
    if settled:
        await uow.commit()
    return settled


async def tables(
    uow: UnitOfWork,
    calendar: WorkingCalendar,
    days: Period,
    *by: str,
    departments: list[str] | None = None,
    total: bool = True,
) -> list[list[Row]]:
    """For each grouping of `by` ("category", "department"), the rows of the appeals opened in the days, in name
    order, then the total row (worked out once for all) unless `total` is false; `departments`: only their
    appeals (None: all)."""
    await settle(uow, calendar)
    start, end = days.start, days.end
    totals = [_row(TOTAL, (await uow.appeals.figures(start, end, None, departments))[0])] if total else []
    return [
        [_row(figures.group, figures) for figures in await uow.appeals.figures(start, end, grouping, departments)]
        + totals
        for grouping in by
    ]


def _row(group: str, figures: GroupFigures) -> Row:
    opened, scores = figures.opened, figures.scores
    rated = sum(scores.values())
    return Row(
        group=group,
        opened=opened,
        first_response_median=figures.first_response_median,
        first_response_p90=figures.first_response_p90,
        first_response_in_time=figures.first_response_in_time / opened if opened else None,
        answered_in_time=figures.answered_in_time / opened if opened else None,
        average_rating=sum(score * count for score, count in scores.items()) / rated if rated else None,
        poor_ratings=sum(count for score, count in scores.items() if score <= POOR) / rated if rated else None,
        resolution_median_days=figures.resolution_median_days,
        scores=scores,
    )


async def report_command(args: argparse.Namespace, config: Config) -> int:
    from bot.dashboard import media_url  # the dashboard builds on this module

    policy = appeal_policy(config)
    zone = policy.calendar.timezone
    days = period(args.start, args.end, zone, 30)
    texts = load_texts(config)
    async with migrated_database(config) as sessions, UnitOfWork(sessions) as uow:  # read while it is open
        by_category, by_department = await tables(uow, policy.calendar, days, "category", "department")
        page = await overview_page(config, uow, days) if args.html else ""
        appeals = await export.table(
            uow, texts, start=days.start, end=days.end, zone=zone, now=datetime.now(zone),
            media_url=media_url(config.settings.web.base_url),
        ) if args.csv or args.xlsx else export.Table([], [])  # fmt: skip
    if args.csv:
        await asyncio.to_thread(args.csv.write_bytes, export.csv_bytes(appeals))
    if args.xlsx:
        body = await asyncio.to_thread(export.xlsx_bytes, appeals, texts("export.sheet"))
        await asyncio.to_thread(args.xlsx.write_bytes, body)
    if args.html:
        await asyncio.to_thread(args.html.write_text, page, encoding="utf-8")
    print(f"Appeals opened {days.first:%d.%m.%Y}-{days.last:%d.%m.%Y}; first response in working hours.")
    for title, rows in (("category", by_category), ("department", by_department)):
        print()
        print(render(title, rows))
    return 0


async def overview_page(config: Config, uow: UnitOfWork, days: Period) -> str:
    """The dashboard's overview of the period, as one page."""
    from bot.dashboard import overview_values, report_page

    faq = (await asyncio.to_thread(load_faq, config.faq_path)).items
    values = await overview_values(uow, appeal_policy(config), days, None, faq)
    return report_page(config.settings.bot.authority, values)


def render(title: str, rows: Iterable[Row]) -> str:
    header = (
        f"{title:<26} {'opened':>6} {'1st med h':>9} {'1st p90 h':>9} {'1st in time':>11} "
        f"{'answered in time':>16} {'avg rating':>10} {'rated 1-2':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.group[:26]:<26} {row.opened:>6} {_number(row.first_response_median):>9} "
            f"{_number(row.first_response_p90):>9} {_percent(row.first_response_in_time):>11} "
            f"{_percent(row.answered_in_time):>16} {_number(row.average_rating):>10} {_percent(row.poor_ratings):>9}"
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
