"""Working-time deadlines in Moscow and Berlin: weekends, holidays, extra work days, time zones and DST; the Russian
production calendar from the holidays package."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services import working_time
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
PRODUCTION = WorkingCalendar(MOSCOW, country_calendar="RU")  # the production calendar from the holidays package
# Every test of the hand-listed calendar must pass with the package's too.
RUSSIAN = pytest.mark.parametrize("russia", [RUSSIA, PRODUCTION], ids=["listed", "production"])


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MOSCOW)


def dates(year: int, month_days: str) -> list[date]:
    """The dates of `year` written as "MM-DD MM-DD ..."."""
    return [date(year, *map(int, month_day.split("-"))) for month_day in month_days.split()]


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


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


@RUSSIAN
def test_new_year_holidays_are_skipped(russia: WorkingCalendar) -> None:
    assert russia.add_working_hours(msk(2026, 12, 30, 17), 8) == msk(2027, 1, 11, 16)
    assert russia.add_working_hours(msk(2027, 1, 4, 12), 1) == msk(2027, 1, 11, 10)


@RUSSIAN
def test_an_extra_work_saturday_counts_and_the_holidays_after_it_do_not(russia: WorkingCalendar) -> None:
    # Friday 1 h, Saturday 9 h, Sunday off, Monday and Tuesday holidays, Wednesday 6 h.
    assert russia.add_working_hours(msk(2025, 10, 31, 17), 16) == msk(2025, 11, 5, 15)


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
@RUSSIAN
def test_working_hours_between(russia: WorkingCalendar, start: datetime, end: datetime, hours: float) -> None:
    assert russia.working_hours_between(start, end) == hours


@pytest.mark.parametrize(
    "calendar", [RUSSIA, PRODUCTION, WorkingCalendar(BERLIN)], ids=["moscow", "moscow production", "berlin"]
)
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
@RUSSIAN
def test_add_thirty_days(russia: WorkingCalendar, registered: datetime, deadline: datetime) -> None:
    result = russia.add_days(registered, 30)
    assert result == deadline
    assert result.tzinfo is MOSCOW


@RUSSIAN
def test_add_zero_days_is_the_end_of_the_day_or_of_the_next_working_day(russia: WorkingCalendar) -> None:
    assert russia.add_days(msk(2026, 2, 17, 10), 0) == msk(2026, 2, 17, 18)
    assert russia.add_days(msk(2026, 2, 14, 10), 0) == msk(2026, 2, 16, 18)


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
@RUSSIAN
def test_is_working_time(russia: WorkingCalendar, moment: datetime, working: bool) -> None:
    assert russia.is_working_time(moment) is working


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
        (
            lambda: WorkingCalendar(MOSCOW, country_calendar="XX"),
            "no production calendar for the country code 'XX'",
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


class TestRussianProductionCalendar:
    """The production calendar of the holidays package: public holidays, the days off and working Saturdays moved by
    government decree, and bot.toml's lists on top."""

    @pytest.mark.parametrize(
        ("year", "weekdays_off", "weekends_worked", "working_days"),
        [
            pytest.param(
                2024,
                "01-01 01-02 01-03 01-04 01-05 01-08 02-23 03-08 04-29 04-30 05-01 05-09 05-10 06-12 11-04 12-30 12-31",
                "04-27 11-02 12-28",
                248,
                id="2024",
            ),
            pytest.param(
                2025,
                "01-01 01-02 01-03 01-06 01-07 01-08 05-01 05-02 05-08 05-09 06-12 06-13 11-03 11-04 12-31",
                "11-01",
                247,
                id="2025",
            ),
            pytest.param(
                2026,
                "01-01 01-02 01-05 01-06 01-07 01-08 01-09 02-23 03-09 05-01 05-11 06-12 11-04 12-31",
                "",
                247,
                id="2026",
            ),
            pytest.param(
                2027,
                "01-01 01-04 01-05 01-06 01-07 01-08 02-22 02-23 03-08 05-03 05-10 06-14 11-04 11-05 12-31",
                "02-20",
                247,
                id="2027",
            ),
        ],
    )
    def test_a_year_is_the_decreed_production_calendar(
        self, year: int, weekdays_off: str, weekends_worked: str, working_days: int
    ) -> None:
        days = days_of(year)
        weekdays = [day for day in days if day.isoweekday() <= 5]
        weekends = [day for day in days if day.isoweekday() > 5]
        assert [day for day in weekdays if not PRODUCTION.is_working_day(day)] == dates(year, weekdays_off)
        assert [day for day in weekends if PRODUCTION.is_working_day(day)] == dates(year, weekends_worked)
        assert sum(map(PRODUCTION.is_working_day, days)) == working_days

    def test_the_2024_moved_days(self) -> None:
        assert PRODUCTION.is_working_time(msk(2024, 4, 27, 12))  # a working Saturday
        assert not PRODUCTION.is_working_time(msk(2024, 4, 29, 12))
        assert not PRODUCTION.is_working_time(msk(2024, 4, 30, 12))
        # Friday 26 April 1 h, Saturday 27 April 9 h, then nothing until Monday 6 May (1, 9 and 10 May are off too).
        assert PRODUCTION.add_working_hours(msk(2024, 4, 26, 17), 12) == msk(2024, 5, 2, 11)

    def test_the_2025_moved_days(self) -> None:
        assert PRODUCTION.is_working_day(date(2025, 11, 1))  # Saturday, worked instead of...
        assert not PRODUCTION.is_working_day(date(2025, 11, 3))  # ...Monday
        assert not PRODUCTION.is_working_day(date(2025, 11, 4))  # Unity Day
        assert PRODUCTION.add_days(msk(2025, 10, 2, 10), 30) == msk(2025, 11, 1, 18)

    def test_a_first_response_set_before_the_new_year_is_due_after_its_holidays(self) -> None:
        # Wednesday 30 December 2026: 1 h; 31 December (moved from 4 January) to Sunday 10 January 2027 off.
        deadline = PRODUCTION.add_working_hours(msk(2026, 12, 30, 17), 8)
        assert deadline == msk(2027, 1, 11, 16)
        assert deadline.tzinfo is MOSCOW

    def test_it_is_what_bot_toml_listed_for_2026(self) -> None:
        listed = dates(2026, "01-01 01-02 01-05 01-06 01-07 01-08 01-09 02-23 03-09 05-01 05-11 06-12 11-04 12-31")
        by_hand = WorkingCalendar(MOSCOW, holidays=frozenset(listed))
        differ = [day for day in days_of(2026) if PRODUCTION.is_working_day(day) != by_hand.is_working_day(day)]
        assert differ == []

    def test_an_extra_work_day_overrides_a_holiday_of_the_package(self) -> None:
        calendar = WorkingCalendar(MOSCOW, extra_work_days=frozenset({date(2027, 1, 8)}), country_calendar="RU")
        assert calendar.add_working_hours(msk(2026, 12, 30, 17), 8) == msk(2027, 1, 8, 16)
        assert calendar.is_working_time(msk(2027, 1, 8, 12))
        assert not calendar.is_working_time(msk(2027, 1, 7, 12))

    def test_a_configured_holiday_is_a_day_off_too(self) -> None:
        calendar = WorkingCalendar(
            MOSCOW, holidays=frozenset({date(2027, 1, 11), date(2027, 2, 20)}), country_calendar="RU"
        )
        assert calendar.add_working_hours(msk(2026, 12, 30, 17), 8) == msk(2027, 1, 12, 16)
        assert not calendar.is_working_day(date(2027, 2, 20))  # even the package's working Saturday
        assert PRODUCTION.is_working_day(date(2027, 2, 20))

    def test_the_package_is_asked_once_a_year(self, monkeypatch: pytest.MonkeyPatch) -> None:
        years: list[int] = []
        load = working_time._load_country_year

        def counted(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
            years.append(year)
            return load(country, year)

        monkeypatch.setattr(working_time, "_load_country_year", counted)
        calendar = WorkingCalendar(MOSCOW, country_calendar="RU")
        deadline = calendar.add_working_hours(msk(2025, 1, 9, 9), 3 * 247 * 9)  # every working hour of 2025..2027
        assert deadline == msk(2027, 12, 30, 18)
        assert years == [2025, 2026, 2027]
        # Counting back runs on to the first working period after the end, in 2028.
        assert calendar.working_hours_between(msk(2025, 1, 1), deadline) == 3 * 247 * 9
        assert years == [2025, 2026, 2027, 2028]

    def test_a_year_without_decreed_moves_has_the_public_holidays_and_a_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        calendar = WorkingCalendar(MOSCOW, extra_work_days=frozenset({date(2099, 1, 2)}), country_calendar="RU")
        with caplog.at_level(logging.WARNING, logger="bot.services.working_time"):
            assert calendar.add_working_hours(datetime(2099, 1, 1, 9, tzinfo=MOSCOW), 9) == msk(2099, 1, 2, 18)
            assert not calendar.is_working_day(date(2099, 1, 5))  # a Monday of the New Year holidays
            assert calendar.is_working_day(date(2099, 1, 9))
            assert not calendar.is_working_day(date(2099, 1, 10))  # Saturday
        [warning] = caplog.records
        assert "RU holidays of 2099 but not the days off moved by decree" in warning.getMessage()

    def test_a_year_the_package_lacks_is_weekends_and_the_lists_with_a_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        calendar = WorkingCalendar(MOSCOW, holidays=frozenset({date(1985, 3, 8)}), country_calendar="RU")
        with caplog.at_level(logging.WARNING, logger="bot.services.working_time"):
            assert calendar.is_working_day(date(1985, 1, 1))  # Tuesday: no package holiday
            assert not calendar.is_working_day(date(1985, 1, 5))  # Saturday
            assert not calendar.is_working_day(date(1985, 3, 8))  # Friday, a configured holiday
            assert calendar.working_hours_between(msk(1985, 1, 1), msk(1986, 1, 1)) == (261 - 1) * 9
            assert calendar.working_hours_between(msk(1985, 1, 1), msk(1986, 1, 3)) == (261 - 1 + 2) * 9
        assert [warning.getMessage() for warning in caplog.records] == [
            f"The package {working_time.PACKAGE} has no RU calendar for {year}: only work_days and the [deadlines] "
            "lists count"
            for year in (1985, 1986)
        ]
