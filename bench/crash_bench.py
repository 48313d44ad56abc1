"""Benchmark: crash safety of the real bot, SIGKILLed again and again while residents open appeals through it.

Usage: .venv/bin/python bench/crash_bench.py [--residents N] [--kills K] [--seed S] [--timeout SECONDS]
                                              [--database URL]

The bot is `python -m bot run`, as deployed, on a new SQLite file (or, with `--database
postgresql+asyncpg://postgres@127.0.0.1:5432/test`, on a fresh PostgreSQL database made for the run and dropped
after it), long-polling the fake Bot API of tests/fake_telegram.py in this process, which enforces Telegram's
limits: 30 messages/s, one per second to a chat, 20 a minute to a group.

N scripted residents (starts spread over the first 10 s) each open one appeal through the wizard as a person
would: /start, "Подать обращение", consent, a topic, a description, no photo, an address, no phone, "Отправить";
then the number. A resident acts on what the chat shows, 1-2 s after it shows it; after 15 s of silence it does
the step again, and after another 15 s it starts over with /start. One who pressed "Отправить" and is then back
in the menu without a number looks in "Мои обращения" before opening another appeal, and one who sees a notice
about its appeal knows it was filed; both stop there (counted apart: they were never told their number). As the
appeals appear in the database, the bench moves each once to "accepted" with the bot's own service, as staff
would, and the bot's notifier sends the resident a notice.

Meanwhile the bot is SIGKILLed at least K times, each time 2-6 s (seeded) after the restarted bot first polled,
and started again at once; while notices are owed, one kill in three comes while a notice is being sent (the fake
holds sendMessage until one arrives: that send and every reply held with it never reach Telegram). When every
resident has its number (or has stopped as above), or at `--timeout`, the bench waits for the outbox to empty
(at most 60 s), stops the bot with SIGTERM and prints the figures. Exit code 1 when a figure marked "must be 0" is
not; the run's folder with the bot's log is then kept and its path printed. `--kills 0` runs without kills, to
tell what the kills cost from what the load alone does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

from bot.app import load_texts, notices_for  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.services.appeal_stages import AppealStage, DomainError  # noqa: E402
from bot.services.appeals import move_appeal  # noqa: E402
from bot.services.notices import Notices  # noqa: E402
from storage.db import create_engine, session_factory  # noqa: E402
from storage.models import Appeal, OutboxMessage, utcnow  # noqa: E402
from storage.models import Resident as StoredResident  # noqa: E402
from storage.uow import UnitOfWork  # noqa: E402
from tests.conftest import spawn_bot  # noqa: E402
from tests.fake_telegram import FakeTelegram, Shown, User  # noqa: E402

TOKEN = "123456:BENCH"
FIRST_USER_ID = 500_000
CREATED = re.compile(r"Обращение принято, его номер — (А-\d{4}-\d{6})")
NUMBER = re.compile(r"А-\d{4}-\d{6}")
NOTICE = re.compile(r"Обращение (А-\d{4}-\d{6}): новый этап")
SENDS = frozenset({"sendMessage", "editMessageText"})

START_SPREAD = 10.0  # seconds over which the residents start
REPLY_WAIT = 15.0  # seconds a resident waits for an answer before doing the step again
LOOK_EVERY = 0.1  # seconds between two looks of a resident at the chat
READING = (1.0, 2.0)  # seconds a resident takes to read an answer before the next step
KILL_AFTER = (2.0, 6.0)  # seconds after the restarted bot first polls until the next kill
STARTUP_LIMIT = 90.0  # seconds a starting bot may take to poll before the bench gives up on it
TARGETED_SHARE = 3  # one kill in three, while notices are owed, waits for one being sent
NOTICE_WAIT = 5.0  # seconds a targeted kill waits for that notice
STAFF_EVERY = 0.5  # seconds between two looks of the staff at the database
SETTLE_LIMIT = 60.0  # seconds the bench waits for the outbox to empty at the end
STOP_LIMIT = 60.0  # seconds the bot may take to exit after SIGTERM


# The bot process, killed and restarted


@dataclass
class Life:
    """One run of the bot process, from its start to its kill (or its stop)."""

    calls_from: int  # index in fake.calls of the first call it can have made
    started_at: float
    polled_at: float | None = None  # its first getUpdates
    ended_at: float | None = None
    killed: bool = False
    owed_at_kill: bool = False  # a resident waited for an answer, or a message was still to be sent
    during_notice: bool = False  # killed while a notice was being sent (held by the fake)


class BotProcess:
    """`python -m bot run` as a subprocess, its stdout and stderr appended to one log file across restarts."""

    def __init__(self, fake: FakeTelegram, config: Path, log_path: Path) -> None:
        self.fake = fake
        self.config = config
        self.log_path = log_path
        self.lives: list[Life] = []
        self.unexpected_exits = 0
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] = log_path.open("ab")

    @property
    def kills(self) -> int:
        return sum(life.killed for life in self.lives)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the bot and return once it polls; a bot that exits first is started again (three tries)."""
        for _ in range(3):
            loop = asyncio.get_running_loop()
            self._log.write(f"\n--- bench: start {len(self.lives) + 1} at {time.strftime('%H:%M:%S')} ---\n".encode())
            self._log.flush()
            life = Life(calls_from=len(self.fake.calls), started_at=loop.time())
            self.lives.append(life)
            self._process = await spawn_bot(self.config, TOKEN, self._log)
            deadline = loop.time() + STARTUP_LIMIT
            while loop.time() < deadline and self.running:
                polled = next(
                    (call for call in self.fake.calls[life.calls_from :] if call.method == "getUpdates"), None
                )
                if polled is not None:
                    life.polled_at = polled.received_at
                    return
                await asyncio.sleep(0.05)
            if self.running:
                raise BenchError(f"the bot did not poll within {STARTUP_LIMIT:.0f} s of its start")
            self.unexpected_exits += 1
            life.ended_at = loop.time()
        raise BenchError("the bot exited three times in a row before it polled")

    async def kill(self) -> None:
        assert self._process is not None
        life = self.lives[-1]
        if self._process.returncode is None:
            self._process.kill()
            life.killed = True
        else:
            self.unexpected_exits += 1
        await self._process.wait()
        life.ended_at = asyncio.get_running_loop().time()

    async def stop(self) -> int | None:
        """SIGTERM, as a service manager stops the bot; its exit code, or None if it had to be killed."""
        if self._process is None:
            return None
        if self._process.returncode is not None:
            self.unexpected_exits += 1
            return self._process.returncode
        self._process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self._process.wait(), STOP_LIMIT)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
            return None
        finally:
            self.lives[-1].ended_at = asyncio.get_running_loop().time()
        return code

    def close(self) -> None:
        """Never leave the bot running, whatever happened."""
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        self._log.close()

    def stalls(self) -> list[tuple[float, bool]]:
        """For each restart after a kill that left something owed: seconds from the restarted bot's first poll to
        its first sendMessage/editMessageText, and whether the next kill came first (the stall is then longer)."""
        calls = self.fake.calls
        found = []
        for number, life in enumerate(self.lives[1:], start=1):
            previous = self.lives[number - 1]
            if not (previous.killed and previous.owed_at_kill) or life.polled_at is None:
                continue
            until = self.lives[number + 1].calls_from if number + 1 < len(self.lives) else len(calls)
            sent = next((call.received_at for call in calls[life.calls_from : until] if call.method in SENDS), None)
            if sent is not None:
                found.append((max(0.0, sent - life.polled_at), False))
            elif life.ended_at is not None:
                found.append((life.ended_at - life.polled_at, True))
        return found


class BenchError(Exception):
    pass


# The residents


@dataclass
class Resident:
    """A person opening one appeal in their Telegram chat with the bot."""

    fake: FakeTelegram
    user: User
    index: int
    rng: random.Random
    waiting_since: float | None = None  # loop time of the step it waits an answer to; None when not waiting
    submitted: bool = False  # pressed "Отправить", and has seen neither the number nor an empty "Мои обращения"
    learnt_otherwise: bool = False  # saw its appeal in "Мои обращения" or in a notice before it saw the number
    done: bool = False
    steps: int = 0
    repeats: int = 0  # steps done again after REPLY_WAIT s of silence

    @property
    def chat(self) -> list[Shown]:
        return self.fake.chats[self.user.id]

    def told(self) -> set[str]:
        """The numbers the bot gave this resident on filing an appeal."""
        return {match[1] for shown in self.chat if (match := CREATED.search(shown.text))}

    async def run(self, start_after: float, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(start_after)
        step: tuple[str, str] = ("send", "/start")
        silences = 0
        while True:
            seen = len(self.chat)
            self._do(step)
            answer = await self._next_step(seen, min(REPLY_WAIT, deadline - loop.time()))
            self.waiting_since = None
            if self.told() or self.learnt_otherwise or loop.time() >= deadline:
                self.done = True
                return
            if answer is None:  # silence: press (or send) again, then start over
                silences += 1
                self.repeats += 1
                step = step if silences == 1 else ("send", "/start")
                continue
            silences = 0
            await asyncio.sleep(self.rng.uniform(*READING))
            step = self._step() or answer

    async def _next_step(self, seen: int, seconds: float) -> tuple[str, str] | None:
        """Wait for an answer in the chat that shows what to do next; None after `seconds` of nothing."""
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            if self.told():
                return ("done", "")
            if any(NOTICE.match(shown.text) for shown in self.chat):  # it was filed, whatever the bot said
                self.learnt_otherwise = True
                return ("done", "")
            if any(not NOTICE.match(shown.text) for shown in self.chat[seen:]) and (step := self._step()):
                return step
            await asyncio.sleep(LOOK_EVERY)
        return None

    def _step(self) -> tuple[str, str] | None:
        """What the newest answer in the chat asks for (a notice about an appeal is not an answer); None if it
        asks for nothing this resident understands (yet)."""
        shown = next((shown for shown in reversed(self.chat) if not NOTICE.match(shown.text)), None)
        if shown is None:
            return ("send", "/start")
        text, labels = shown.text, shown.labels
        if any(NUMBER.match(label) for label in labels):  # "Мои обращения" lists an appeal of theirs
            self.learnt_otherwise = True
            return ("done", "")
        if text.startswith("У вас пока нет обращений"):
            self.submitted = False
        for label in ("Отправить", "Без фото", "Готово", "Дороги", "Согласен(на)"):
            if label in labels:
                return ("press", label)
        if text.startswith(("Оставьте телефон", "Не похоже на номер")):
            return ("press", "Пропустить")
        if text.startswith("Где это?"):
            return ("send", f"ул. Ленина, {self.index}")
        if text.startswith(("Опишите проблему", "Слишком коротко")):
            return ("send", f"Яма на дороге у дома {self.index} по улице Ленина")
        if "Подать обращение" in labels:
            if self.submitted and "Мои обращения" in labels:  # was it filed after all?
                return ("press", "Мои обращения")
            return ("press", "Подать обращение")
        return None

    def _do(self, step: tuple[str, str]) -> None:
        kind, what = step
        if kind == "done":
            return
        fake, update = self.fake, None
        if kind == "press":
            shown = next((shown for shown in reversed(self.chat) if what in shown.labels), None)
            if shown is not None:
                payload = next(payload for row in shown.buttons for label, payload in row if label == what)
                update = fake.callback_update(self.user, shown, payload)
                if what == "Отправить":
                    self.submitted = True
        if update is None:
            update = fake.message_update(self.user, what if kind == "send" else "/start")
        fake.push(update)
        self.steps += 1
        self.waiting_since = asyncio.get_running_loop().time()


# The database: what staff do, and what the bench reads


@dataclass
class Staff:
    """Moves every stored appeal to "accepted" once, as staff would, which queues a notice to its resident."""

    reader: AsyncEngine
    writer: AsyncEngine
    notices: Notices
    moved: list[str] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.move_new()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STAFF_EVERY)

    async def move_new(self) -> None:
        try:
            async with self.reader.connect() as connection:
                numbers = (await connection.execute(select(Appeal.number).where(Appeal.stage == "new"))).scalars()
                fresh = [number for number in numbers if number not in self.moved]
        except (SQLAlchemyError, OSError) as exc:
            self.failures[type(exc).__name__] += 1
            return
        for number in fresh:
            try:
                async with UnitOfWork(session_factory(self.writer)) as uow:
                    await move_appeal(
                        uow, self.notices, number, AppealStage.ACCEPTED, actor="staff:bench", now=utcnow()
                    )
                    await uow.commit()
            except DomainError:  # not "new" any more: somebody else moved it
                continue
            except (SQLAlchemyError, OSError) as exc:  # e.g. SQLite busy: the next round tries again
                self.failures[type(exc).__name__] += 1
                continue
            self.moved.append(number)

    async def pending_outbox(self) -> int:
        """Messages in the outbox not yet sent (nor given up)."""
        async with self.reader.connect() as connection:
            query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
            return int((await connection.execute(query)).scalar_one())

    async def appeals_by_user(self) -> dict[str, list[str]]:
        """Every stored appeal's number, by the Telegram user id of its resident."""
        query = select(StoredResident.platform_user_id, Appeal.number).join(
            StoredResident, StoredResident.id == Appeal.resident_id
        )
        found: dict[str, list[str]] = {}
        async with self.reader.connect() as connection:
            for user_id, number in await connection.execute(query):
                found.setdefault(user_id, []).append(number)
        return found


async def make_postgres_database(url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh database on the server of `url`; its URL, and a function that drops it."""
    parsed = make_url(url)
    name = f"priemnaya_crash_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    await admin(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False), lambda: admin(
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    )


def write_config(directory: Path, api_base: str, database: str) -> Path:
    path = directory / "bot.toml"
    path.write_text(
        f'[bot]\nauthority = "Бенчмарк"\ntexts = "{ROOT / "texts" / "ru.toml"}"\nlog_level = "WARNING"\n'
        f'[faq]\npath = "{ROOT / "faq"}"\n'
        f'[database]\nurl = "{database}"\n'
        f'[telegram]\napi_base = "{api_base}"\n',
        encoding="utf-8",
    )
    return path


# The run


@dataclass
class Run:
    fake: FakeTelegram
    bot: BotProcess
    staff: Staff
    residents: list[Resident]
    rng: random.Random
    kills: int
    owed_notices: Callable[[], bool]
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # residents done, or the deadline

    def owed(self, pending: int) -> bool:
        return pending > 0 or self.owed_notices() or any(r.waiting_since is not None for r in self.residents)

    async def show_progress(self, began: float, every: float = 15.0) -> None:
        while True:
            await asyncio.sleep(every)
            told = sum(bool(resident.told()) for resident in self.residents)
            print(
                f"  {time.monotonic() - began:4.0f} s: {told} of {len(self.residents)} residents have their number, "
                f"{len(self.staff.moved)} appeals moved, {self.bot.kills} kills, {self.fake.throttled} 429s",
                flush=True,
            )

    async def kill_again_and_again(self) -> None:
        """Kill the bot 2-6 s after it polls and start it again, until the residents are done and enough kills
        were done; while notices are owed, one kill in TARGETED_SHARE comes while one is being sent."""
        bot, fake, loop = self.bot, self.fake, asyncio.get_running_loop()
        if self.kills == 0:  # a run without kills, to tell what the kills cost
            return
        while True:
            kill_at = (bot.lives[-1].polled_at or loop.time()) + self.rng.uniform(*KILL_AFTER)
            while loop.time() < kill_at:
                if self.finished.is_set() and bot.kills >= self.kills:
                    return
                await asyncio.sleep(0.1)
            aimed = sum(life.during_notice for life in bot.lives)
            targeted = aimed * TARGETED_SHARE < bot.kills + 1 and self.owed_notices()
            if targeted:
                fake.hold("sendMessage")
                with contextlib.suppress(TimeoutError):
                    await fake.wait_until(
                        lambda: any(NOTICE.match(call.params.get("text", "")) for call in fake.held_calls()),
                        NOTICE_WAIT,
                    )
            during_notice = any(NOTICE.match(call.params.get("text", "")) for call in fake.held_calls())
            await bot.kill()
            if targeted:
                with contextlib.suppress(TimeoutError):  # the fake sees the dead connections go
                    await fake.wait_until(lambda: not fake.held_calls(), 2.0)
                fake.release("sendMessage")
            life = bot.lives[-1]
            life.during_notice = during_notice
            try:
                pending = await self.staff.pending_outbox()
            except (SQLAlchemyError, OSError):
                pending = 1  # unknown: count it as owed
            life.owed_at_kill = self.owed(pending)
            await bot.start()


async def bench(residents_count: int, kills: int, seed: int, limit: float, database: str) -> int:
    began = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="crash_bench_"))
    fake = FakeTelegram(rate_limit=30, chat_interval=1.0, group_per_minute=20)
    await fake.start()
    drop_database: Callable[[], Awaitable[None]] | None = None
    bot: BotProcess | None = None
    engines: list[AsyncEngine] = []
    tasks: list[asyncio.Future[object]] = []
    keep = True
    try:
        if database.startswith("postgresql"):
            url, drop_database = await make_postgres_database(database)
        else:
            url = f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"
        config_path = write_config(directory, fake.url, url)
        config = load_config(config_path, environ={})
        notices = notices_for(config, load_texts(config))
        bot = BotProcess(fake, config_path, directory / "bot.log")
        print(
            f"{residents_count} residents open an appeal each while the bot is SIGKILLed at least {kills} times "
            f"(seed {seed}); {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}; folder {directory}",
            flush=True,
        )
        await bot.start()  # it creates the schema
        engines += [create_async_engine(url), create_engine(url)]
        staff = Staff(engines[0], engines[1], notices)
        rng = random.Random(seed)
        residents = [
            Resident(fake, User(FIRST_USER_ID + n, "Житель", str(n)), n, random.Random(f"{seed}:{n}"))
            for n in range(1, residents_count + 1)
        ]

        def owed_notices() -> bool:
            shown = {match[1] for chat in fake.chats.values() for s in chat if (match := NOTICE.match(s.text))}
            return any(number not in shown for number in staff.moved)

        run = Run(fake, bot, staff, residents, rng, kills, owed_notices)
        gc.freeze()  # what is built so far lives to the end: keep collections short, as the fake keeps time
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        staff_stop = asyncio.Event()
        tasks.append(asyncio.create_task(staff.run(staff_stop)))
        walking = [asyncio.create_task(resident.run(rng.uniform(0, START_SPREAD), deadline)) for resident in residents]
        tasks += walking
        killer = asyncio.create_task(run.kill_again_and_again())
        tasks.append(killer)
        tasks.append(asyncio.create_task(run.show_progress(began)))
        walked = asyncio.gather(*walking)
        tasks.append(walked)
        watched: set[asyncio.Future[object]] = {walked, killer}
        while not walked.done() and loop.time() < deadline + 1.0:
            await asyncio.wait(watched, timeout=deadline + 1.0 - loop.time(), return_when=asyncio.FIRST_COMPLETED)
            if killer in watched and killer.done():
                killer.result()  # the killer ends this early only by an error (or when there are no kills): raise it
                watched.discard(killer)
        if walked.done():
            walked.result()  # a resident's error
        run.finished.set()
        # The killer returns once enough kills were done (at once, if they were).
        await asyncio.wait([killer], timeout=max(0.0, deadline - loop.time()) + 60.0)
        if not killer.done():
            killer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await killer
        if not bot.running:
            await bot.start()
        staff_stop.set()
        await tasks[0]
        await staff.move_new()  # appeals stored at the very end are moved too

        settle_deadline = loop.time() + SETTLE_LIMIT
        pending = -1
        while loop.time() < settle_deadline:
            with contextlib.suppress(SQLAlchemyError, OSError):
                pending = await staff.pending_outbox()
            if pending == 0:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # the last sends get their answers
        exit_code = await bot.stop()

        figures, failed = await report(run, exit_code, pending, time.monotonic() - began)
        for label, value in figures:
            print(f"{label}: {value}")
        keep = bool(failed)
        if failed:
            print(f"FAILED: {', '.join(failed)}; the bot's log: {bot.log_path}")
        return 1 if failed else 0
    except BaseException:
        if bot is not None:
            print(f"the bench was stopped or failed; the bot's log: {bot.log_path}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleaning up short
        if bot is not None:
            bot.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for engine in engines:
            await engine.dispose()
        await fake.close()
        if drop_database is not None:
            await drop_database()
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


async def report(
    run: Run, exit_code: int | None, pending: int, seconds: float
) -> tuple[list[tuple[str, str]], list[str]]:
    fake, bot, staff = run.fake, run.bot, run.staff
    async with staff.reader.connect() as connection:
        stored = int((await connection.execute(select(func.count()).select_from(Appeal))).scalar_one())
    by_user = await staff.appeals_by_user()
    never_told = more_than_one = confirmed = 0
    for resident in run.residents:
        numbers, told = by_user.get(str(resident.user.id), []), resident.told()
        confirmed += bool(told)
        never_told += any(number not in told for number in numbers)
        more_than_one += len(numbers) > 1
    owner = {number: int(user_id) for user_id, numbers in by_user.items() for number in numbers}
    copies: Counter[str] = Counter()
    for number in staff.moved:
        chat = fake.chats.get(owner.get(number, 0), [])
        copies[number] = sum(bool((notice := NOTICE.match(shown.text)) and notice[1] == number) for shown in chat)
    delivered = sum(count > 0 for count in copies.values())
    lost = len(staff.moved) - delivered
    notices_duplicated = sum(max(0, count - 1) for count in copies.values())
    replies_duplicated = sum(
        earlier.text == later.text for chat in fake.chats.values() for earlier, later in itertools.pairwise(chat)
    )
    stalls = bot.stalls()
    longest, cut_short = max(stalls, default=(0.0, False))
    figures = [
        ("appeals stored", f"{stored}"),
        ("appeals confirmed", f"{confirmed} of {len(run.residents)} residents saw their number"),
        ("residents with a stored appeal never told its number (must be 0)", f"{never_told}"),
        ("residents with more than one stored appeal (must be 0)", f"{more_than_one}"),
        (
            "residents who learnt of their appeal only from a notice or 'Мои обращения'",
            f"{sum(r.learnt_otherwise and not r.told() for r in run.residents)}",
        ),
        ("notifications expected", f"{len(staff.moved)}"),
        ("notifications delivered", f"{delivered}"),
        ("notifications lost (must be 0)", f"{lost}"),
        ("notifications duplicated", f"{notices_duplicated}"),
        ("replies duplicated", f"{replies_duplicated}"),
        (
            "resident steps / repeated after 15 s of silence",
            f"{sum(r.steps for r in run.residents)} / {sum(r.repeats for r in run.residents)}",
        ),
        (
            "kills done",
            f"{bot.kills} ({sum(life.owed_at_kill for life in bot.lives)} with something owed, "
            f"{sum(life.during_notice for life in bot.lives)} while a notice was being sent; "
            f"{fake.dropped_holds} sends cut off)",
        ),
        ("longest stall after a restart", f"{'≥ ' if cut_short else ''}{longest:.1f} s (over {len(stalls)} restarts)"),
        ("bot exits nobody asked for", f"{bot.unexpected_exits}"),
        ("outbox still pending at the end", f"{pending if pending >= 0 else 'unknown'}"),
        ("exit code on SIGTERM (must be 0)", f"{exit_code if exit_code is not None else 'none: it had to be killed'}"),
        ("429s answered by the fake", f"{fake.throttled}"),
        ("total run time", f"{seconds:.0f} s"),
    ]
    if staff.failures:
        figures.append(
            ("staff moves retried after a database error", ", ".join(f"{k}: {v}" for k, v in staff.failures.items()))
        )
    failed = [
        label
        for label, bad in (
            ("residents never told their number", never_told),
            ("residents with more than one appeal", more_than_one),
            ("notifications lost", lost),
            ("exit code on SIGTERM", exit_code != 0),
        )
        if bad
    ]
    return figures, failed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--kills", type=int, default=12, help="the fewest SIGKILLs of the bot")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the residents have at most")
    parser.add_argument("--database", default="", help="the bot's database URL (default: a new SQLite file)")
    args = parser.parse_args()
    if args.residents < 1 or args.kills < 0 or args.timeout <= 0:
        parser.error("--residents must be at least 1, --kills at least 0 and --timeout positive")
    if args.database and not args.database.startswith("postgresql+asyncpg://"):
        parser.error("--database takes a postgresql+asyncpg:// URL (SQLite is a new file in the run's folder)")
    try:
        sys.exit(asyncio.run(bench(args.residents, args.kills, args.seed, args.timeout, args.database)))
    except KeyboardInterrupt:
        sys.exit(130)
