"""The operator's log: quiet at INFO (a line per start, stop, reload, outage, and a summary every few minutes),
named jobs, JSON lines for collectors, and never in the console chat's conversation."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from bot import logs
from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.scheduler import build_scheduler
from tests.conftest import run_bot, write_config


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logs.CHATTY}
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


async def test_the_scheduler_ticks_quietly_under_named_jobs(
    app: Application, tmp_path: Path, restore_logging: object
) -> None:
    log = tmp_path / "bot.log"
    logs.configure("INFO", "text", log)
    # Ticks a quarter of a second apart: at 0.1 s a loaded CI machine sometimes had a run outlast its interval, and
    # APScheduler rightly warned that it skipped the next one.
    scheduler = build_scheduler(app.jobs, app.notifier, app.services.clock, sweep_interval=0.25, scan_interval=0.25)
    assert {job.name for job in scheduler.get_jobs()} == {job.id for job in scheduler.get_jobs()}
    assert "rating_reminders" in {job.name for job in scheduler.get_jobs()}
    scheduler.start()
    await asyncio.sleep(2.5)  # ten ticks of each job
    scheduler.shutdown(wait=False)
    assert "apscheduler" not in log.read_text(encoding="utf-8")  # APScheduler said two lines a tick at INFO


async def test_a_summary_line_says_what_the_bot_did(app: Application, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    chat = ConsoleChat(app.dispatcher.feed, user_id="anna", display_name="Анна")
    summary = asyncio.create_task(app.summarise(0.3))
    await asyncio.sleep(0)  # it starts counting now
    await chat.say("/start")
    await chat.say("/help")
    await asyncio.sleep(0.45)
    summary.cancel()
    [line] = [record.getMessage() for record in caplog.records if record.getMessage().startswith("last ")]
    assert line == "last 0.005 min: 2 updates handled, 0 messages sent, 0 tries failed; 0 waiting in the outbox"


def test_json_lines_for_log_collectors(tmp_path: Path, restore_logging: object) -> None:
    log = tmp_path / "bot.log"
    logs.configure("INFO", "json", log)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("bot.test").exception("something failed for %s", "a reason")
    entry = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "bot.test", "something failed for a reason")
    assert entry["exception"].endswith("ValueError: broken")
    assert entry["time"].endswith("+00:00")


def test_the_console_chat_logs_to_a_file_not_into_the_conversation(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    result = run_bot("--config", str(config), "chat", stdin="/start\n/quit\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "data" / "console.log").exists()
