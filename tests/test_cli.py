"""The command line as a new user runs it: the console chat in a real process, and clear start-up errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_bot, spawn_bot, write_config
from tests.fake_telegram import FakeTelegram


@pytest.mark.slow
def test_console_chat_in_a_real_process_without_platform_libraries(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    result = run_bot(
        "--config", str(config), "run", stdin="4\nрасскажи анекдот\n/quit\n", env={"PYTHONPROFILEIMPORTTIME": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert "Здравствуйте, " in result.stdout
    assert "  [4] Помощь" in result.stdout
    assert "Я помогаю жителям связаться с «Администрация города Тестовска»." in result.stdout
    assert "К сожалению, ответа на такой вопрос у меня нет." in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "import time" in line}
    assert "bot.adapters.console" in imported
    assert not {"aiogram", "vkbottle"} & imported, "the console chat must not pay for platform libraries"
    assert (tmp_path / "bot.sqlite3").exists()


def test_configuration_errors_stop_start_up_with_exit_code_2(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('[bot]\nauthority = "A"\n[database]\necho = 1\n', encoding="utf-8")
    result = run_bot("--config", str(config), "chat")
    assert result.returncode == 2
    assert "[database] echo: input should be a valid boolean, got 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_line_naming_the_setting_with_exit_code_4(tmp_path: Path) -> None:
    config = write_config(tmp_path, "postgresql+asyncpg://bot@127.0.0.1:9/none")  # nothing listens on port 9
    for command in (["appeals", "list"], ["faq", "misses"], ["chat"]):
        result = run_bot("--config", str(config), *command)
        assert result.returncode == 4, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("error: cannot open the database (ConnectionRefusedError")
        assert line.endswith("check [database] url in bot.toml or PRIEMNAYA_DATABASE_URL")


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`... | head`: the reader goes away while the bot still writes; no traceback."""
    config = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    command = f"{sys.executable} -m bot --config {config} faq match | head -n 1"
    questions = "нет горячей воды\n" * 5000  # more output than a pipe holds
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], input=questions, capture_output=True, text=True, cwd=ROOT
    )
    assert result.stdout.startswith('{"query": "нет горячей воды", "outcome": "answer"')
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr


async def test_a_refused_token_stops_the_bot_with_one_line_naming_the_setting(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    fake.revoked.add("123456:revoked")
    config = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3", f'[telegram]\napi_base = "{fake.url}"\n')
    log = tmp_path / "bot.log"
    with log.open("w") as output:
        process = await spawn_bot(config, "123456:revoked", output)
    assert await asyncio.wait_for(process.wait(), 60) == 5
    written = log.read_text(encoding="utf-8")
    assert "Traceback" not in written
    assert "Telegram refused the bot token (Unauthorized): check [telegram] token in bot.toml or " in written


def test_staff_commands_take_numbers_as_typed_and_options_anywhere(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    filing = "Подать обращение\nСогласен(на)\nДороги\nОгромная дыра в асфальте у дома 3\nБез фото\nПропустить\n"
    filed = run_bot("--config", str(config), "chat", "--user", "t", stdin=filing + "Пропустить\nОтправить\n/quit\n")
    assert "А-2026-000001" in filed.stdout or "А-2027-000001" in filed.stdout
    year = "2027" if "А-2027-000001" in filed.stdout else "2026"
    for typed in (f"a-{year}-1", f"а {year} 000001", " 1 "):  # Latin, lower case, spaces, the bare sequence
        shown = run_bot("appeals", "show", typed, "--config", str(config))
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith(f"А-{year}-000001  new")
    routed = run_bot(
        "appeals",
        "route",
        "1",
        "Общий отдел",
        "--comment",
        "проверить",
        "--internal",
        "--config",
        str(config),
        "--actor",
        "staff:Ира",
    )
    assert routed.returncode == 0, routed.stderr
    history = run_bot("--config", str(config), "appeals", "show", "1").stdout
    assert "staff:Ира            routed to Общий отдел [internal]: проверить" in history
    missing = run_bot("--config", str(config), "appeals", "show", "99")
    assert (missing.returncode, missing.stderr.strip()) == (3, f"error: no appeal numbered 'А-{year}-000099'")
