"""Odd and hostile input: control characters, empty-looking descriptions, menu words typed at any step, a
half-filled appeal left behind, attachments the bot does not take. A clear answer, and nothing half-done."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config
from bot.core.dispatcher import Admission, FloodGuard
from storage.db import session_factory
from storage.models import Appeal, AppealAttachment, UnmatchedQuestion
from tests.fake_telegram import FakeTelegram, User
from tests.test_telegram import Running, start

ANNA = User(42, "Анна")


async def appeals(app: Application) -> list[tuple[str, str]]:
    async with session_factory(app.engine)() as session:
        rows = (await session.execute(select(Appeal).order_by(Appeal.id))).scalars()
        return [(appeal.category, appeal.description) for appeal in rows]


async def to_description(chat: ConsoleChat) -> None:
    await chat.say("/start")
    await chat.say("Подать обращение")
    await chat.say("да")  # typed, not pressed
    assert (await chat.say("Дороги")).startswith("Опишите проблему")


async def test_control_characters_are_removed_on_every_database(app: Application, chat: ConsoleChat) -> None:
    await to_description(chat)
    await chat.say("Не работает\x00 светофор\x07 на перекрёстке\x1b[31m")
    for answer in ("Без фото", "Пропустить", "Пропустить"):
        await chat.say(answer)
    assert (await chat.say("Отправить")).startswith("Обращение принято")
    assert await appeals(app) == [("Дороги", "Не работает светофор на перекрёстке[31m")]


@pytest.mark.parametrize("empty", ["\u200b" * 15, ".........."])
async def test_a_description_needs_words(app: Application, chat: ConsoleChat, empty: str) -> None:
    await to_description(chat)
    assert (await chat.say(empty)).startswith("В описании не видно слов.")
    assert (await chat.say("Яма на дороге у дома 5 по Садовой")).startswith("Если есть фото")


async def test_a_menu_item_typed_mid_appeal_leaves_a_draft_to_continue(app: Application, chat: ConsoleChat) -> None:
    await to_description(chat)
    await chat.say("Яма на дороге у дома 5 по Садовой")  # now at the photos step
    shown = await chat.say("Помощь")  # typed: the help, not a photo step's input
    assert shown.startswith("Я помогаю жителям")
    assert "У вас есть неотправленное обращение" in shown
    offer = await chat.say("Подать обращение")
    assert offer.startswith("У вас есть неотправленное обращение:\nТема: Дороги\nОписание: Яма на дороге")
    assert (await chat.say("Продолжить")).startswith("Если есть фото")  # where the resident was
    for answer in ("Без фото", "Пропустить", "Пропустить"):
        await chat.say(answer)
    await chat.say("Отправить")
    assert await appeals(app) == [("Дороги", "Яма на дороге у дома 5 по Садовой")]
    assert "неотправленное" not in await chat.say("/menu")  # sent: no draft left


async def test_cancel_words_mean_cancel_at_every_step(app: Application, chat: ConsoleChat) -> None:
    await chat.say("Задать вопрос")
    assert (await chat.say("Отмена")).startswith("Хорошо, отменили.")  # not a question
    await to_description(chat)
    await chat.say("Яма на дороге у дома 5 по Садовой")
    await chat.say("стоп")
    assert "неотправленное" not in await chat.say("/menu")  # asked to cancel: the draft goes too
    await app.services.journal.flush()
    async with session_factory(app.engine)() as session:
        assert (await session.execute(select(UnmatchedQuestion))).scalars().all() == []


async def test_photos_sent_from_the_menu_start_an_appeal(app: Application, chat: ConsoleChat) -> None:
    await chat.say("/start")
    shown = await chat.say("/photo AgADpit Огромная яма на дороге у дома 5 по Садовой")
    assert shown.startswith("Фото получено (1). Оформим обращение — фото войдёт в него.")
    await chat.say("Согласен(на)")
    assert (await chat.say("Дороги")).startswith("Если есть фото")  # the caption is the description
    for answer in ("Готово", "Пропустить", "Пропустить", "Отправить"):
        await chat.say(answer)
    assert await appeals(app) == [("Дороги", "Огромная яма на дороге у дома 5 по Садовой")]
    async with session_factory(app.engine)() as session:
        assert [a.platform_file_id for a in (await session.execute(select(AppealAttachment))).scalars()] == ["AgADpit"]


@pytest.fixture
async def telegram(app: Application, fake: FakeTelegram) -> AsyncIterator[Running]:
    running, stopped = await start(fake, app)
    yield running
    await stopped()


async def test_a_voice_message_gets_what_the_bot_takes_and_the_step_stays(telegram: Running) -> None:
    anna = telegram.resident(ANNA)
    await anna.send("/start")
    await anna.send("Подать обращение")
    await anna.send("да")
    await anna.press("Дороги")
    voice = {"voice": {"file_id": "voice1", "file_unique_id": "uv1", "duration": 3}}
    [answer] = await anna._do(telegram.fake.message_update(ANNA, attachment=voice))
    assert answer.startswith("Я понимаю текст, фото и геолокацию, а голосовые сообщения, видео, файлы")
    [next_step] = await anna.send("Яма на дороге у дома 5 по Садовой")
    assert next_step.startswith("Если есть фото")  # still at the description step


def test_the_flood_guard_warns_once_then_drops_until_the_minute_passes() -> None:
    guard = FloodGuard(per_minute=3)
    anna, boris = ("console", "anna"), ("console", "boris")
    verdicts = [guard.admit(anna, second) for second in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert verdicts == [Admission.OK, Admission.OK, Admission.OK, Admission.WARN, Admission.DROP]
    assert guard.admit(boris, 4.0) is Admission.OK  # per resident
    assert guard.admit(anna, 61.5) is Admission.OK  # two messages left the window


@contextlib.asynccontextmanager
async def app_with(config: Config, section: str, **changes: int) -> AsyncIterator[Application]:
    """The app with some settings of one section of bot.toml changed."""
    settings = config.settings
    changed = settings.model_copy(update={section: getattr(settings, section).model_copy(update=changes)})
    application = await Application.start(dataclasses.replace(config, settings=changed))
    try:
        yield application
    finally:
        await application.close()


async def test_messages_beyond_the_minute_limit_are_asked_to_wait(config: Config) -> None:
    async with app_with(config, "bot", messages_per_minute=3) as app:
        chat = ConsoleChat(app.dispatcher.feed, user_id="anna", display_name="Анна")
        for text in ("/start", "нет горячей воды", "/help"):
            assert not (await chat.say(text)).startswith("Слишком много")
        assert (await chat.say("/menu")).startswith("Слишком много сообщений подряд. Пожалуйста, подождите минуту")
        assert await chat.say("/menu") == ""  # the rest: nothing, until the minute passes
        boris = ConsoleChat(app.dispatcher.feed, user_id="boris", display_name="Борис")
        assert (await boris.say("/start")).startswith("Здравствуйте, Борис!")  # others are not held up


async def test_appeals_beyond_the_daily_limit_are_refused_politely(config: Config) -> None:
    async with app_with(config, "appeals", max_per_day=2) as app:
        chat = ConsoleChat(app.dispatcher.feed, user_id="anna", display_name="Анна")
        for number in range(2):
            await to_description(chat)
            for answer in (f"Яма номер {number} на улице Садовой", "Без фото", "Пропустить", "Пропустить"):
                await chat.say(answer)
            assert (await chat.say("Отправить")).startswith("Обращение принято")
        refused = await chat.say("Подать обращение")
        assert refused.startswith("За сутки вы уже подали 2 обращений — это предел. Следующее можно подать после ")
        assert len(await appeals(app)) == 2


async def test_a_nul_in_a_question_is_stored_without_it_and_later_misses_follow(
    app: Application, chat: ConsoleChat
) -> None:
    """A NUL made PostgreSQL refuse the whole batch of FAQ misses, and every later one, until shutdown."""
    await chat.say("расскажи\x00 анекдот")
    await chat.say("какой курс доллара")
    await app.services.journal.flush()
    async with session_factory(app.engine)() as session:
        texts = (await session.execute(select(UnmatchedQuestion.text).order_by(UnmatchedQuestion.id))).scalars()
        assert list(texts) == ["расскажи анекдот", "какой курс доллара"]
