"""Database outages while the outbox is sending: the notifier waits for the database and resumes within seconds
of its return, on SQLite (the file held locked) and on PostgreSQL (connections refused)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.app import Application
from bot.core.types import Platform, Reply
from bot.notifier import RateLimiter
from storage.db import session_factory
from storage.models import OutboxMessage
from storage.uow import UnitOfWork

pytestmark = pytest.mark.slow

MESSAGES = 60
RESUME_WITHIN = 10.0  # seconds after the database is back


class Recipient:
    """A platform that takes every message, and remembers when."""

    platform = Platform.TELEGRAM

    def __init__(self) -> None:
        self.received: list[tuple[str, float]] = []

    async def send(self, chat_id: str, reply: Reply, send_id: int = 0) -> None:
        self.received.append((chat_id, asyncio.get_running_loop().time()))


@contextlib.asynccontextmanager
async def outage(database_url: str) -> AsyncIterator[None]:
    """The database unavailable for as long as the block runs."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with sqlite_locked(Path(url.database or "")):
            yield
        return
    name = url.database
    admin = await asyncpg.connect(url.set(drivername="postgresql", database="postgres").render_as_string(False))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    # The bot's own writes are short, but on a loaded machine one may take over a second: wait for it.
    lock = sqlite3.connect(path, timeout=10, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        lock.execute("ROLLBACK")
        lock.close()


async def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("seconds", [5, 45])
async def test_the_outbox_resumes_within_seconds_after_an_outage_while_sending(
    app: Application, database_url: str, seconds: float
) -> None:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        for number in range(MESSAGES):
            uow.outbox.add(OutboxMessage(platform="telegram", chat_id=str(number % 20), text=f"уведомление {number}"))
        await uow.commit()
    recipient = Recipient()
    app.notifier.register(recipient, RateLimiter(per_second=10, chat_interval=0.0))  # 6 s of sending
    running = asyncio.create_task(app.notifier.run(idle_timeout=0.5))
    try:
        await wait_for(lambda: len(recipient.received) >= 10, 10)
        async with outage(database_url):
            await asyncio.sleep(seconds)
        back = asyncio.get_running_loop().time()
        await wait_for(lambda: len(recipient.received) >= MESSAGES, RESUME_WITHIN)
        for _ in range(int(RESUME_WITHIN * 2)):  # and each is recorded as sent
            async with UnitOfWork(session_factory(app.engine)) as uow:
                counts = await uow.outbox.count_by_status()
            if counts == {"sent": MESSAGES}:
                break
            await asyncio.sleep(0.5)
        assert not running.done(), "the notifier died"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert len(recipient.received) == MESSAGES  # each once
    assert max(moment for _, moment in recipient.received) - back <= RESUME_WITHIN
    assert counts == {"sent": MESSAGES}
