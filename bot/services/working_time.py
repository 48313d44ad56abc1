"""Deadline arithmetic in an authority's working calendar: working hours, calendar days, working time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """When an authority works: weekdays (ISO, 1 = Monday) and hours in its time zone, holidays, extra work days.

    Day boundaries are wall-clock times in `timezone`, hours are real elapsed time, and every result is in `timezone`.
    A working period runs from `day_start` inclusive to `day_end` exclusive.
    """

    timezone: ZoneInfo
    work_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    day_start: time = time(9)
    day_end: time = time(18)
    holidays: frozenset[date] = frozenset()
    extra_work_days: frozenset[date] = frozenset()  # Saturdays made working days by government decree

    def __post_init__(self) -> None:
        if not self.work_days or not self.work_days <= set(range(1, 8)):
            raise ValueError(f"work_days must be ISO weekdays 1..7, at least one, got {sorted(self.work_days)}")
        if self.day_start >= self.day_end:
            raise ValueError(f"day_start {self.day_start} must be earlier than day_end {self.day_end}")
        if both := self.holidays & self.extra_work_days:
            raise ValueError(f"dates both holidays and extra work days: {', '.join(map(str, sorted(both)))}")

    def is_working_day(self, day: date) -> bool:
        return day in self.extra_work_days or (day.isoweekday() in self.work_days and day not in self.holidays)

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
            if self.is_working_day(day):
                begin, end = self._period(day)
                if end > since:
                    yield max(begin, since), end
            day += timedelta(days=1)


def _require_aware(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment.isoformat()}")
    return moment
