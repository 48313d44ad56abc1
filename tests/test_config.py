"""bot.toml loading: the shipped file is valid, and every mistake names its key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    return str(caught.value)


def test_shipped_bot_toml_is_valid_and_opens_the_console_chat() -> None:
    config = load_config(ROOT / "bot.toml", environ={})
    assert config.settings.bot.authority
    assert config.enabled_platforms == []
    assert config.database_url == f"sqlite+aiosqlite:///{ROOT / 'data' / 'priemnaya.sqlite3'}"
    assert config.texts_path == ROOT / "texts" / "ru.toml"


def test_unknown_section_is_named(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, '[bot]\nauthority = "A"\n[telegramm]\ntoken = "x"\n'))
    assert "[telegramm]: unknown section" in message
    assert str(tmp_path / "bot.toml") in message


def test_unknown_key_is_named(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, '[bot]\nauthority = "A"\n[database]\nulr = "sqlite+aiosqlite:///x"\n'))
    assert "[database] ulr: unknown setting" in message


def test_wrong_type_names_key_and_expectation(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, '[bot]\nauthority = "A"\n[database]\necho = "yes"\n'))
    assert "[database] echo: input should be a valid boolean, got 'yes'" in message


def test_missing_required_value_is_named(tmp_path: Path) -> None:
    assert "[bot] authority: required value is missing" in error_of(write(tmp_path, '[bot]\nlog_level = "INFO"\n'))
    assert "[bot]: required value is missing" in error_of(write(tmp_path, ""))


def test_value_outside_choices(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, '[bot]\nauthority = "A"\nlog_level = "LOUD"\n'))
    assert "[bot] log_level:" in message
    assert "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in message


def test_sync_database_driver_is_refused(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, '[bot]\nauthority = "A"\n[database]\nurl = "postgresql://h/db"\n'))
    assert "[database]: url must start with 'sqlite+aiosqlite://' or 'postgresql+asyncpg://'" in message


def test_vk_token_needs_group_and_error_never_shows_the_token(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, '[bot]\nauthority = "A"\n[vk]\ntoken = "vk-secret-123"\n'))
    assert "[vk]: group_id is required when a VK token is set" in message
    assert "vk-secret-123" not in message


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    assert "not valid TOML" in error_of(write(tmp_path, "[bot\n"))
    assert "configuration file not found" in error_of(tmp_path / "absent.toml")


def test_secrets_from_environment_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nauthority = "A"\n[database]\nurl = "sqlite+aiosqlite:///db.sqlite3"\n')
    config = load_config(
        path,
        environ={
            "PRIEMNAYA_TELEGRAM_TOKEN": "123:abc",
            "PRIEMNAYA_DATABASE_URL": "postgresql+asyncpg://bot@db.local/bot",
            "PRIEMNAYA_DATABASE_PASSWORD": "s3cret",
        },
    )
    assert config.enabled_platforms == ["telegram"]
    assert config.settings.telegram.token is not None
    assert config.settings.telegram.token.get_secret_value() == "123:abc"
    assert config.database_url == "postgresql+asyncpg://bot@db.local/bot"
    assert config.settings.database.password is not None
    assert "s3cret" not in repr(config)


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nauthority = "Сельсовет"\n')
    assert load_config(environ={"PRIEMNAYA_CONFIG": str(path)}).settings.bot.authority == "Сельсовет"


def test_relative_sqlite_path_resolves_against_the_config_directory(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[bot]\nauthority = "A"\n'), environ={})
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'priemnaya.sqlite3'}"
