"""Opening an appeal in the chat, as a resident does it, and what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config
from storage.db import session_factory
from storage.models import Appeal, DialogState, Resident

FRIDAY_EVENING = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 17:00 in Moscow


@pytest.fixture
async def app(config: Config) -> AsyncIterator[Application]:
    application = await Application.start(config, clock=lambda: FRIDAY_EVENING)
    yield application
    await application.close()


async def stored(app: Application) -> tuple[list[Appeal], list[Resident], list[DialogState]]:
    async with session_factory(app.engine)() as session:
        appeals = list((await session.execute(select(Appeal).order_by(Appeal.id))).scalars())
        for appeal in appeals:
            await session.refresh(appeal, ["attachments", "events"])
        residents = list((await session.execute(select(Resident))).scalars())
        states = list((await session.execute(select(DialogState))).scalars())
    return appeals, residents, states


async def fill_in(chat: ConsoleChat) -> str:
    """Consent, topic "Дороги", description, one photo, a location, a phone; returns the summary."""
    await chat.say("/start")
    assert (await chat.say("Подать обращение")).startswith("Чтобы принять обращение, нам нужно ваше согласие")
    assert (await chat.say("Согласен(на)")).startswith("Выберите тему обращения:")
    assert (await chat.say("Дороги")).startswith("Опишите проблему")
    assert (await chat.say("Яма")).startswith("Слишком коротко")
    assert (await chat.say("Огромная яма на дороге у дома 5 по улице Ленина")).startswith("Если есть фото")
    assert (await chat.say("/photo AgADphoto1")).startswith("Фото добавлено (1 из 5)")
    assert (await chat.say("Готово")).startswith("Где это?")
    assert (await chat.say("/location 55.751 37.618")).startswith("Оставьте телефон")
    assert (await chat.say("12345")).startswith("Не похоже на номер телефона")
    return await chat.say("8 (912) 345-67-89")


async def test_the_whole_wizard_gives_a_number_and_stores_the_appeal(app: Application, chat: ConsoleChat) -> None:
    summary = await fill_in(chat)
    assert summary.startswith(
        "Проверьте обращение:\n\nТема: Дороги\nОписание: Огромная яма на дороге у дома 5 по улице Ленина\n"
        "Фото: 1\nМесто: геолокация 55.75100, 37.61800\nТелефон: +79123456789\n\nВсё верно?"
    )
    done = await chat.say("Отправить")
    assert done.startswith(
        "Обращение принято, его номер — А-2026-000001.\n"
        "Первый ответ — до 30.11.2026 16:00, срок рассмотрения — до 28.12.2026."
    )
    [appeal], [resident], states = await stored(app)
    assert (appeal.number, appeal.category, appeal.department, appeal.stage) == (
        "А-2026-000001",
        "Дороги",
        "Дорожное хозяйство",
        "new",
    )
    assert (appeal.latitude, appeal.longitude, appeal.phone, appeal.address) == (55.751, 37.618, "+79123456789", None)
    assert [a.platform_file_id for a in appeal.attachments] == ["AgADphoto1"]
    assert [(e.actor, e.from_stage, e.to_stage) for e in appeal.events] == [("resident", None, "new")]
    # Friday 17:00 + 8 working hours = Monday 16:00; 30 days land on Saturday 26.12 -> Monday 28.12 18:00.
    assert appeal.first_response_due_at == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    assert appeal.resolution_due_at == datetime(2026, 12, 28, 15, 0, tzinfo=UTC)
    assert (resident.display_name, resident.consent_given_at) == ("Анна", FRIDAY_EVENING)
    assert all(state.state is None for state in states)


async def test_refusing_consent_stores_nothing_at_all(app: Application, chat: ConsoleChat) -> None:
    await chat.say("/start")
    await chat.say("Подать обращение")
    refused = await chat.say("Не согласен(на)")
    assert refused.startswith("Понимаем. Без согласия мы не можем принять обращение через бота")
    assert await stored(app) == ([], [], [])


async def test_consent_is_asked_once_and_numbers_follow_each_other(app: Application, chat: ConsoleChat) -> None:
    await fill_in(chat)
    await chat.say("Отправить")
    assert (await chat.say("Подать обращение")).startswith("Выберите тему обращения:")
    await chat.say("ЖКХ")
    await chat.say("Не работает лифт в подъезде уже неделю")
    await chat.say("Без фото")
    await chat.say("ул. Мира, 12, подъезд 3")
    assert "Место: ул. Мира, 12, подъезд 3\nТелефон: нет" in await chat.say("Пропустить")
    assert (await chat.say("Отправить")).startswith("Обращение принято, его номер — А-2026-000002.")
    appeals, _, _ = await stored(app)
    assert [(a.number, a.category, a.address) for a in appeals] == [
        ("А-2026-000001", "Дороги", None),
        ("А-2026-000002", "ЖКХ", "ул. Мира, 12, подъезд 3"),
    ]


@pytest.mark.parametrize("step", range(7))
@pytest.mark.parametrize("how", ["button", "word", "command"])
async def test_cancel_works_at_every_step(app: Application, chat: ConsoleChat, step: int, how: str) -> None:
    answers = ["Согласен(на)", "Дороги", "Огромная яма на дороге у дома 5", "Без фото", "Пропустить", "Пропустить"]
    await chat.say("/start")
    await chat.say("Подать обращение")
    for answer in answers[:step]:
        await chat.say(answer)
    said = {"button": "Отмена", "word": "отмена", "command": "/cancel"}[how]
    if how == "button" and step == 3:  # the photo step offers "Без фото" and "Отмена"
        said = "Отмена"
    shown = await chat.say(said)
    assert shown.startswith(("Обращение не отправлено, введённые данные удалены.", "Хорошо, отменили."))
    appeals, _, states = await stored(app)
    assert appeals == []
    stored_states = [(state.state, state.data) for state in states]
    assert stored_states == ([] if step == 0 else [(None, {})])  # before consent nothing is stored; no draft kept


async def test_a_restart_in_the_middle_resumes_where_the_resident_was(config: Config) -> None:
    first = await Application.start(config, clock=lambda: FRIDAY_EVENING)
    chat = ConsoleChat(first.dispatcher.feed, user_id="anna", display_name="Анна")
    await chat.say("/start")
    await chat.say("Подать обращение")
    await chat.say("Согласен(на)")
    await chat.say("Дороги")
    await first.close()

    second = await Application.start(config, clock=lambda: FRIDAY_EVENING)
    try:
        resumed = ConsoleChat(second.dispatcher.feed, user_id="anna", display_name="Анна")
        assert (await resumed.say("Не горят фонари на всей улице Садовой")).startswith("Если есть фото")
        await resumed.say("Без фото")
        await resumed.say("ул. Садовая")
        summary = await resumed.say("Пропустить")
        assert "Тема: Дороги\nОписание: Не горят фонари на всей улице Садовой" in summary
    finally:
        await second.close()


async def test_every_photo_is_stored_as_it_arrives_and_survives_a_restart(config: Config) -> None:
    first = await Application.start(config, clock=lambda: FRIDAY_EVENING)
    chat = ConsoleChat(first.dispatcher.feed, user_id="anna", display_name="Анна")
    for said in ("/start", "Подать обращение", "Согласен(на)", "Дороги", "Огромная яма на дороге у дома 5"):
        await chat.say(said)
    for number in (1, 2, 3):
        assert (await chat.say(f"/photo AgADphoto{number}")).startswith(f"Фото добавлено ({number} из 5)")
    await first.close()

    second = await Application.start(config, clock=lambda: FRIDAY_EVENING)
    try:
        resumed = ConsoleChat(second.dispatcher.feed, user_id="anna", display_name="Анна")
        assert (await resumed.say("/photo AgADphoto4")).startswith("Фото добавлено (4 из 5)")
        for said in ("Готово", "ул. Ленина, 5", "Пропустить", "Отправить"):
            await resumed.say(said)
        [appeal], _, _ = await stored(second)
        assert [a.platform_file_id for a in appeal.attachments] == [f"AgADphoto{n}" for n in (1, 2, 3, 4)]
    finally:
        await second.close()


async def test_editing_from_the_summary_changes_one_field_and_returns(chat: ConsoleChat) -> None:
    await fill_in(chat)
    assert (await chat.say("Изменить описание")).startswith("Опишите проблему")
    summary = await chat.say("Яма на дороге у дома 7, а не 5, простите")
    assert "Описание: Яма на дороге у дома 7, а не 5, простите\nФото: 1\n" in summary
    assert (await chat.say("Изменить тему")).startswith("Выберите тему обращения:")
    assert "Тема: Благоустройство\n" in await chat.say("Благоустройство")
    await chat.say("Изменить телефон")
    assert "Телефон: нет" in await chat.say("Пропустить")


async def test_a_too_long_description_is_refused_politely(chat: ConsoleChat) -> None:
    await chat.say("/start")
    await chat.say("Подать обращение")
    await chat.say("Согласен(на)")
    await chat.say("ЖКХ")
    refused = await chat.say("очень " * 600)
    assert refused.startswith("Текст длиной 3599 символов не помещается: предел — 3000.")
    assert (await chat.say("Течёт крыша над квартирой 40")).startswith("Если есть фото")


async def test_wrong_input_and_old_buttons_repeat_the_current_step(app: Application, chat: ConsoleChat) -> None:
    await chat.say("/start")
    await chat.say("Подать обращение")
    await chat.say("Согласен(на)")
    repeated = await chat.say("просто текст вместо темы")
    assert repeated.startswith("Сейчас нужно другое")
    assert "Выберите тему обращения:" in repeated
    from bot.core.types import Incoming, Platform

    [reply, prompt] = await app.dispatcher.feed(
        Incoming(platform=Platform.CONSOLE, user_id="anna", chat_id="anna", payload="appeal:submit")
    )
    assert reply.text.startswith("Сейчас нужно другое")
    assert prompt.text == "Выберите тему обращения:"


async def test_many_residents_open_appeals_at_once_with_distinct_numbers(
    app: Application, chat_as: Callable[..., ConsoleChat]
) -> None:
    import asyncio

    chats = [chat_as(f"r{n}", f"Житель {n}") for n in range(8)]

    async def open_one(chat: ConsoleChat) -> None:
        for line in ("/start", "Подать обращение", "Согласен(на)", "ЖКХ", "Нет отопления в квартире", "Без фото"):
            await chat.say(line)
        await chat.say("Пропустить")
        await chat.say("Пропустить")
        assert (await chat.say("Отправить")).startswith("Обращение принято")

    await asyncio.gather(*(open_one(chat) for chat in chats))
    async with session_factory(app.engine)() as session:
        numbers = set((await session.execute(select(Appeal.number))).scalars())
        count = (await session.execute(select(func.count(Appeal.id)))).scalar_one()
    assert count == 8
    assert numbers == {f"А-2026-{n:06d}" for n in range(1, 9)}
