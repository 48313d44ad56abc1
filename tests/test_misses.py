"""The FAQ miss log: questions without an answer reach the database soon, survive its failures and a shutdown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.faq.journal import FaqJournal
from storage.db import create_engine, session_factory, upgrade
from storage.models import UnmatchedQuestion
from storage.repositories import Miss
from storage.uow import UnitOfWork
from tests.conftest import run_bot, run_in_own_loop, write_config


def miss(text: str) -> Miss:
    return Miss(text, text, "telegram", None, None, datetime(2026, 11, 26, 9, 0, tzinfo=UTC))


async def stored(engine: AsyncEngine) -> list[str]:
    async with session_factory(engine)() as session:
        return list((await session.execute(select(UnmatchedQuestion.text).order_by(UnmatchedQuestion.id))).scalars())


async def test_misses_are_written_a_moment_after_they_are_asked(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await upgrade(engine)
    sessions = session_factory(engine)
    misses = FaqJournal(lambda: UnitOfWork(sessions), delay=0.05)
    writer = asyncio.create_task(misses.run())
    try:
        for text in ("расскажи анекдот", "где мэр"):
            misses.record(miss(text))
        for _ in range(100):
            if len(await stored(engine)) == 2:
                break
            await asyncio.sleep(0.02)
        assert await stored(engine) == ["расскажи анекдот", "где мэр"]
    finally:
        writer.cancel()
        await engine.dispose()


async def test_misses_wait_while_the_database_fails_and_the_oldest_go_when_too_many(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")  # no tables yet: every write fails
    sessions = session_factory(engine)
    misses = FaqJournal(lambda: UnitOfWork(sessions), limit=3)
    try:
        for number in range(1, 5):
            misses.record(miss(f"вопрос {number}"))
        with pytest.raises(OperationalError, match="no such table"):
            await misses.flush()
        misses.record(miss("вопрос 5"))
        await upgrade(engine)
        await misses.flush()
        assert await stored(engine) == ["вопрос 3", "вопрос 4", "вопрос 5"]
        await misses.flush()  # nothing is written twice
        assert len(await stored(engine)) == 3
    finally:
        await engine.dispose()


def test_the_console_chat_writes_its_misses_when_it_ends(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    result = run_bot("--config", str(config_path), "chat", stdin="расскажи анекдот\n")
    assert result.returncode == 0, result.stderr
    assert "ответа на такой вопрос у меня нет" in result.stdout
    assert "Traceback" not in result.stderr  # the jobs it started with stop quietly

    async def read() -> list[str]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
        try:
            return await stored(engine)
        finally:
            await engine.dispose()

    assert run_in_own_loop(read()) == ["расскажи анекдот"]
