"""SQL functions that PostgreSQL has and SQLite lacks, the same on both engines: a continuous percentile
(PostgreSQL's `percentile_cont`), the seconds between two moments, and a moment as a time zone's wall-clock
time. On SQLite the missing ones are Python functions registered on each connection. Reports and exports group,
count and convert in SQL instead of reading every appeal into Python."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, DateTime, Float, literal_column
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SQLITE_PERCENTILE = "priemnaya_percentile"
SQLITE_LOCAL_TIME = "priemnaya_local_time"
_T = TypeVar("_T")


class _Portable(FunctionElement[_T]):
    """An SQL function written for each engine: `postgresql` and `sqlite` are its SQL, with `{0}`, `{1}`... for the
    arguments in order."""

    inherit_cache = True
    postgresql: ClassVar[str]
    sqlite: ClassVar[str]


@compiles(_Portable, "postgresql")
def _compile_postgresql(element: _Portable[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return element.postgresql.format(*_arguments(element, compiler, **kw))


@compiles(_Portable, "sqlite")
def _compile_sqlite(element: _Portable[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return element.sqlite.format(*_arguments(element, compiler, **kw))


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


class percentile(_Portable[float]):  # noqa: N801 (an SQL function, named like SQLAlchemy's func.*)
    """`percentile(value, share)`: the value below which `share` (0 to 1) of the group's values lie, interpolated
    between the two nearest (so `share` 0.5 is the median); NULLs are left out; NULL for a group without values."""

    type = Float()
    inherit_cache = True
    name = "percentile"
    postgresql = "percentile_cont({1}) WITHIN GROUP (ORDER BY {0})"
    sqlite = SQLITE_PERCENTILE + "({0}, {1})"

    def __init__(self, value: ColumnElement[Any] | InstrumentedAttribute[Any], share: float) -> None:
        if not 0 <= share <= 1:
            raise ValueError(f"share must be from 0 to 1, got {share}")
        # Written into the statement: PostgreSQL wants a constant there, and a float's repr is exact.
        super().__init__(value, literal_column(repr(float(share))))


class seconds_between(_Portable[float]):  # noqa: N801
    """`seconds_between(later, earlier)`: the seconds from `earlier` to `later`; NULL if either is NULL."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"
    postgresql = "EXTRACT(EPOCH FROM ({0} - {1}))"
    sqlite = "((julianday({0}) - julianday({1})) * 86400.0)"


class local_time(_Portable[datetime]):  # noqa: N801
    """`local_time(moment, zone)`: the moment (stored in UTC) as the wall-clock time in the IANA time zone
    `zone`, to the second and without a zone, as spreadsheets want it; NULL for NULL."""

    type = DateTime()
    inherit_cache = True
    name = "local_time"
    postgresql = "date_trunc('second', timezone({1}, {0}))"
    sqlite = SQLITE_LOCAL_TIME + "({0}, {1})"


def _sqlite_local_time(moment: str | None, zone: str) -> str | None:
    """SQLite keeps SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff` in UTC; the answer is what DateTime reads back."""
    if moment is None:
        return None
    local = datetime.fromisoformat(moment).replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S")


class SQLitePercentile:
    """`percentile` for SQLite, with PostgreSQL's `percentile_cont` interpolation."""

    def __init__(self) -> None:
        self._values: list[float] = []
        self._share = 0.5

    def step(self, value: float | None, share: float) -> None:
        self._share = share
        if value is not None:
            self._values.append(value)

    def finalize(self) -> float | None:
        if not self._values:
            return None
        ordered = sorted(self._values)
        position = self._share * (len(ordered) - 1)
        below, above = math.floor(position), math.ceil(position)
        return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def register_sqlite(dbapi_connection: AdaptedConnection) -> None:
    """Make the functions above available on a new SQLite connection (SQLAlchemy's adapted aiosqlite connection).

    aiosqlite offers `create_function` but no `create_aggregate`: the call is queued on its thread as its
    `create_function` does it."""

    async def create(driver: Any) -> None:
        await driver.create_function(SQLITE_LOCAL_TIME, 2, _sqlite_local_time, deterministic=True)
        await driver._execute(driver._conn.create_aggregate, SQLITE_PERCENTILE, 2, SQLitePercentile)

    dbapi_connection.run_async(create)
