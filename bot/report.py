"""`python -m bot report`: per category and per department, how fast and how well appeals were answered."""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import export
from bot.app import appeal_policy, load_texts, migrated_database
from bot.config import Config
from bot.services.working_time import WorkingCalendar
from storage.repositories import AppealFigures
from storage.uow import UnitOfWork

POOR = 2


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


def summarize(group: str, appeals: list[AppealFigures], response_hours: Mapping[int, float]) -> Row:
    """The figures of a group; `response_hours` has each responded appeal's first-response time in working hours,
    by the appeal's `id()` (worked out once for all the groups an appeal is in)."""
    hours = sorted(response_hours[id(a)] for a in appeals if a.first_response_at is not None)
    first_in_time = [
        a.first_response_at is not None
        and a.first_response_due_at is not None
        and a.first_response_at <= a.first_response_due_at
        for a in appeals
    ]
    answered_in_time = [
        a.answered_at is not None and a.resolution_due_at is not None and a.answered_at <= a.resolution_due_at
        for a in appeals
    ]
    scores = [score for a in appeals for score in a.scores]
    return Row(
        group=group,
        opened=len(appeals),
        first_response_median=statistics.median(hours) if hours else None,
        first_response_p90=_percentile(hours, 0.9),
        first_response_in_time=_share(first_in_time),
        answered_in_time=_share(answered_in_time),
        average_rating=statistics.fmean(scores) if scores else None,
        poor_ratings=_share([score <= POOR for score in scores]),
    )


def build(appeals: list[AppealFigures], calendar: WorkingCalendar) -> tuple[list[Row], list[Row]]:
    """Rows per category and per department, each group in name order, with a total row at the end."""

    hours = {
        id(a): calendar.working_hours_between(a.created_at, a.first_response_at)
        for a in appeals
        if a.first_response_at is not None
    }

    def rows(key: str) -> list[Row]:
        groups: dict[str, list[AppealFigures]] = defaultdict(list)
        for appeal in appeals:
            groups[getattr(appeal, key)].append(appeal)
        return [summarize(name, groups[name], hours) for name in sorted(groups)] + [summarize("всего", appeals, hours)]

    return rows("category"), rows("department")


async def report_command(args: argparse.Namespace, config: Config) -> int:
    policy = appeal_policy(config)
    zone = policy.calendar.timezone
    days = period(args.start, args.end, zone, 30)
    start, end = days.start, days.end
    async with migrated_database(config) as sessions, UnitOfWork(sessions) as uow:  # read while it is open
        by_category, by_department = build(await uow.appeals.figures_between(start, end), policy.calendar)
        texts = load_texts(config)
        exported = await uow.appeals.opened_between(start, end) if args.csv or args.xlsx else []
        table = export.rows(exported, texts, zone, datetime.now(zone)) if args.csv or args.xlsx else []
        page = await overview_page(config, uow, days) if args.html else ""
    if args.csv:
        await asyncio.to_thread(args.csv.write_bytes, export.csv_bytes(table))
    if args.xlsx:
        body = await asyncio.to_thread(export.xlsx_bytes, table, texts("export.sheet"))
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

    values = await overview_values(uow, appeal_policy(config), days, None)
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


def _percentile(ordered: list[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
