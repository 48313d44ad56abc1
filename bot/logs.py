"""What the operator's log may say: never residents' personal data. A failed database statement is logged by
its kind, its table and the error's class, never with its parameters or the database's detail (which quotes
values): SQLAlchemy puts both into the exception's text."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

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


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that would speak at INFO on every tick or request: they say only what goes wrong.
CHATTY = ("alembic", "apscheduler", "aiogram", "vkbottle", "aiohttp.access")


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the exception where there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, form: Literal["text", "json"], destination: Path | None) -> None:
    """The operator's log: to `destination` (a file) or stderr, as text or JSON lines; libraries quiet."""
    install()
    handler: logging.Handler
    if destination is None:
        handler = logging.StreamHandler()
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(destination, encoding="utf-8")
    handler.setFormatter(JsonLines() if form == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level)
    root.setLevel(numeric)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING if numeric > logging.DEBUG else logging.DEBUG)
