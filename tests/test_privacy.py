"""Residents' data rights (152-FZ): nothing stored without consent, /mydata shows everything stored, /forget
erases it and keeps the appeals anonymised, the retention period erases what is past it."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import move_appeal
from storage.db import session_factory
from storage.models import Appeal, AppealAttachment, AppealEvent, DialogState, Resident
from storage.uow import UnitOfWork
from tests.test_appeal_wizard import fill_in


async def rows(app: Application, model: type) -> list:  # type: ignore[type-arg]
    async with session_factory(app.engine)() as session:
        return list((await session.execute(select(model))).scalars())


async def test_refusing_consent_or_cancelling_stores_nothing_at_all(app: Application, chat: ConsoleChat) -> None:
    await chat.say("/start")
    await chat.say("Задать вопрос")
    await chat.say("нет горячей воды")  # questions and answers: nobody is stored
    await chat.say("Главное меню")
    await chat.say("Подать обращение")
    assert (await chat.say("Не согласен(на)")).startswith("Понимаем. Без согласия")
    await chat.say("Подать обращение")
    await chat.say("/cancel")
    assert await rows(app, Resident) == []
    assert await rows(app, DialogState) == []
    assert (await chat.say("/mydata")).startswith("О вас ничего не хранится")


async def test_mydata_shows_everything_stored_and_forget_erases_it_after_a_confirmation(
    app: Application, chat: ConsoleChat
) -> None:
    await fill_in(chat)
    await chat.say("Отправить")
    shown = await chat.say("/mydata")
    assert shown.startswith("Вот всё, что бот хранит о вас (152-ФЗ).\n\nМессенджер: console, ваш номер в нём: anna")
    for stored in (
        "Имя в мессенджере: Анна",
        "Обращение А-2026-000001",
        "Текст: Огромная яма на дороге у дома 5 по улице Ленина",
        "Геолокация: 55.75100, 37.61800",
        "Телефон: +79123456789",
        "Фото: 1",
    ):
        assert stored in shown

    assert (await chat.say("/forget")).startswith("Удалить ваши персональные данные?")
    assert (await chat.say("Нет, оставить")).startswith("Хорошо, ничего не удалено.")
    assert len(await rows(app, Resident)) == 1
    await chat.say("/forget")
    done = await chat.say("Да, удалить мои данные")
    assert done.startswith("Готово: ваши персональные данные удалены, обращений обезличено: 1.")

    [resident] = await rows(app, Resident)
    assert (resident.platform_user_id, resident.display_name, resident.consent_given_at) == ("erased:1", None, None)
    [appeal] = await rows(app, Appeal)
    assert (appeal.number, appeal.category, appeal.stage) == ("А-2026-000001", "Дороги", "new")  # statistics stay
    assert (appeal.description, appeal.address, appeal.latitude, appeal.phone) == ("[удалено]", None, None, None)
    assert await rows(app, AppealAttachment) == []
    assert await rows(app, DialogState) == []
    assert (await chat.say("/mydata")).startswith("О вас ничего не хранится")  # a stranger now
    assert (await chat.say("Мои обращения")).startswith("У вас пока нет обращений")


async def test_the_retention_period_erases_finished_appeals_and_forgotten_residents(
    app: Application, chat: ConsoleChat
) -> None:
    await fill_in(chat)
    await chat.say("Отправить")
    await fill_in(chat_two := ConsoleChat(app.dispatcher.feed, user_id="boris", display_name="Борис"))
    await chat_two.say("Отправить")
    now = app.services.clock()
    async with UnitOfWork(app.sessions) as uow:  # Anna's appeal is finished; Boris's stays open
        await move_appeal(
            uow, app.services.notices, "А-2026-000001", AppealStage.REJECTED, actor="cli", now=now, comment="Дубль"
        )
        await uow.commit()
    assert await app.jobs.forget_old(now + timedelta(days=1824)) == 0  # within 5 years: kept
    assert await app.jobs.forget_old(now + timedelta(days=1826)) == 2  # her appeal, then her
    appeals = {appeal.number: appeal for appeal in await rows(app, Appeal)}
    assert appeals["А-2026-000001"].description == "[удалено]"
    assert appeals["А-2026-000002"].description.startswith("Огромная яма")  # open: kept
    events = await rows(app, AppealEvent)
    assert "Дубль" not in [event.comment for event in events]
    residents = {resident.id: resident for resident in await rows(app, Resident)}
    assert residents[1].erased_at is not None
    assert residents[2].erased_at is None  # Boris's appeal is open
    assert await app.jobs.forget_old(now + timedelta(days=1827)) == 0  # nothing twice


async def test_a_failed_database_write_is_logged_without_its_values(
    app: Application, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLAlchemy puts a statement's parameters, and the database its detail, into the error's text: the log
    gets the statement's kind, table and error class instead."""
    secret = "+79123450000"
    async with UnitOfWork(app.sessions) as uow:
        uow.appeals.add(
            Appeal(
                number="X-1",
                resident_id=999,
                category="ЖКХ",
                department="-",
                stage="new",
                description=secret,
                phone=secret,
            )
        )  # no such resident: a foreign key error
        try:
            await uow.commit()
        except Exception:
            logging.getLogger("test").exception("could not store an appeal")
    [record] = [record for record in caplog.records if record.name == "test"]
    assert record.getMessage().startswith("could not store an appeal [database error: INSERT on appeals: ")
    assert record.exc_info is None
    assert secret not in caplog.text
