"""A bot killed at the worst moments loses nothing: `python -m bot run` in a real process, SIGKILLed between
receiving an update and committing it, and between committing and sending the reply, against the fake Bot API."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Appeal
from tests.conftest import spawn_bot, write_config
from tests.fake_telegram import FakeTelegram, User
from tests.test_bursts import walk_to_the_summary
from tests.test_telegram import TOKEN

pytestmark = pytest.mark.slow

ANNA = User(7001, "Анна")
NUMBER = re.compile(r"Обращение принято, его номер — (А-\d{4}-\d{6})\.")


class BotProcess:
    """`python -m bot run` on a SQLite file, talking to the fake Telegram; started, killed and started again."""

    def __init__(self, directory: Path, fake: FakeTelegram) -> None:
        self.database = directory / "bot.sqlite3"
        self.config = write_config(
            directory,
            f"sqlite+aiosqlite:///{self.database}",
            f'[telegram]\napi_base = "{fake.url}"\n[notifications]\ntelegram_chat_interval = 0.05\n',
        )
        self.fake = fake
        self.process: asyncio.subprocess.Process | None = None
        self.log = directory / "bot.log"

    async def start(self) -> float:
        """Start the bot; returns the loop time of its first getUpdates call (it is receiving)."""
        polls = len(self.fake.calls_of("getUpdates"))
        with self.log.open("a") as log:
            self.process = await spawn_bot(self.config, TOKEN, log)
        await self.fake.wait_until(lambda: len(self.fake.calls_of("getUpdates")) > polls, seconds=60)
        return [call for call in self.fake.calls if call.method == "getUpdates"][polls].received_at

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 30)
        return self.process.returncode or 0

    async def appeals(self) -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{self.database}")
        try:
            async with session_factory(engine)() as session:
                return int((await session.execute(select(func.count()).select_from(Appeal))).scalar_one())
        finally:
            await engine.dispose()


@pytest.fixture
async def bot(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[BotProcess]:
    process = BotProcess(tmp_path, fake)
    await process.start()
    try:
        yield process
    finally:
        if process.process is not None and process.process.returncode is None:
            process.process.kill()
            await process.process.wait()


def confirmations(fake: FakeTelegram) -> list[str]:
    return [shown.text for shown in fake.chats[ANNA.id] if NUMBER.match(shown.text)]


async def test_killed_between_commit_and_send_the_number_still_arrives_once(bot: BotProcess) -> None:
    fake = bot.fake
    await submit_with_the_reply_held(bot)
    await bot.kill()  # the appeal is committed, its number on the way
    fake.release("sendMessage")
    assert confirmations(fake) == []  # the resident never saw it...
    restarted = await bot.start()
    await fake.wait_until(lambda: confirmations(fake), seconds=10)  # ...and now does, within seconds
    assert bot_sent_after(fake, restarted) <= 10.0
    assert len(confirmations(fake)) == 1
    assert not any("больше не действует" in shown.text for shown in fake.chats[ANNA.id])  # not run twice
    assert await bot.stop() == 0
    assert await bot.appeals() == 1


async def submit_with_the_reply_held(bot: BotProcess) -> None:
    fake = bot.fake
    await walk_to_the_summary(fake, ANNA, 5)
    summary = fake.chats[ANNA.id][-1]
    assert summary.text.startswith("Проверьте обращение:")
    fake.hold("sendMessage")
    fake.push(fake.callback_update(ANNA, summary, "appeal:submit"))
    await fake.wait_until(
        lambda: any(NUMBER.match(params.get("text", "")) for params in fake.calls_of("sendMessage")), seconds=10
    )


def bot_sent_after(fake: FakeTelegram, moment: float) -> float:
    """Seconds from `moment` to the confirmation's delivery."""
    [delivered] = [
        call
        for call in fake.calls
        if call.method == "sendMessage" and NUMBER.match(call.params.get("text", "")) and not call.dropped
    ]
    return delivered.received_at - moment


async def test_killed_between_receiving_and_committing_the_update_is_received_again(bot: BotProcess) -> None:
    fake = bot.fake
    await walk_to_the_summary(fake, ANNA, 5)
    summary = fake.chats[ANNA.id][-1]
    lock = sqlite3.connect(bot.database, timeout=1, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the bot's transaction waits for this lock: received, not committed
    try:
        update_id = fake.push(fake.callback_update(ANNA, summary, "appeal:submit"))
        polls = len(fake.calls_of("getUpdates"))
        await fake.wait_until(lambda: len(fake.calls_of("getUpdates")) > polls + 2, seconds=10)
        assert fake.confirmed_below <= update_id  # Telegram was never told it is done
        await bot.kill()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert await bot.appeals() == 0
    restarted = await bot.start()
    await fake.wait_until(lambda: confirmations(fake), seconds=10)  # Telegram delivered it again
    assert bot_sent_after(fake, restarted) <= 10.0
    assert len(confirmations(fake)) == 1
    assert await bot.stop() == 0
    assert await bot.appeals() == 1
    assert fake.confirmed_below > update_id
