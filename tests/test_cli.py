"""The command line as a new user runs it: the console chat in a real process, and clear start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_bot, write_config


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
