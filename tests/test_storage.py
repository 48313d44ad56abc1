"""The schema comes from migrations and matches the models; repositories behave on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from storage.db import create_engine, current_revision, session_factory, upgrade
from storage.models import Appeal, AppealEvent, Base, OutboxMessage, Rating, Resident, UnmatchedQuestion
from storage.repositories import AppealFilter, ResidentProfile
from storage.uow import UnitOfWork
from tests.conftest import POSTGRES_URL, run_bot, stored_resident, write_config

EXPECTED_TABLES = {
    "residents",
    "dialog_states",
    "appeals",
    "appeal_attachments",
    "appeal_events",
    "ratings",
    "outbox",
    "unmatched_questions",
    "appeal_counters",
    "appeal_reminders",
    "processed_updates",
    "receiving_cursors",
    "staff_cards",
    "faq_item_events",
    "send_slots",
    "api_tokens",
    "web_logins",
    "web_sessions",
    "alembic_version",
}


async def test_migrations_create_the_schema_the_models_describe(config: Config) -> None:
    engine = create_engine(config.database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # idempotent
        assert await current_revision(engine) == "0016"

        def inspect_schema(connection: Connection) -> tuple[set[str], list[object]]:
            tables = set(inspect(connection).get_table_names())

            def on_this_engine(item: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
                """The trigram indexes for staff's search exist on PostgreSQL only (`ddl_if` in the models)."""
                return connection.dialect.name == "postgresql" or not (name or "").endswith("_trigrams")

            opts = {"compare_type": True, "include_object": on_this_engine}
            context = MigrationContext.configure(connection, opts=opts)
            return tables, compare_metadata(context, Base.metadata)

        async with engine.connect() as connection:
            tables, differences = await connection.run_sync(inspect_schema)
        assert tables == EXPECTED_TABLES
        assert differences == []
    finally:
        await engine.dispose()


@pytest.fixture
async def sessions(config: Config) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database migrated to the newest schema."""
    engine = create_engine(config.database_url)
    await upgrade(engine)
    yield session_factory(engine)
    await engine.dispose()


async def test_every_table_stores_and_reads_back(sessions: async_sessionmaker[AsyncSession]) -> None:
    moscow = timezone(timedelta(hours=3))
    consent = datetime(2026, 11, 26, 12, 30, tzinfo=moscow)
    async with UnitOfWork(sessions) as uow:
        resident = (await uow.residents.conversation("telegram", "42")).profile
        assert resident.id is None  # nothing stored yet
        resident.consent_given_at = consent
        resident.id = await uow.residents.add("telegram", "42", resident)
        await uow.dialogs.save(resident.id, "appeal:description", {"category": "ЖКХ", "photos": ["f1"]})
        await uow.commit()
    async with sessions() as session:
        appeal = Appeal(
            number="А-2026-000001",
            resident_id=resident.id,
            category="ЖКХ",
            department="ЖКХ",
            stage="new",
            description="Нет горячей воды",
        )
        session.add(appeal)
        await session.flush()
        session.add_all(
            [
                AppealEvent(appeal_id=appeal.id, actor="resident", to_stage="new"),
                Rating(appeal_id=appeal.id, score=5, comment="Спасибо"),
                OutboxMessage(platform="telegram", chat_id="42", text="Статус изменён", appeal_id=appeal.id),
                UnmatchedQuestion(text="Где мэр?", normalized="где мэр", platform="telegram"),
            ]
        )
        await session.commit()
    async with sessions() as session:
        stored = (await session.execute(select(Resident))).scalar_one()
        assert stored.consent_given_at == consent
        assert stored.consent_given_at.tzinfo is not None
        assert stored.consent_given_at.utcoffset() == timedelta(0)
        outbox = (await session.execute(select(OutboxMessage))).scalar_one()
        assert (outbox.status, outbox.attempts, outbox.appeal_id) == ("pending", 0, appeal.id)
        assert outbox.due_at <= datetime.now(UTC)
    async with UnitOfWork(sessions) as uow:
        reloaded = await uow.residents.conversation("telegram", "42")
        assert (reloaded.profile.id, reloaded.profile.consent_given_at) == (resident.id, consent)
        assert (reloaded.state, reloaded.data) == ("appeal:description", {"category": "ЖКХ", "photos": ["f1"]})


async def test_resident_is_stored_once_per_platform_account(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    async with UnitOfWork(sessions) as uow:
        first = (await uow.residents.conversation("telegram", "7", now=now)).profile
        first.seen(now, "Пётр")
        assert first.display_name is None  # no name kept without consent
        first.consent_given_at = now
        first.id = await uow.residents.add("telegram", "7", first)
        other_platform = (await uow.residents.conversation("vk", "7", now=now)).profile
        other_platform.id = await uow.residents.add("vk", "7", other_platform)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        for platform in ("telegram", "vk"):
            again = (await uow.residents.conversation(platform, "7")).profile
            again.seen(now, "Пётр Иванович")
            await uow.residents.save_profile(again)
        assert (await uow.residents.add("vk", "7", again)) == other_platform.id  # stored already: the same row
        await uow.commit()
    assert first.id != other_platform.id
    async with sessions() as session:
        names = (await session.execute(select(Resident.display_name).order_by(Resident.id))).scalars().all()
    assert names == ["Пётр Иванович", None]


def test_last_seen_is_written_at_most_hourly() -> None:
    then = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    profile = ResidentProfile(id=1, display_name=None, consent_given_at=None, last_seen_at=then)
    profile.seen(then + timedelta(minutes=59), "Анна")
    assert (profile.last_seen_at, profile.display_name) == (then, None)
    profile.seen(then + timedelta(minutes=61), "Анна")
    assert profile.last_seen_at == then + timedelta(minutes=61)


async def test_leaving_a_unit_of_work_without_commit_stores_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with UnitOfWork(sessions) as uow:
        await uow.residents.add("vk", "1", (await uow.residents.conversation("vk", "1")).profile)
    async with sessions() as session:
        assert (await session.execute(select(Resident))).all() == []


def test_db_upgrade_command_creates_the_sqlite_file(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, "sqlite+aiosqlite:///state/bot.sqlite3")
    result = run_bot("--config", str(config_path), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "database schema revision: 0016" in result.stdout
    assert (tmp_path / "state" / "bot.sqlite3").stat().st_size > 0


@pytest.mark.postgres
async def test_a_database_user_who_may_not_create_extensions_still_gets_the_schema_and_its_search(
    postgres_server: object, caplog: pytest.LogCaptureFixture
) -> None:
    """pg_trgm is optional: without the right to create it, the migrations go on without the trigram indexes."""
    suffix = uuid.uuid4().hex[:8]
    database, role = f"priemnaya_limited_{suffix}", f"priemnaya_limited_{suffix}"
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql")
    admin = await asyncpg.connect(admin_url.render_as_string(hide_password=False))
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    await admin.execute(f'CREATE DATABASE "{database}"')
    inside = await asyncpg.connect(admin_url.set(database=database).render_as_string(hide_password=False))
    await inside.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')  # tables, but no extensions
    await inside.close()
    engine = create_engine(make_url(POSTGRES_URL).set(username=role, database=database).render_as_string(False))
    try:
        with caplog.at_level("WARNING"):
            await upgrade(engine)
        assert await current_revision(engine) == "0016"
        assert "pg_trgm could not be created (InsufficientPrivilegeError)" in caplog.text
        async with engine.connect() as connection:
            indexes = await connection.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("appeals")})
        assert "ix_appeals_created_at" in indexes
        assert not any(name.endswith("_trigrams") for name in indexes)
        sessions = session_factory(engine)
        async with UnitOfWork(sessions) as uow:
            resident = await stored_resident(uow, "telegram", "42")
            pit = Appeal(number="А-2026-000001", resident_id=resident, category="Дороги",
                         department="Дорожное хозяйство", stage="new", description="Яма у дома 5")  # fmt: skip
            uow.appeals.add(pit)
            await uow.commit()
        async with UnitOfWork(sessions) as uow:
            assert [a.number for a in await uow.appeals.search(AppealFilter(text="яма"))] == ["А-2026-000001"]
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
