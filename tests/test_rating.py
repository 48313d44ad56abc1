"""After an answer: the resident rates it; reminders, auto-close and deadline alerts run on a fake clock;
the report adds it all up."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from bot import export
from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config, load_config
from bot.core.types import Incoming, Platform
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealDraft, answer_appeal, move_appeal, open_appeal
from storage.db import session_factory
from storage.models import Appeal, OutboxMessage, Rating
from storage.repositories import AppealTimeline
from storage.uow import UnitOfWork
from tests.conftest import appeals_opened_at, run_bot_beside, stored_resident, write_config

MONDAY = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
STAFF_CHAT = '[staff]\nplatform = "console"\nchat_id = "staff-room"\nwarn_before_hours = 2\n'


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return load_config(write_config(tmp_path, database_url, extra=STAFF_CHAT), environ={})


@pytest.fixture
async def app(config: Config, clock: Clock) -> AsyncIterator[Application]:
    application = await Application.start(config, clock=clock)
    yield application
    await application.close()


@pytest.fixture
def chat(app: Application) -> ConsoleChat:
    """Anna at the terminal; her notifications are printed into her chat as they are delivered."""
    chat = ConsoleChat(app.dispatcher.feed, user_id="anna", display_name="Анна")
    app.notifier.register(chat)
    return chat


class Terminal:
    """What Anna's terminal shows: notifications arrive through ConsoleChat.send."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self.lines)


async def staff_answers(app: Application, clock: Clock, text: str = "Лифт починили.") -> str:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        resident_id = await stored_resident(uow, "console", "anna")
        appeal = await open_appeal(
            uow, app.services.appeals, resident_id, "console", AppealDraft("ЖКХ", "Не работает лифт, дом 14"), clock()
        )
        await uow.commit()
    clock.now += timedelta(hours=3)
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await answer_appeal(uow, app.services.notices, appeal.number, text, actor="staff:olga", now=clock())
        await uow.commit()
    return appeal.number


async def delivered_to_anna(app: Application, chat: ConsoleChat) -> str:
    terminal = Terminal()
    chat._sink = terminal  # type: ignore[assignment]  # capture the terminal instead of stdout
    while await app.notifier.deliver_due():
        pass
    return terminal.text()


async def stage_of(app: Application, number: str) -> str:
    async with session_factory(app.engine)() as session:
        return (await session.execute(select(Appeal.stage).where(Appeal.number == number))).scalar_one()


async def ratings_of(app: Application) -> list[tuple[int, str | None]]:
    async with session_factory(app.engine)() as session:
        return [(r.score, r.comment) for r in (await session.execute(select(Rating).order_by(Rating.id))).scalars()]


async def staff_room(app: Application) -> list[str]:
    async with session_factory(app.engine)() as session:
        query = select(OutboxMessage.text).where(OutboxMessage.chat_id == "staff-room").order_by(OutboxMessage.id)
        return list((await session.execute(query)).scalars())


async def test_the_answer_arrives_with_rating_buttons_and_5_closes(
    app: Application, chat: ConsoleChat, clock: Clock
) -> None:
    number = await staff_answers(app, clock)
    shown = await delivered_to_anna(app, chat)
    assert f"🔔 Ответ на обращение {number}:\n\nЛифт починили.\n\nОцените, пожалуйста" in shown
    assert "  [1] 1\n  [2] 2\n  [3] 3\n  [4] 4\n  [5] 5" in shown
    assert (await chat.say("5")).startswith(f"Спасибо за оценку! Обращение {number} закрыто.")
    assert await stage_of(app, number) == "closed"
    assert await ratings_of(app) == [(5, None)]
    [again] = await app.dispatcher.feed(  # the old button, pressed a second time
        Incoming(platform=Platform.CONSOLE, user_id="anna", chat_id="anna", payload=f"rate:{number}:1")
    )
    assert again.text == "Оценить можно только ответ на своё обращение, и только один раз."
    assert await ratings_of(app) == [(5, None)]


async def test_a_poor_rating_asks_why_and_reopens_with_staff_alerted(
    app: Application, chat: ConsoleChat, clock: Clock
) -> None:
    number = await staff_answers(app, clock, "Обратитесь в управляющую компанию.")
    await delivered_to_anna(app, chat)
    assert (await chat.say("2")).startswith("Жаль, что ответ не помог. Напишите, пожалуйста, что было не так")
    after_comment = await chat.say("Лифт так и не работает, УК не отвечает")
    assert after_comment.startswith("Спасибо, ваш комментарий передан специалистам.")
    assert (await chat.say("Вернуть в работу")).startswith(f"Обращение {number} снова в работе.")
    assert await stage_of(app, number) == "in_progress"
    assert await ratings_of(app) == [(2, "Лифт так и не работает, УК не отвечает")]
    assert await staff_room(app) == [
        f"Обращение {number} (Отдел ЖКХ) возвращено в работу: житель оценил ответ на 2. "
        "Лифт так и не работает, УК не отвечает"
    ]
    # A new answer can be rated again.
    clock.now += timedelta(days=1)
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await answer_appeal(uow, app.services.notices, number, "Лифт запущен 25.11.", actor="staff", now=clock())
        await uow.commit()
    assert "Лифт запущен 25.11." in await delivered_to_anna(app, chat)
    await chat.say("4")
    assert await ratings_of(app) == [(2, "Лифт так и не работает, УК не отвечает"), (4, None)]
    assert await stage_of(app, number) == "closed"


async def test_cancel_typed_for_the_comment_is_not_a_complaint(
    app: Application, chat: ConsoleChat, clock: Clock
) -> None:
    await staff_answers(app, clock)
    await delivered_to_anna(app, chat)
    await chat.say("2")
    assert (await chat.say("Отмена")).startswith("Хорошо, отменили.")
    assert await ratings_of(app) == [(2, None)]


async def test_nobody_rates_another_residents_answer(app: Application, chat: ConsoleChat, clock: Clock) -> None:
    number = await staff_answers(app, clock)
    [reply] = await app.dispatcher.feed(
        Incoming(platform=Platform.CONSOLE, user_id="boris", chat_id="boris", payload=f"rate:{number}:1")
    )
    assert reply.text == "Оценить можно только ответ на своё обращение, и только один раз."
    [reply] = await app.dispatcher.feed(
        Incoming(platform=Platform.CONSOLE, user_id="boris", chat_id="boris", payload=f"rate_reopen:{number}")
    )
    assert reply.text == "Оценить можно только ответ на своё обращение, и только один раз."
    assert await ratings_of(app) == []
    assert await stage_of(app, number) == "answered"


async def test_one_reminder_then_closed_unrated(app: Application, chat: ConsoleChat, clock: Clock) -> None:
    number = await staff_answers(app, clock)
    await delivered_to_anna(app, chat)
    jobs = app.jobs
    clock.now += timedelta(hours=47)
    assert await jobs.remind_to_rate(clock()) == 0
    clock.now += timedelta(hours=2)
    assert await jobs.remind_to_rate(clock()) == 1
    assert await jobs.remind_to_rate(clock()) == 0  # once
    reminder = await delivered_to_anna(app, chat)
    assert f"Напоминаем: вы ещё не оценили ответ на обращение {number}." in reminder
    assert "  [5] 5" in reminder
    assert await jobs.close_answered(clock()) == 0
    clock.now += timedelta(hours=120)
    assert await jobs.close_answered(clock()) == 1
    assert await stage_of(app, number) == "closed"
    assert f"Обращение {number}: новый этап — «Закрыто»." in await delivered_to_anna(app, chat)
    assert await jobs.close_answered(clock()) == 0


async def test_deadline_alerts_before_and_after_once_even_from_two_processes(
    app: Application, config: Config, clock: Clock
) -> None:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        resident_id = await stored_resident(uow, "console", "anna")
        appeal = await open_appeal(
            uow, app.services.appeals, resident_id, "console", AppealDraft("Дороги", "Яма у дома 3"), clock()
        )
        await uow.commit()
    number = appeal.number  # opened Monday 10:00: first answer due Monday 18:00
    other_process = await Application.start(config, clock=clock)
    try:
        clock.now = MONDAY + timedelta(hours=5)  # 15:00: three working hours left
        assert await app.jobs.alert_deadlines(clock()) == 0
        clock.now = MONDAY + timedelta(hours=6, minutes=30)  # 16:30: within two working hours
        results = await asyncio.gather(app.jobs.alert_deadlines(clock()), other_process.jobs.alert_deadlines(clock()))
        assert sorted(results) == [0, 1]
        clock.now = MONDAY + timedelta(days=1)  # Tuesday 10:00: overdue
        results = await asyncio.gather(app.jobs.alert_deadlines(clock()), other_process.jobs.alert_deadlines(clock()))
        assert sorted(results) == [0, 1]
        assert await app.jobs.alert_deadlines(clock()) == 0
    finally:
        await other_process.close()
    assert await staff_room(app) == [
        f"Скоро срок первого ответа: обращение {number} (Дорожное хозяйство), срок — 23.11.2026 18:00.",
        f"Просрочен первый ответ: обращение {number} (Дорожное хозяйство), срок был 23.11.2026 18:00.",
    ]
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await move_appeal(uow, app.services.notices, number, AppealStage.ACCEPTED, actor="staff", now=clock())
        await uow.commit()
    clock.now += timedelta(days=40)
    await app.jobs.alert_deadlines(clock())
    assert (await staff_room(app))[-1] == (
        f"Просрочено рассмотрение: обращение {number} (Дорожное хозяйство), срок был 23.12.2026 18:00."
    )


async def test_every_overdue_appeal_gets_its_alert_however_many_are_late(app: Application, clock: Clock) -> None:
    await appeals_opened_at(app, "ЖКХ", [MONDAY - timedelta(minutes=n) for n in range(201)])
    clock.now = MONDAY + timedelta(days=1)  # Tuesday 10:00: every first answer is overdue
    assert await app.jobs.alert_deadlines(clock()) == 201  # not only the oldest 200
    assert await app.jobs.alert_deadlines(clock()) == 0  # once each
    assert len(await staff_room(app)) == 201


@pytest.mark.slow
async def test_the_running_bot_delivers_a_change_made_by_the_staff_command(tmp_path: Path) -> None:
    """Background tasks as `make run` starts them: the sweep finds what another process committed."""
    config = load_config(
        write_config(
            tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}", extra="[notifications]\nsweep_interval = 0.1\n"
        ),
        environ={},
    )
    app = await Application.start(config)
    chat = ConsoleChat(app.dispatcher.feed, user_id="anna", display_name="Анна")
    terminal = Terminal()
    chat._sink = terminal  # type: ignore[assignment]
    app.notifier.register(chat)
    background = [asyncio.create_task(start()) for start in app.background_tasks().values()]
    try:
        for line in ("/start", "Подать обращение", "Согласен(на)", "ЖКХ", "Не работает лифт, дом 14", "Без фото"):
            await chat.say(line)
        await chat.say("Пропустить")
        await chat.say("Пропустить")
        number = (await chat.say("Отправить")).split("номер — ", 1)[1].split(".", 1)[0]
        result = await run_bot_beside("--config", str(tmp_path / "bot.toml"), "appeals", "move", number, "accepted")
        assert result.returncode == 0, result.stderr
        for _ in range(100):
            if "новый этап" in terminal.text():
                break
            await asyncio.sleep(0.05)
        assert f"🔔 Обращение {number}: новый этап — «Зарегистрировано»." in terminal.text()
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await app.close()


async def test_report_per_category_and_department(app: Application, chat: ConsoleChat, clock: Clock) -> None:
    number = await staff_answers(app, clock)  # answered 3 working hours after it was opened
    await delivered_to_anna(app, chat)
    await chat.say("2")
    async with UnitOfWork(session_factory(app.engine)) as uow:
        resident_id = await stored_resident(uow, "console", "anna")
        await open_appeal(
            uow, app.services.appeals, resident_id, "console", AppealDraft("Дороги", "Яма у дома 3"), clock()
        )
        await uow.commit()
    config_path = app.config.base_dir / "bot.toml"
    result = await run_bot_beside("--config", str(config_path), "report", "--from", "2026-11-01", "--to", "2026-11-30")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Appeals opened 01.11.2026-30.11.2026; first response in working hours."
    rows = {
        line.split()[0]: line.split()[1:] for line in lines if line and line.split()[0] in {"ЖКХ", "Дороги", "всего"}
    }
    assert rows["ЖКХ"] == ["1", "3.0", "3.0", "100%", "100%", "2.0", "100%"]
    assert rows["Дороги"] == ["1", "-", "-", "0%", "0%", "-", "-"]
    assert number.startswith("А-2026-")


async def test_the_appeals_of_a_period_export_to_csv_and_xlsx(
    app: Application, chat: ConsoleChat, clock: Clock
) -> None:
    number = await staff_answers(app, clock)
    await delivered_to_anna(app, chat)
    await chat.say("5")
    config_path = app.config.base_dir / "bot.toml"
    csv_file, xlsx_file = app.config.base_dir / "appeals.csv", app.config.base_dir / "appeals.xlsx"
    html_file = app.config.base_dir / "report.html"
    result = await run_bot_beside(
        "--config", str(config_path), "report", "--from", "2026-11-01", "--to", "2026-11-30",
        "--csv", str(csv_file), "--xlsx", str(xlsx_file), "--html", str(html_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = html_file.read_text(encoding="utf-8")
    assert page.count("<svg") == 5  # the dashboard's charts, in one page to send by mail
    assert "Обзор за 01.11.2026–30.11.2026" in page
    assert "<script" not in page
    assert "src=" not in page  # nothing to fetch: self-contained
    with csv_file.open(encoding="utf-8-sig", newline="") as file:
        heading, row = list(csv.reader(file, delimiter=";"))
    values = dict(zip(heading, row, strict=True))
    assert values["Номер"] == number
    assert (values["Тема"], values["Отдел"], values["Этап"]) == ("ЖКХ", "Отдел ЖКХ", "Закрыто")
    assert values["Первый ответ в срок"] == "да"
    assert values["Рассмотрено в срок"] == "да"
    assert values["Оценка"] == "5"
    assert values["Кто работал"] == "staff:olga"
    assert values["Подано"] < values["Дан ответ"] <= values["Завершено"]
    assert "Не работает лифт" not in csv_file.read_text(encoding="utf-8-sig")  # statistics, not the resident's words

    sheet = openpyxl.load_workbook(xlsx_file).active
    assert sheet is not None
    table = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert table[0] == heading
    assert table[1][0] == number
    assert isinstance(table[1][heading.index("Подано")], datetime)  # a date a spreadsheet can sort and count
    assert table[1][heading.index("Оценка")] == 5


def test_an_exported_text_stays_text_never_a_formula_or_a_link() -> None:
    record: dict[str, export.Cell] = {"Отдел": '=HYPERLINK("http://evil")', "Фото": "http://127.0.0.1/x.jpg"}
    table = export.Table(list(record), [record])
    sheet = openpyxl.load_workbook(io.BytesIO(export.xlsx_bytes(table, "Обращения"))).active
    assert sheet is not None
    department, photo = sheet["A2"], sheet["B2"]
    assert (department.data_type, department.value) == ("s", '=HYPERLINK("http://evil")')
    assert photo.hyperlink is None


def test_an_export_of_a_period_without_appeals_still_has_its_heading() -> None:
    sheet = openpyxl.load_workbook(
        io.BytesIO(export.xlsx_bytes(export.Table(["Номер", "Тема"], []), "Обращения"))
    ).active
    assert sheet is not None
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [["Номер", "Тема"]]
    assert sheet.freeze_panes == "A2"


def test_the_export_has_a_column_for_each_field_of_a_timeline_in_its_order() -> None:
    assert tuple(export.COLUMNS) == AppealTimeline._fields  # a record zips the headings with a timeline
