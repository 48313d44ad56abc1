"""Load and validate `bot.toml`, with secrets optionally taken from the environment."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = Path("bot.toml")
CONFIG_PATH_ENV = "PRIEMNAYA_CONFIG"

# Environment variables that override a setting, so secrets never need to be written into the file.
ENV_OVERRIDES: Mapping[str, tuple[str, str]] = {
    "PRIEMNAYA_TELEGRAM_TOKEN": ("telegram", "token"),
    "PRIEMNAYA_TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "PRIEMNAYA_VK_TOKEN": ("vk", "token"),
    "PRIEMNAYA_VK_GROUP_ID": ("vk", "group_id"),
    "PRIEMNAYA_VK_SECRET": ("vk", "secret"),
    "PRIEMNAYA_VK_CONFIRMATION": ("vk", "confirmation"),
    "PRIEMNAYA_WEB_HOST": ("web", "host"),
    "PRIEMNAYA_WEB_PORT": ("web", "port"),
    "PRIEMNAYA_DATABASE_URL": ("database", "url"),
    "PRIEMNAYA_DATABASE_PASSWORD": ("database", "password"),
}


# Settings given as numbers; from the environment they come as text.
NUMERIC_OVERRIDES = frozenset({("vk", "group_id"), ("web", "port")})

TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
VK_SECRET = re.compile(r"[A-Za-z0-9]{1,50}")  # what VK accepts as a Callback API secret key


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and what was expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BotSettings(_Section):
    authority: str = Field(min_length=1)
    texts: str = "texts/ru.toml"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "text" lines, or "json" lines (one object a line, for log collectors).
    log_format: Literal["text", "json"] = "text"
    # A file to log to instead of stderr; the console chat logs to data/console.log unless this is set.
    log_file: str | None = None
    # Seconds between the log's summary lines (updates, messages sent, failures, outbox).
    log_summary_interval: float = Field(default=300.0, gt=0)
    workers: int = Field(default=1, ge=1, le=1000)
    # Messages (and button presses) one resident may send a minute; beyond, the bot asks them to wait.
    messages_per_minute: int = Field(default=30, ge=1)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///data/priemnaya.sqlite3"
    password: SecretStr | None = None
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _known_driver(self) -> DatabaseSettings:
        if not self.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("url must start with 'sqlite+aiosqlite://' or 'postgresql+asyncpg://' (an async driver)")
        return self


class FaqSettings(_Section):
    path: str = "faq"
    reload_interval: float = Field(default=5.0, gt=0)
    answer_threshold: float = Field(default=58.0, ge=0, le=100)
    answer_margin: float = Field(default=5.0, ge=0, le=100)
    suggest_threshold: float = Field(default=25.0, ge=0, le=100)
    max_suggestions: int = Field(default=3, ge=1, le=8)

    @model_validator(mode="after")
    def _ordered(self) -> FaqSettings:
        if self.suggest_threshold > self.answer_threshold:
            raise ValueError("suggest_threshold must not be above answer_threshold")
        return self


class AppealSettings(_Section):
    # Category shown to residents -> the department that handles it, in the order residents see them.
    categories: dict[str, str] = Field(
        default={
            "ЖКХ": "Отдел ЖКХ",
            "Дороги": "Дорожное хозяйство",
            "Благоустройство": "Отдел благоустройства",
            "Транспорт": "Отдел транспорта",
            "Здравоохранение": "Отдел здравоохранения",
            "Образование": "Управление образования",
            "Соцзащита": "Управление соцзащиты",
            "Безопасность": "ЕДДС",
            "Другое": "Общий отдел",
        },
        min_length=1,
    )
    # Departments staff may route appeals to besides those of the categories.
    extra_departments: list[str] = []
    description_min: int = Field(default=10, ge=1)
    description_max: int = Field(default=3000, ge=1, le=10000)
    max_photos: int = Field(default=5, ge=0, le=10)
    # Appeals one resident may file in 24 hours (more is flooding, or a bot).
    max_per_day: int = Field(default=5, ge=1)

    @property
    def departments(self) -> list[str]:
        return list(dict.fromkeys([*self.categories.values(), *self.extra_departments]))

    @model_validator(mode="after")
    def _limits(self) -> AppealSettings:
        if self.description_min > self.description_max:
            raise ValueError("description_min must not be above description_max")
        return self


class DeadlineSettings(_Section):
    timezone: str = "Europe/Moscow"
    # A country's production calendar from the holidays package (public holidays, days off and working Saturdays
    # moved by decree), under holidays and extra_work_days; None: only those two lists.
    production_calendar: Literal["RU"] | None = None
    work_days: list[int] = [1, 2, 3, 4, 5]
    day_start: time = time(9, 0)
    day_end: time = time(18, 0)
    holidays: list[date] = []
    extra_work_days: list[date] = []
    first_response_hours: float = Field(default=8.0, gt=0)
    resolution_days: int = Field(default=30, ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone (expected a name like 'Europe/Moscow'): {value!r}") from None
        return value

    @field_validator("work_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(day not in range(1, 8) for day in value):
            raise ValueError("work_days must list ISO weekdays, 1 (Monday) to 7 (Sunday)")
        return value

    @model_validator(mode="after")
    def _day(self) -> DeadlineSettings:
        if self.day_start >= self.day_end:
            raise ValueError("day_start must be before day_end")
        return self


class NotificationSettings(_Section):
    # Sending limits per platform (the platforms' own limits): messages per second overall, and the least
    # interval between two messages to one chat.
    telegram_per_second: float = Field(default=30.0, gt=0)
    telegram_chat_interval: float = Field(default=1.0, ge=0)
    vk_per_second: float = Field(default=20.0, gt=0)
    vk_chat_interval: float = Field(default=0.0, ge=0)
    # Failed sends are retried after 5 s, 10 s, 20 s, ... up to retry_max_delay; after max_attempts, given up.
    retry_base_delay: float = Field(default=5.0, gt=0)
    retry_max_delay: float = Field(default=3600.0, gt=0)
    max_attempts: int = Field(default=10, ge=1)
    # How often the outbox is swept for messages other processes queued (e.g. the staff command line).
    sweep_interval: float = Field(default=2.0, gt=0)


class MediaSettings(_Section):
    # Where the bot keeps the photos of appeals (downloaded from the platforms), and the largest it takes.
    path: str = "data/media"
    max_megabytes: float = Field(default=10.0, gt=0, le=50)


class PrivacySettings(_Section):
    # Days after an appeal is finished (closed, rejected, redirected) that its personal data are kept: then its
    # texts, place, phone and photos are erased, and residents not seen as long are forgotten. 59-FZ practice
    # keeps appeals 5 years.
    retention_days: int = Field(default=1825, ge=1)


class RatingSettings(_Section):
    remind_after_hours: float = Field(default=48.0, gt=0)
    close_after_hours: float = Field(default=168.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> RatingSettings:
        if self.close_after_hours <= self.remind_after_hours:
            raise ValueError("close_after_hours must be after remind_after_hours")
        return self


class StaffMember(_Section):
    """One person of the staff roster: who may act on appeals from the staff group."""

    telegram_id: int = Field(gt=0)
    name: str = Field(min_length=1)
    role: Literal["operator", "department", "manager", "admin"]
    departments: list[str] = []  # for the department role: the departments whose appeals they work on

    @model_validator(mode="after")
    def _departments(self) -> StaffMember:
        if self.role == "department" and not self.departments:
            raise ValueError(f"{self.name}: the department role needs its departments")
        return self


class StaffSettings(_Section):
    # Where staff get alerts (deadlines, reopened appeals): a platform and a chat id, e.g. a Telegram group.
    platform: Literal["telegram", "vk", "console"] | None = None
    chat_id: str | None = None
    # A Telegram forum supergroup as the staff workspace: one topic per appeal, with its card and buttons.
    topics: bool = False
    # Messages a minute the bot sends into the staff group (Telegram allows about 20; a new topic counts).
    group_per_minute: int = Field(default=20, ge=1, le=60)
    # Warn this many working hours before a deadline.
    warn_before_hours: float = Field(default=2.0, ge=0)
    # How often the deadline, rating and auto-close scans run, in seconds.
    scan_interval: float = Field(default=300.0, gt=0)
    # When the daily digest of overdue appeals per department goes to the staff chat (local time, [deadlines]).
    digest_at: time = time(9, 0)
    # Days a clarification request waits for the resident: then one reminder; as long again, and the appeal is
    # closed as unclarified (its first-response clock stands still meanwhile).
    clarify_days: float = Field(default=3.0, gt=0)
    # Who may act on appeals from the staff group, checked by Telegram user id.
    members: list[StaffMember] = []
    # The folder of canned answers staff start an answer from (YAML, like the FAQ; `python -m bot answers check`).
    answers: str = "answers"
    # Sign messages to residents with the staff member's name; otherwise residents see only the department.
    show_staff_names: bool = False
    # The reasons staff pick from when they reject an appeal or redirect it to another body (shown to the resident).
    reject_reasons: list[str] = Field(
        default=[
            "В обращении нет сути вопроса: опишите, пожалуйста, проблему подробнее и подайте обращение снова.",
            "Этот вопрос уже рассмотрен по вашему предыдущему обращению.",
            "Текст обращения содержит оскорбления и не может быть рассмотрен.",
        ],
        min_length=1,
        max_length=8,
    )
    extension_reasons: list[str] = Field(
        default=[
            "Нужна выездная проверка на месте.",
            "Запрошены сведения в других органах и организациях.",
            "Работы включены в план и требуют времени на выполнение.",
        ],
        min_length=1,
        max_length=8,
    )
    redirect_reasons: list[str] = Field(
        default=[
            "Вопрос относится к управляющей компании: обращение передано ей.",
            "Вопрос относится к региональным органам власти: обращение передано по компетенции.",
            "Вопрос относится к полиции: обращение передано в отдел МВД.",
        ],
        min_length=1,
        max_length=8,
    )

    @model_validator(mode="after")
    def _both(self) -> StaffSettings:
        if (self.platform is None) != (self.chat_id is None):
            raise ValueError("platform and chat_id go together: set both or neither")
        if self.topics and self.platform != "telegram":
            raise ValueError('topics need a Telegram forum supergroup: platform = "telegram" and its chat_id')
        return self


class TelegramSettings(_Section):
    token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    api_base: str = "https://api.telegram.org"
    webhook_url: str | None = None
    webhook_path: str = "/telegram"
    webhook_secret: SecretStr | None = None

    @field_validator("api_base", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("webhook_path must start with '/'")
        return value

    @model_validator(mode="after")
    def _complete(self) -> TelegramSettings:
        # Checked on the whole section, so that an error never echoes the token back.
        if self.token is not None and not TELEGRAM_TOKEN.fullmatch(self.token.get_secret_value()):
            raise ValueError("token must look like '123456789:AAE...', as @BotFather gives it")
        if self.mode != "webhook":
            return self
        if self.webhook_url is None:
            raise ValueError("webhook_url is required in webhook mode (the public https:// URL Telegram calls)")
        if self.webhook_secret is None or not WEBHOOK_SECRET.fullmatch(self.webhook_secret.get_secret_value()):
            raise ValueError("webhook_secret is required in webhook mode: 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return self


class VkSettings(_Section):
    token: SecretStr | None = None
    group_id: int | None = Field(default=None, gt=0)
    mode: Literal["longpoll", "callback"] = "longpoll"
    api_base: str = "https://api.vk.ru"
    callback_path: str = "/vk"
    secret: SecretStr | None = None
    confirmation: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("callback_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("callback_path must start with '/'")
        return value

    @model_validator(mode="after")
    def _complete(self) -> VkSettings:
        if self.token is not None and self.group_id is None:
            raise ValueError("group_id is required when a VK token is set (the numeric id of the community)")
        if self.secret is not None and not VK_SECRET.fullmatch(self.secret.get_secret_value()):
            raise ValueError("secret must be 1-50 Latin letters and digits, as VK's Callback API settings accept")
        if self.mode != "callback":
            return self
        if self.confirmation is None:
            raise ValueError(
                "confirmation is required in callback mode: the string VK shows in the community's Callback API "
                "settings, which the bot must return"
            )
        if self.secret is None:
            raise ValueError("secret is required in callback mode: the secret key set in the Callback API settings")
        return self


class ApiSettings(_Section):
    # The HTTP API under /api/v1 on the web server, with bearer tokens (`python -m bot api token create`), and
    # its OpenAPI document at /api/openapi.json.
    enabled: bool = False


class Open311Settings(_Section):
    # Open311 GeoReport v2 under /open311/v2/ on the web server: city websites and regional systems list the
    # topics, file appeals (api_key: a write token, `python -m bot api token create`) and follow them.
    enabled: bool = False
    # What of an appeal is public beyond its topic, department, status, times and a rounded place.
    public_descriptions: bool = False
    public_addresses: bool = False


class WebSettings(_Section):
    """The one HTTP server of the bot: Telegram's webhook and VK's Callback API, when they are on."""

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (it is logged)
    # The address staff open the dashboard at, for sign-in links (default: this machine, host and port above).
    public_url: str | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")


class Settings(_Section):
    bot: BotSettings
    database: DatabaseSettings = DatabaseSettings()
    faq: FaqSettings = FaqSettings()
    appeals: AppealSettings = AppealSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    notifications: NotificationSettings = NotificationSettings()
    ratings: RatingSettings = RatingSettings()
    staff: StaffSettings = StaffSettings()
    privacy: PrivacySettings = PrivacySettings()
    media: MediaSettings = MediaSettings()
    open311: Open311Settings = Open311Settings()
    api: ApiSettings = ApiSettings()
    telegram: TelegramSettings = TelegramSettings()
    vk: VkSettings = VkSettings()
    web: WebSettings = WebSettings()


@dataclass(frozen=True, slots=True)
class Config:
    """Validated settings plus the directory relative paths in them are resolved against."""

    settings: Settings
    base_dir: Path

    def path(self, relative: str) -> Path:
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def texts_path(self) -> Path:
        return self.path(self.settings.bot.texts)

    @property
    def faq_path(self) -> Path:
        return self.path(self.settings.faq.path)

    @property
    def media_path(self) -> Path:
        return self.path(self.settings.media.path)

    @property
    def answers_path(self) -> Path:
        return self.path(self.settings.staff.answers)

    @property
    def database_url(self) -> str:
        """The database URL with relative SQLite paths resolved against the config directory."""
        url = self.settings.database.url
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix) and url != prefix + ":memory:":
            return prefix + str(self.path(url[len(prefix) :]))
        return url

    @property
    def enabled_platforms(self) -> list[str]:
        s = self.settings
        return [name for name, section in (("telegram", s.telegram), ("vk", s.vk)) if section.token]


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, merge with environment overrides and validate the configuration file."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = Path(environ.get(CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found (copy bot.toml from the repository)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for variable, (section, key) in ENV_OVERRIDES.items():
        value = environ.get(variable)
        if value:
            target = raw.setdefault(section, {})
            if isinstance(target, dict):
                numeric = (section, key) in NUMERIC_OVERRIDES and value.strip().isdigit()
                target[key] = int(value) if numeric else value
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(f"  {_describe(error)}" for error in exc.errors())
        raise ConfigError(f"{path}: invalid configuration:\n{problems}") from None
    return Config(settings=settings, base_dir=path.resolve().parent)


def _describe(error: Mapping[str, Any]) -> str:
    """One validation error as '[section] key: what was expected, got what'."""
    loc = [str(part) for part in error["loc"]]
    where = f"[{loc[0]}]" + (f" {'.'.join(loc[1:])}" if len(loc) > 1 else "") if loc else "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown {'section' if len(loc) == 1 else 'setting'}"
    if kind == "missing":
        return f"{where}: required value is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    message = f"{message[0].lower()}{message[1:]}"
    given = error.get("input")
    # A whole section is never echoed back: it may hold a token.
    return f"{where}: {message}" if isinstance(given, Mapping) else f"{where}: {message}, got {given!r}"
