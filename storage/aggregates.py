"""Figures worked out by the database on both engines: a continuous percentile (PostgreSQL's
`percentile_cont`; on SQLite the same as a Python aggregate registered on each connection) and the seconds
between two moments. Reports group and count in SQL instead of reading every appeal into Python."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, Float, literal_column
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SQLITE_PERCENTILE = "priemnaya_percentile"


class percentile(FunctionElement[float]):  # noqa: N801 (an SQL function, named like SQLAlchemy's func.*)
    """`percentile(value, share)`: the value below which `share` (0 to 1) of the group's values lie, interpolated
    between the two nearest (so `share` 0.5 is the median); NULLs are left out; NULL for a group without values."""

    type = Float()
    inherit_cache = True
    name = "percentile"

    def __init__(self, value: ColumnElement[Any] | InstrumentedAttribute[Any], share: float) -> None:
        if not 0 <= share <= 1:
            raise ValueError(f"share must be from 0 to 1, got {share}")
        # Written into the statement: PostgreSQL wants a constant there, and a float's repr is exact.
        super().__init__(value, literal_column(repr(float(share))))


class seconds_between(FunctionElement[float]):  # noqa: N801
    """`seconds_between(later, earlier)`: the seconds from `earlier` to `later`; NULL if either is NULL."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(percentile, "postgresql")
def _percentile_postgresql(element: percentile, compiler: SQLCompiler, **kw: Any) -> str:
    value, share = _arguments(element, compiler, **kw)
    return f"percentile_cont({share}) WITHIN GROUP (ORDER BY {value})"


@compiles(percentile, "sqlite")
def _percentile_sqlite(element: percentile, compiler: SQLCompiler, **kw: Any) -> str:
    value, share = _arguments(element, compiler, **kw)
    return f"{SQLITE_PERCENTILE}({value}, {share})"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _arguments(element, compiler, **kw)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _arguments(element, compiler, **kw)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


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
    """Make `percentile` available on a new SQLite connection (SQLAlchemy's adapted aiosqlite connection).

    aiosqlite offers `create_function` but no `create_aggregate`: the call is queued on its thread as its
    `create_function` does it."""

    async def create(driver: Any) -> None:
        await driver._execute(driver._conn.create_aggregate, SQLITE_PERCENTILE, 2, SQLitePercentile)

    dbapi_connection.run_async(create)
