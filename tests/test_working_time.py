"""Working-time deadlines in Moscow and Berlin: weekends, holidays, extra work days, time zones and DST."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.working_time import WorkingCalendar

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
PLAIN = WorkingCalendar(MOSCOW)
NEW_YEAR_HOLIDAYS = frozenset({date(2026, 12, 31)} | {date(2027, 1, day) for day in range(1, 9)})
RUSSIA = WorkingCalendar(
    MOSCOW,
    # November 2025: Saturday the 1st is worked instead of Monday the 3rd; the 4th is Unity Day.
    holidays=NEW_YEAR_HOLIDAYS | {date(2025, 11, 3), date(2025, 11, 4)},
    extra_work_days=frozenset({date(2025, 11, 1)}),
)


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MOSCOW)


@pytest.mark.parametrize(
    ("start", "hours", "deadline"),
    [
        pytest.param(msk(2026, 2, 13, 17), 8, msk(2026, 2, 16, 16), id="friday 17:00 -> monday"),
        pytest.param(msk(2026, 2, 14, 11), 8, msk(2026, 2, 16, 17), id="saturday -> monday"),
        pytest.param(msk(2026, 2, 17, 20), 8, msk(2026, 2, 18, 17), id="tuesday evening -> wednesday"),
        pytest.param(msk(2026, 2, 17, 7), 2, msk(2026, 2, 17, 11), id="early morning waits for 09:00"),
        pytest.param(msk(2026, 2, 17, 10, 15), 3.5, msk(2026, 2, 17, 13, 45), id="within one day"),
        pytest.param(msk(2026, 2, 17, 9), 9, msk(2026, 2, 17, 18), id="a whole day ends at 18:00"),
        pytest.param(msk(2026, 2, 17, 17), 1, msk(2026, 2, 17, 18), id="last hour ends at 18:00"),
        pytest.param(msk(2026, 2, 17, 18), 1, msk(2026, 2, 18, 10), id="starting at 18:00 is next morning"),
        pytest.param(msk(2026, 2, 13, 17), 10, msk(2026, 2, 16, 18), id="runs out exactly at monday 18:00"),
        pytest.param(msk(2026, 1, 5, 9), 1000, msk(2026, 6, 9, 10), id="1000 hours"),
    ],
)
def test_add_working_hours(start: datetime, hours: float, deadline: datetime) -> None:
    assert PLAIN.add_working_hours(start, hours) == deadline


def test_new_year_holidays_are_skipped() -> None:
    assert RUSSIA.add_working_hours(msk(2026, 12, 30, 17), 8) == msk(2027, 1, 11, 16)
    assert RUSSIA.add_working_hours(msk(2027, 1, 4, 12), 1) == msk(2027, 1, 11, 10)


def test_an_extra_work_saturday_counts_and_the_holidays_after_it_do_not() -> None:
    # Friday 1 h, Saturday 9 h, Sunday off, Monday and Tuesday holidays, Wednesday 6 h.
    assert RUSSIA.add_working_hours(msk(2025, 10, 31, 17), 16) == msk(2025, 11, 5, 15)


def test_a_start_in_utc_gives_a_deadline_in_the_calendar_zone() -> None:
    deadline = PLAIN.add_working_hours(datetime(2026, 2, 13, 14, tzinfo=UTC), 8)  # 17:00 in Moscow
    assert deadline == datetime(2026, 2, 16, 13, tzinfo=UTC)
    assert deadline.tzinfo is MOSCOW
    assert (deadline.hour, deadline.minute) == (16, 0)


def test_zero_hours_is_the_start_itself_even_outside_working_time() -> None:
    saturday_night = msk(2026, 2, 14, 23, 30)
    assert PLAIN.add_working_hours(saturday_night, 0) == saturday_night
    in_utc = PLAIN.add_working_hours(datetime(2026, 2, 14, 20, 30, tzinfo=UTC), 0)
    assert in_utc == saturday_night
    assert in_utc.tzinfo is MOSCOW


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        pytest.param(msk(2026, 2, 13, 16, 30), msk(2026, 2, 16, 10), 2.5, id="across a weekend"),
        pytest.param(msk(2026, 2, 14, 10), msk(2026, 2, 15, 17), 0, id="within a weekend"),
        pytest.param(msk(2026, 2, 17, 19), msk(2026, 2, 18, 8), 0, id="overnight"),
        pytest.param(msk(2026, 2, 17, 12), msk(2026, 2, 17, 12, 45), 0.75, id="within one day"),
        pytest.param(msk(2026, 2, 16, 7), msk(2026, 2, 20, 23), 45, id="a whole week"),
        pytest.param(msk(2026, 12, 30, 9), msk(2027, 1, 11, 18), 18, id="across the new year holidays"),
        pytest.param(msk(2026, 2, 17, 12), msk(2026, 2, 17, 11), 0, id="end before start"),
        pytest.param(msk(2026, 2, 17, 12), msk(2026, 2, 17, 12), 0, id="end equals start"),
        pytest.param(
            datetime(2026, 2, 17, 6, tzinfo=UTC), datetime(2026, 2, 17, 7, tzinfo=UTC), 1, id="moments in utc"
        ),
    ],
)
def test_working_hours_between(start: datetime, end: datetime, hours: float) -> None:
    assert RUSSIA.working_hours_between(start, end) == hours


@pytest.mark.parametrize("calendar", [RUSSIA, WorkingCalendar(BERLIN)], ids=["moscow", "berlin"])
def test_working_hours_between_undoes_add_working_hours(calendar: WorkingCalendar) -> None:
    rng = random.Random(20260213)
    notable_starts = [
        msk(2026, 2, 17, 20),  # evening
        msk(2026, 2, 14, 11),  # Saturday
        msk(2026, 2, 17, 18),  # exactly day_end
        msk(2026, 2, 17, 9),  # exactly day_start
        msk(2027, 1, 5, 12),  # New Year holidays
        msk(2025, 11, 1, 12),  # extra work Saturday
        datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN),  # the night clocks go forward in Berlin
    ]
    random_starts = [
        datetime(2025, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(60 * 24 * 500)) for _ in range(400)
    ]
    for start in notable_starts + random_starts:
        hours = rng.choice([rng.uniform(0.01, 300), float(rng.randint(1, 60)), 9.0])
        deadline = calendar.add_working_hours(start, hours)
        assert calendar.working_hours_between(start, deadline) == pytest.approx(hours, abs=1e-9), (start, hours)
    assert not all(map(calendar.is_working_time, random_starts))


@pytest.mark.parametrize(
    ("registered", "deadline"),
    [
        pytest.param(msk(2026, 3, 10, 11), msk(2026, 4, 9, 18), id="lands on a thursday"),
        pytest.param(msk(2026, 3, 6, 14), msk(2026, 4, 6, 18), id="lands on a sunday -> monday"),
        pytest.param(msk(2026, 12, 4, 10), msk(2027, 1, 11, 18), id="lands in the new year holidays"),
        pytest.param(msk(2025, 10, 2, 10), msk(2025, 11, 1, 18), id="lands on an extra work saturday"),
        pytest.param(msk(2026, 3, 7, 12), msk(2026, 4, 6, 18), id="registered on a saturday"),
        pytest.param(
            datetime(2026, 3, 9, 21, 30, tzinfo=UTC), msk(2026, 4, 9, 18), id="the date is taken in the calendar zone"
        ),
    ],
)
def test_add_thirty_days(registered: datetime, deadline: datetime) -> None:
    result = RUSSIA.add_days(registered, 30)
    assert result == deadline
    assert result.tzinfo is MOSCOW


def test_add_zero_days_is_the_end_of_the_day_or_of_the_next_working_day() -> None:
    assert RUSSIA.add_days(msk(2026, 2, 17, 10), 0) == msk(2026, 2, 17, 18)
    assert RUSSIA.add_days(msk(2026, 2, 14, 10), 0) == msk(2026, 2, 16, 18)


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        pytest.param(msk(2026, 2, 17, 9), True, id="day start"),
        pytest.param(msk(2026, 2, 17, 17, 59), True, id="just before day end"),
        pytest.param(msk(2026, 2, 17, 18), False, id="day end"),
        pytest.param(msk(2026, 2, 17, 8, 59), False, id="just before day start"),
        pytest.param(msk(2026, 2, 14, 12), False, id="saturday"),
        pytest.param(msk(2027, 1, 5, 12), False, id="holiday"),
        pytest.param(msk(2025, 11, 1, 12), True, id="extra work saturday"),
        pytest.param(datetime(2026, 2, 17, 6, tzinfo=UTC), True, id="09:00 in moscow given in utc"),
        pytest.param(datetime(2026, 2, 17, 15, tzinfo=UTC), False, id="18:00 in moscow given in utc"),
    ],
)
def test_is_working_time(moment: datetime, working: bool) -> None:
    assert RUSSIA.is_working_time(moment) is working


class TestDaylightSavingTime:
    calendar = WorkingCalendar(BERLIN)

    def test_spring_forward_weekend_keeps_wall_clock_hours(self) -> None:
        start = datetime(2026, 3, 27, 17, tzinfo=BERLIN)
        deadline = self.calendar.add_working_hours(start, 8)
        assert deadline == datetime(2026, 3, 30, 16, tzinfo=BERLIN)
        assert deadline.utcoffset() == timedelta(hours=2)
        assert self.calendar.working_hours_between(start, deadline) == 8

    def test_fall_back_weekend_keeps_wall_clock_hours(self) -> None:
        start = datetime(2026, 10, 23, 17, tzinfo=BERLIN)
        deadline = self.calendar.add_working_hours(start, 8)
        assert deadline == datetime(2026, 10, 26, 16, tzinfo=BERLIN)
        assert deadline.utcoffset() == timedelta(hours=1)
        assert self.calendar.add_days(start, 30) == datetime(2026, 11, 23, 18, tzinfo=BERLIN)

    def test_a_working_period_spanning_the_switch_is_an_hour_shorter(self) -> None:
        night_shift = WorkingCalendar(BERLIN, work_days=frozenset(range(1, 8)), day_start=time(1), day_end=time(5))
        sunday = datetime(2026, 3, 29, 1, tzinfo=BERLIN)
        assert night_shift.working_hours_between(sunday, datetime(2026, 3, 29, 5, tzinfo=BERLIN)) == 3
        assert night_shift.add_working_hours(sunday, 3) == datetime(2026, 3, 29, 5, tzinfo=BERLIN)
        assert night_shift.add_working_hours(sunday, 4) == datetime(2026, 3, 30, 2, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: WorkingCalendar(MOSCOW, work_days=frozenset()),
            r"work_days must be ISO weekdays 1..7, at least one, got \[\]",
        ),
        (
            lambda: WorkingCalendar(MOSCOW, work_days=frozenset({0, 1})),
            r"work_days must be ISO weekdays 1..7, at least one, got \[0, 1\]",
        ),
        (
            lambda: WorkingCalendar(MOSCOW, day_start=time(18), day_end=time(9)),
            "day_start 18:00:00 must be earlier than day_end 09:00:00",
        ),
        (
            lambda: WorkingCalendar(MOSCOW, day_start=time(9), day_end=time(9)),
            "day_start 09:00:00 must be earlier than day_end 09:00:00",
        ),
        (
            lambda: WorkingCalendar(
                MOSCOW, holidays=frozenset({date(2025, 11, 1)}), extra_work_days=frozenset({date(2025, 11, 1)})
            ),
            "dates both holidays and extra work days: 2025-11-01",
        ),
    ],
)
def test_an_impossible_calendar_is_refused(make: Callable[[], WorkingCalendar], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        make()


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="hours must not be negative, got -1"):
        PLAIN.add_working_hours(msk(2026, 2, 17, 12), -1)
    with pytest.raises(ValueError, match="days must not be negative, got -1"):
        PLAIN.add_days(msk(2026, 2, 17, 12), -1)


def test_naive_moments_are_refused() -> None:
    naive = datetime(2026, 2, 17, 12)
    aware = msk(2026, 2, 17, 12)
    for call in (
        lambda: PLAIN.add_working_hours(naive, 1),
        lambda: PLAIN.add_working_hours(naive, 0),
        lambda: PLAIN.working_hours_between(naive, aware),
        lambda: PLAIN.working_hours_between(aware, naive),
        lambda: PLAIN.add_days(naive, 30),
        lambda: PLAIN.is_working_time(naive),
    ):
        with pytest.raises(ValueError, match="expected a timezone-aware datetime, got 2026-02-17T12:00:00"):
            call()
