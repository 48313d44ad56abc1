"""Several workers are one bot: two processes on one PostgreSQL handle a resident's updates one at a time (a double
press of «Отправить» files one appeal), keep the platforms' limits together, and migrate an empty database
together without failing."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.adapters.telegram import TelegramSender, make_bot
from bot.app import Application
from bot.config import load_config
from bot.core.types import Incoming, Platform
from storage.models import Appeal
from tests.conftest import ROOT, PostgresServer, bot_environment, write_config
from tests.fake_telegram import FakeTelegram
from tests.test_telegram import settings_for

pytestmark = pytest.mark.postgres
RESIDENTS = 50


def press(user: str, text: str | None = None, payload: str | None = None) -> Incoming:
    return Incoming(platform=Platform.TELEGRAM, user_id=user, chat_id=user, text=text, payload=payload)


async def test_a_double_press_spread_over_two_workers_files_one_appeal(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.fresh_database()
    try:
        config = load_config(write_config(tmp_path, url), environ={})
        settings = config.settings
        two = settings.model_copy(update={"bot": settings.bot.model_copy(update={"workers": 2})})
        config = dataclasses.replace(config, settings=two)
        first, second = await Application.start(config), await Application.start(config)
        try:
            users = [f"u{number}" for number in range(RESIDENTS)]
            for user in users:  # each resident fills the wizard, its steps spread over both workers
                steps = [
                    press(user, "/start"),
                    press(user, payload="menu:appeal"),
                    press(user, payload="appeal:consent:yes"),
                    press(user, payload="appeal:category:1"),
                    press(user, "Яма на дороге у дома 5 по Садовой"),
                    press(user, payload="appeal:next"),
                    press(user, payload="appeal:next"),
                    press(user, payload="appeal:next"),
                ]
                for number, step in enumerate(steps):
                    await (first if number % 2 else second).dispatcher.feed(step)
            # «Отправить» pressed twice at once, the presses landing on different workers.
            results = await asyncio.gather(
                *(
                    worker.dispatcher.feed(press(user, payload="appeal:submit"))
                    for user in users
                    for worker in (first, second)
                )
            )
            accepted = [reply.text for handled in results for reply in handled if "Обращение принято" in reply.text]
            assert len(accepted) == RESIDENTS  # one number each, nobody told twice
            async with first.sessions() as session:
                filed = (await session.execute(select(func.count(Appeal.id)))).scalar_one()
            assert filed == RESIDENTS
        finally:
            await first.close()
            await second.close()
    finally:
        postgres_server.drop(url)


def test_two_processes_migrating_an_empty_database_at_once_both_start(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    for attempt in range(3):
        url = postgres_server.empty_database()
        folder = tmp_path / str(attempt)
        folder.mkdir()
        config = write_config(folder, url)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(config), "db", "upgrade"],
                cwd=ROOT,
                env=bot_environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outcomes = [process.communicate(timeout=120) for process in processes]
        assert [process.returncode for process in processes] == [0, 0], [err for _, err in outcomes]
        postgres_server.drop(url)


async def test_two_workers_keep_the_platforms_limits_together(
    tmp_path: Path, postgres_server: PostgresServer, fake: FakeTelegram
) -> None:
    """Each worker alone keeps 10 messages a second and 1 a second to a chat; two sending at once without
    sharing would send twice that. 30 residents write twice, each message landing on the other worker: every
    reply arrives, none refused, none twice."""
    fake.rate_limit, fake.chat_interval = 10, 1.0
    url = postgres_server.fresh_database()
    try:
        limits = "[notifications]\ntelegram_per_second = 10\ntelegram_chat_interval = 1.0\n"
        config = load_config(write_config(tmp_path, url, limits), environ={})
        settings = config.settings
        two = settings.model_copy(update={"bot": settings.bot.model_copy(update={"workers": 2})})
        config = dataclasses.replace(config, settings=two)
        workers = [await Application.start(config), await Application.start(config)]
        try:
            for app in workers:
                sender = TelegramSender(make_bot(settings_for(fake)))
                app.notifier.register(sender, app.rate_limiter(Platform.TELEGRAM))

            async def resident(number: int) -> None:
                user = str(1000 + number)
                for worker, text in zip(workers, ("/start", "/help"), strict=True):
                    await worker.notifier.deliver(await worker.dispatcher.feed(press(user, text)))

            async def other_resident(number: int) -> None:  # the other way round: both workers busy at once
                user = str(1000 + number)
                for worker, text in zip(reversed(workers), ("/start", "/help"), strict=True):
                    await worker.notifier.deliver(await worker.dispatcher.feed(press(user, text)))

            await asyncio.wait_for(
                asyncio.gather(*(resident(n) if n % 2 else other_resident(n) for n in range(30))), 60
            )
            assert fake.throttled == 0
            for number in range(30):
                shown = [message.text for message in fake.chats[1000 + number]]
                assert len(shown) == 2
                assert shown[0].startswith("Здравствуйте")
                assert shown[1].startswith("Я помогаю жителям")
        finally:
            for app in workers:
                await app.close()
    finally:
        postgres_server.drop(url)
