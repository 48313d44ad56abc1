"""Shared fixtures: a real SQLite file or a fresh real PostgreSQL database per test, a migrated app, a chat."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config, WebSettings, load_config
from bot.dashboard import Dashboard
from bot.media import MediaStore
from bot.services.appeals import AppealDraft, open_appeal
from bot.web import WebServer
from storage.db import create_engine, upgrade
from storage.models import utcnow
from storage.repositories import ResidentProfile
from storage.uow import UnitOfWork
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("PRIEMNAYA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def write_config(directory: Path, database_url: str, extra: str = "") -> Path:
    """A bot.toml for a test, pointing at the repository's texts and the given database."""
    path = directory / "bot.toml"
    path.write_text(
        f'[bot]\nauthority = "Администрация города Тестовска"\ntexts = "{ROOT / "texts" / "ru.toml"}"\n'
        f'[database]\nurl = "{database_url}"\n[faq]\npath = "{ROOT / "faq"}"\n{extra}',
        encoding="utf-8",
    )
    return path


async def stored_resident(uow: UnitOfWork, platform: str, user_id: str) -> int:
    """A resident stored directly, as the bot stores one when they consent; returns the id."""
    return await uow.residents.add(platform, user_id, ResidentProfile(None, None, None, utcnow()))


async def appeals_opened_at(app: Application, category: str, moments: Sequence[datetime]) -> list[str]:
    """Appeals of `category` filed by a new resident at `moments`, through the service as the bot files them;
    their numbers. Nobody answers them: opened long enough ago, they are overdue."""
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", uuid.uuid4().hex)
        draft = AppealDraft(category, "Обращение для списка")
        appeals = [await open_appeal(uow, app.services.appeals, resident, "telegram", draft, at) for at in moments]
        await uow.commit()
        return [appeal.number for appeal in appeals]


def run_in_own_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a private event loop, from sync code that may sit inside another loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# What residents told the bot in these tests: it may be stored, never logged (152-FZ; the operator's log is read
# by people who have no business with it). Checked in every test's log at INFO and above.
PERSONAL_DATA = (
    "+7912",
    "9123456789",
    "Петрова",
    "Ленина",
    "подъезд",
    "горячей воды",
    "Не работает лифт",
    "Огромная яма",
)


def bot_environment(**variables: str) -> dict[str, str]:
    """The environment of a bot process a test starts: this shell's, without our variables, plus `variables`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PRIEMNAYA_")}, **variables}


def run_bot(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in a real process, as an operator runs it, without our variables from this shell; its
    log (stderr) must not carry residents' data."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=bot_environment(**(env or {})),
        timeout=120,
        check=False,
    )
    leaked = [line for line in result.stderr.splitlines() if any(marker in line for marker in PERSONAL_DATA)]
    assert not leaked, "personal data in the log:\n" + "\n".join(leaked[:5])
    return result


async def spawn_bot(
    config: Path, telegram_token: str | None, output: int | IO[Any], vk_token: str | None = None
) -> asyncio.subprocess.Process:
    """`python -m bot --config CONFIG run` as deployed, with the platforms' tokens; stdout and stderr go to
    `output`."""
    tokens = {"PRIEMNAYA_TELEGRAM_TOKEN": telegram_token, "PRIEMNAYA_VK_TOKEN": vk_token}
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "--config", str(config), "run"),
        cwd=ROOT,
        env=bot_environment(**{name: token for name, token in tokens.items() if token}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=output,
        stderr=output,
    )


async def run_bot_beside(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`run_bot` from an async test, whose event loop keeps running meanwhile (another process, as in life)."""
    return await asyncio.to_thread(run_bot, *args, stdin=stdin)


class PostgresServer:
    """Creates a migrated template database once, then a fresh copy of it for each test (synchronous API)."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.template = f"priemnaya_template_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []

    def _dsn(self, database: str) -> str:
        return self.url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)

    async def _admin(self, sql: str) -> None:
        connection = await asyncpg.connect(self._dsn(self.url.database or "postgres"), timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def _prepare(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.template}"')
        engine = create_engine(self.url.set(database=self.template).render_as_string(hide_password=False))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    def prepare(self) -> None:
        run_in_own_loop(self._prepare())

    def fresh_database(self) -> str:
        name = f"priemnaya_test_{uuid.uuid4().hex[:12]}"
        run_in_own_loop(self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def empty_database(self) -> str:
        """A database with no schema at all, as a new installation starts."""
        name = f"priemnaya_empty_{uuid.uuid4().hex[:12]}"
        run_in_own_loop(self._admin(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop a database `fresh_database` made, as soon as its test is over: dropping them all at the end
        made one teardown last minutes on a slow machine, past the per-test timeout."""
        name = make_url(url).database
        run_in_own_loop(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            run_in_own_loop(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_URL)
    try:
        server.prepare()
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL at {POSTGRES_URL} is unreachable ({exc}); set PRIEMNAYA_TEST_POSTGRES_URL"
        if IN_CI:
            pytest.fail(reason + " (CI must test PostgreSQL, so this is a failure, not a skip)")
        pytest.skip(reason)
    yield server
    server.drop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage-touching test runs on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.fresh_database()
    yield url
    server.drop(url)


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return load_config(write_config(tmp_path, database_url), environ={})


@pytest.fixture
async def app(config: Config) -> AsyncIterator[Application]:
    application = await Application.start(config)
    yield application
    await application.close()


@pytest.fixture
async def site(app: Application, tmp_path: Path) -> AsyncIterator[tuple[str, MediaStore]]:
    """The managers' dashboard of `app` served on 127.0.0.1, with a media store: its address and the store."""
    store = MediaStore(tmp_path / "media", 1_000_000)
    dashboard = Dashboard(
        app.sessions, app.texts, app.services.appeals, app.services.roster, "Тест", store, faq=app.services.faq
    )
    web = WebServer(WebSettings(host="127.0.0.1", port=0), {}, dashboard.routes())
    await web.start()
    yield f"http://127.0.0.1:{web.port}", store
    await web.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API on 127.0.0.1, without Telegram's limits unless a test sets them."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def chat_as(app: Application) -> Callable[..., ConsoleChat]:
    def make(user_id: str = "anna", display_name: str = "Анна") -> ConsoleChat:
        return ConsoleChat(app.dispatcher.feed, user_id=user_id, display_name=display_name)

    return make


@pytest.fixture
def chat(chat_as: Callable[..., ConsoleChat]) -> ConsoleChat:
    return chat_as()


class _Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def _no_personal_data_in_logs() -> Iterator[None]:
    """Every test's log, at INFO and above, exceptions included, carries none of the residents' data."""
    root, handler = logging.getLogger(), _Recorded()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    leaked = [line for line in handler.lines if any(marker in line for marker in PERSONAL_DATA)]
    assert not leaked, "personal data in the log:\n" + "\n".join(leaked[:5])


TASK_DUMP_AFTER = 100  # seconds: shortly before pytest-timeout (120 s) fails a test that hangs

_session_loop: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(autouse=True, scope="session")
async def _note_session_loop() -> None:
    _session_loop.append(asyncio.get_running_loop())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that hangs gets the stack of every asyncio task in its output; pytest-timeout shows only threads,
    and an idle event loop says nothing about what its tasks wait for."""

    def dump_tasks() -> None:
        print(f"\n+++ asyncio tasks of {item.nodeid} after {TASK_DUMP_AFTER} s +++", file=sys.stderr)
        for task in asyncio.all_tasks(_session_loop[0]):
            print(f"--- {task!r}", file=sys.stderr)
            task.print_stack(file=sys.stderr)

    timer = threading.Timer(TASK_DUMP_AFTER, lambda: _session_loop[0].call_soon_threadsafe(dump_tasks))
    timer.daemon = True
    if _session_loop:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()
