"""Engine creation for SQLite or PostgreSQL, and schema upgrades through Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from storage import aggregates

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


MIGRATION_LOCK = 0x5052494D  # "PRIM": the PostgreSQL advisory lock key held while migrating


class DatabaseUnreachable(Exception):
    """The database could not be opened: not running, a wrong address, name or password, a folder that cannot
    be created."""


def create_engine(url: str, *, password: str | None = None, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An async engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL.

    SQLite allows one writer at a time, so it gets one connection: transactions then queue in order
    instead of fighting over the file lock. PostgreSQL gets `pool_size` connections.
    """
    parsed = make_url(url)
    if password:
        parsed = parsed.set(password=password)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnreachable(
                    f"the folder of {parsed.database} cannot be created ({exc.strerror})"
                ) from exc
        engine = create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,  # residents' data never reaches an exception's text, hence the log
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_reset_on_return=None,  # see _sqlite_reset
        )
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
        return engine
    return create_async_engine(
        parsed, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=pool_size, max_overflow=0
    )


def connection_limit(engine: AsyncEngine) -> int:
    """How many transactions the engine can run at once."""
    return 1 if engine.dialect.name == "sqlite" else engine.pool.size()  # type: ignore[attr-defined]


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys, let readers work while one writer commits, and leave BEGIN to `_sqlite_begin`.

    The sqlite3 driver's own transaction handling would let a SAVEPOINT release commit the whole
    transaction; emitting BEGIN ourselves gives SQLite the same transaction semantics as PostgreSQL.
    """
    dbapi_connection.isolation_level = None
    # SQLite's lower() folds ASCII only; case-insensitive search ("Яма" for "яма") needs Unicode's.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    aggregates.register_sqlite(_driver(dbapi_connection))
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _unicode_lower(text: object) -> object:
    return text.lower() if isinstance(text, str) else text


def _sqlite_begin(connection: Connection) -> None:
    """Take the write lock at the start: two deferred transactions that both read, then both write,
    would fail with "database is locked" at once instead of waiting their turn.

    Sent to aiosqlite directly: one trip to its thread, where a statement through SQLAlchemy takes three
    (open a cursor, execute, close it); each trip costs about 0.1 ms.
    """
    _driver(connection.connection.dbapi_connection).run_async(lambda driver: driver.execute("BEGIN IMMEDIATE"))


def _sqlite_reset(dbapi_connection: Any, _record: Any, _state: Any) -> None:
    """On return to the pool, roll back only a transaction still open: after a commit there is none, and
    the rollback SQLAlchemy would otherwise send costs a trip to aiosqlite's thread."""
    if _driver(dbapi_connection).driver_connection.in_transaction:
        dbapi_connection.rollback()


def _driver(dbapi_connection: object) -> AdaptedConnection:
    if not isinstance(dbapi_connection, AdaptedConnection):
        raise TypeError(f"expected SQLAlchemy's adapted aiosqlite connection, got {type(dbapi_connection)!r}")
    return dbapi_connection


class WriteTrackingSession(Session):
    """A session that notes in `info["wrote"]` whether its transaction changed anything, so that the caller can
    tell an update that only read from one that must be made durable."""


@event.listens_for(WriteTrackingSession, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["wrote"] = True


@event.listens_for(WriteTrackingSession, "after_flush")
def _note_flush(session: Session, _context: UOWTransaction) -> None:
    session.info["wrote"] = True


@event.listens_for(WriteTrackingSession, "after_transaction_end")
def _forget_writes(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended: commit or rollback
        session.info.pop("wrote", None)


def is_outage(exc: BaseException) -> bool:
    """Whether an error says the database is unavailable for now (unreachable, restarting, locked) rather than
    that the statement is wrong: worth trying again after a pause."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    state = str(getattr(exc.orig, "sqlstate", "") or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", ""))
    # PostgreSQL: 08 connection errors, 57P shutting down or starting, 55000 a database not taking connections
    return exc.connection_invalidated or state.startswith(("08", "57P")) or state == "55000"


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=WriteTrackingSession)


def has_written(session: AsyncSession) -> bool:
    """Whether the session's open transaction has changed anything, or will at commit."""
    return bool(session.info.get("wrote") or session.new or session.dirty or session.deleted)


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default) by running the Alembic migrations."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with engine.connect():  # opening the database, told apart from migrating it
            pass
    except (OSError, DBAPIError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        raise DatabaseUnreachable(f"{type(cause).__name__}: {cause}") from exc
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # processes starting together migrate one after another
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
