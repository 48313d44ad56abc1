"""Deadline arithmetic in an authority's working calendar: working hours, calendar days, working time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib.metadata import version
from zoneinfo import ZoneInfo

import holidays

log = logging.getLogger(__name__)

PACKAGE = f"holidays {version('holidays')}"  # where the country calendars come from, for the log

_Year = tuple[frozenset[date], frozenset[date]]  # a year of a country's calendar: its days off, its working days


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """When an authority works: weekdays (ISO, 1 = Monday) and hours in its time zone, holidays, extra work days.

    Day boundaries are wall-clock times in `timezone`, hours are real elapsed time, and every result is in `timezone`.
    A working period runs from `day_start` inclusive to `day_end` exclusive.

    `country_calendar`, a country code such as "RU", adds that country's production calendar from the `holidays`
    package: its public holidays and the days off moved by decree are days off, the weekend days it makes working
    days are working days. `holidays` and `extra_work_days` still apply on top and win over it. A year the package
    has no data for falls back to `work_days` and the two lists, with a warning logged once for that year.
    """

    timezone: ZoneInfo
    work_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    day_start: time = time(9)
    day_end: time = time(18)
    holidays: frozenset[date] = frozenset()
    extra_work_days: frozenset[date] = frozenset()  # Saturdays made working days by government decree
    country_calendar: str | None = None
    # The country calendar's (days off, working days) by year, filled in on first use of a year.
    _years: dict[int, _Year] = field(default_factory=dict, init=False, repr=False, compare=False)
    # Each day's working period in UTC, or None for a day off, worked out once (reports ask for thousands).
    _days: dict[date, tuple[datetime, datetime] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.work_days or not self.work_days <= set(range(1, 8)):
            raise ValueError(f"work_days must be ISO weekdays 1..7, at least one, got {sorted(self.work_days)}")
        if self.day_start >= self.day_end:
            raise ValueError(f"day_start {self.day_start} must be earlier than day_end {self.day_end}")
        if both := self.holidays & self.extra_work_days:
            raise ValueError(f"dates both holidays and extra work days: {', '.join(map(str, sorted(both)))}")
        if self.country_calendar is not None and self.country_calendar not in _known_countries():
            raise ValueError(f"no production calendar for the country code {self.country_calendar!r}")

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_work_days:
            return True
        if day in self.holidays:
            return False
        if self.country_calendar is not None:
            if (year := self._years.get(day.year)) is None:
                year = self._years[day.year] = _load_country_year(self.country_calendar, day.year)
            days_off, working_days = year
            if day in working_days:
                return True
            if day in days_off:
                return False
        return day.isoweekday() in self.work_days

    def is_working_time(self, moment: datetime) -> bool:
        moment = _require_aware(moment).astimezone(UTC)
        day = moment.astimezone(self.timezone).date()
        if not self.is_working_day(day):
            return False
        begin, end = self._period(day)
        return begin <= moment < end

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `start`; `hours=0` gives `start` itself.

        Outside working time the count begins at the next `day_start`; hours that run out exactly at a `day_end`
        give that `day_end`, not the next morning.
        """
        if hours < 0:
            raise ValueError(f"hours must not be negative, got {hours}")
        remaining = timedelta(hours=hours)
        if not remaining:
            return _require_aware(start).astimezone(self.timezone)
        periods = self._working_periods(start)
        begin, end = next(periods)
        while remaining > end - begin:
            remaining -= end - begin
            begin, end = next(periods)
        return (begin + remaining).astimezone(self.timezone)

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours from `start` to `end`, 0 if `end` is not later; the inverse of `add_working_hours`."""
        end = _require_aware(end).astimezone(UTC)
        worked = timedelta()
        for begin, finish in self._working_periods(start):
            if begin >= end:
                break
            worked += min(finish, end) - begin
        return worked / timedelta(hours=1)

    def add_days(self, start: datetime, days: int) -> datetime:
        """The `day_end` of the date `days` calendar days after `start`, or of the next working day if it is not one.

        This is how a deadline like "30 days from registration" (59-FZ) is counted.
        """
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        day = _require_aware(start).astimezone(self.timezone).date() + timedelta(days=days)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return datetime.combine(day, self.day_end, self.timezone)

    def _period(self, day: date) -> tuple[datetime, datetime]:
        """The working period of `day` in UTC, whether or not `day` is a working day."""
        return (
            datetime.combine(day, self.day_start, self.timezone).astimezone(UTC),
            datetime.combine(day, self.day_end, self.timezone).astimezone(UTC),
        )

    def _working_periods(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working periods in UTC from `since` on, the first cut to begin at `since`; endless, one day a step."""
        since = _require_aware(since).astimezone(UTC)
        day = since.astimezone(self.timezone).date()
        while True:
            if day in self._days:
                period = self._days[day]
            else:
                period = self._days[day] = self._period(day) if self.is_working_day(day) else None
            if period is not None and period[1] > since:
                yield max(period[0], since), period[1]
            day += timedelta(days=1)


def _load_country_year(country: str, year: int) -> _Year:
    """A year of the country's production calendar: the days off and the weekend days that are worked."""
    calendar = holidays.country_holidays(country, years=year)
    if not calendar.start_year <= year <= calendar.end_year:
        log.warning(
            "The package %s has no %s calendar for %d: only work_days and the [deadlines] lists count",
            PACKAGE,
            country,
            year,
        )
        return frozenset(), frozenset()
    decreed_until = _decreed_until(country)
    if decreed_until is not None and year > decreed_until:
        log.warning(
            "The package %s knows the %s holidays of %d but not the days off moved by decree (it has them up to "
            "%d): list them in [deadlines] holidays and extra_work_days, or upgrade the package",
            PACKAGE,
            country,
            year,
            decreed_until,
        )
    return (
        frozenset(day for day in calendar if day.year == year),
        frozenset(day for day in calendar.weekend_workdays if day.year == year),
    )


@cache
def _known_countries() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries())


@cache
def _decreed_until(country: str) -> int | None:
    """The last year for which the package has a country's special days off (moved by decree), if it has any."""
    calendar = holidays.country_holidays(country)
    years = [
        year
        for name in ("special_public_holidays", "special_public_holidays_observed")
        for year in getattr(calendar, name, {})
    ]
    return max(years, default=None)


def _require_aware(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment.isoformat()}")
    return moment
