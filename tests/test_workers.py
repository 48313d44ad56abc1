"""Several workers are one bot: two processes on one PostgreSQL handle a resident's updates one at a time (a double
press of «Отправить» files one appeal), and migrate an empty database together without failing."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import Application
from bot.config import load_config
from bot.core.types import Incoming, Platform
from storage.models import Appeal
from tests.conftest import ROOT, PostgresServer, bot_environment, write_config

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
