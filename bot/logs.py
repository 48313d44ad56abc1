"""What the operator's log may say: never residents' personal data. A failed database statement is logged by
its kind, its table and the error's class, never with its parameters or the database's detail (which quotes
values): SQLAlchemy puts both into the exception's text."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy.exc import StatementError

_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+\"?(\w+)", re.IGNORECASE)
_installed: list[bool] = []


def database_error(exc: BaseException) -> StatementError | None:
    """The SQLAlchemy statement error in an exception's chain, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StatementError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe(error: StatementError) -> str:
    """ "INSERT into appeals: UniqueViolationError": what failed, without a value."""
    statement = (error.statement or "").strip()
    kind = statement.split(None, 1)[0].upper() if statement else "statement"
    table = _TABLE.search(statement)
    cause = type(error.orig).__name__ if getattr(error, "orig", None) is not None else type(error).__name__
    return f"{kind}{f' on {table.group(1)}' if table else ''}: {cause}"


def install() -> None:
    """Make every log record, wherever it goes, drop a database error's text for its description; idempotent."""
    if _installed:
        return
    _installed.append(True)
    make_record = logging.getLogRecordFactory()

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        exc_info = record.exc_info
        error = database_error(exc_info[1]) if exc_info and exc_info[1] is not None else None
        if error is not None:
            record.msg = f"{record.getMessage()} [database error: {describe(error)}]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return record

    logging.setLogRecordFactory(scrubbed)
