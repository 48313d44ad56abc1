"""The main menu, as a resident sees it in the console chat, and what the bot stores about them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.adapters.console import ConsoleChat
from bot.app import Application
from storage.db import session_factory
from storage.models import Resident

MENU = "  [1] Задать вопрос\n  [2] Подать обращение\n  [3] Мои обращения\n  [4] Помощь"


async def test_start_greets_by_name_with_the_menu_and_stores_nothing(app: Application, chat: ConsoleChat) -> None:
    shown = await chat.say("/start")
    assert shown.startswith("Здравствуйте, Анна!\nЭто бот «Администрация города Тестовска».")
    assert shown.endswith("Выберите, что нужно:\n" + MENU)
    assert (await chat.say("нет горячей воды")).startswith("❓ Почему нет горячей воды")
    assert (await chat.say("Мои обращения")).startswith("У вас пока нет обращений")
    # Greeted by the name the platform gives; nothing is kept of a resident who only reads and asks (152-FZ).
    assert await stored_residents(app) == []


async def test_a_dialog_step_before_consent_stores_nothing(app: Application, chat: ConsoleChat) -> None:
    await chat.say("Задать вопрос")  # the bot waits for a question: remembered in memory only (152-FZ)
    assert await stored_residents(app) == []
    assert (await chat.say("нет горячей воды")).startswith("❓ Почему нет горячей воды")


async def stored_residents(app: Application) -> list[tuple[str, str, str | None, object]]:
    async with session_factory(app.engine)() as session:
        residents = (await session.execute(select(Resident))).scalars().all()
    return [(r.platform, r.platform_user_id, r.display_name, r.consent_given_at) for r in residents]


async def test_help_by_number_by_label_and_by_command(chat: ConsoleChat) -> None:
    await chat.say("/start")
    by_number = await chat.say("4")
    assert by_number.startswith("Я помогаю жителям связаться с «Администрация города Тестовска».")
    assert "/cancel — отменить текущее действие" in by_number
    assert await chat.say("помощь") == by_number
    assert await chat.say("/help") == by_number


async def test_anything_not_understood_gets_a_polite_answer_and_the_menu(app: Application) -> None:
    from bot.core.types import Incoming, Platform

    [reply] = await app.dispatcher.feed(Incoming(platform=Platform.VK, user_id="9", chat_id="9"))
    assert reply.text == "Извините, я не понял сообщение. Выберите действие в меню или напишите /help."
    assert [button.text for row in reply.buttons for button in row] == [
        "Задать вопрос",
        "Подать обращение",
        "Мои обращения",
        "Помощь",
    ]
    [reply] = await app.dispatcher.feed(Incoming(platform=Platform.VK, user_id="9", chat_id="9", text="/frobnicate"))
    assert reply.text.startswith("Такой команды нет.")


async def test_stale_button_and_photo_out_of_context(app: Application) -> None:
    from bot.core.types import Incoming, Location, Photo, Platform

    stale = await app.dispatcher.feed(
        Incoming(platform=Platform.TELEGRAM, user_id="5", chat_id="5", payload="appeal:cat:roads:legacy")
    )
    assert stale[0].text == "Эта кнопка больше не действует. Вот главное меню:"
    assert len(stale[0].buttons) == 2
    photo = await app.dispatcher.feed(
        Incoming(platform=Platform.TELEGRAM, user_id="5", chat_id="5", photos=(Photo("AgAD"),))
    )
    location = await app.dispatcher.feed(
        Incoming(platform=Platform.VK, user_id="5", chat_id="5", location=Location(55.75, 37.61))
    )
    assert location[0].text.startswith("Фото и место можно приложить при подаче обращения.")
    # A photo sent from the menu is the start of an appeal, not lost.
    assert photo[0].text == "Фото получено (1). Оформим обращение — фото войдёт в него."
    assert photo[1].text.startswith("Чтобы принять обращение, нам нужно ваше согласие")


async def test_cancel_outside_a_dialog(chat: ConsoleChat) -> None:
    assert (await chat.say("/cancel")).startswith("Отменять нечего: вы в главном меню.")


async def test_residents_are_kept_apart(chat_as: Callable[..., ConsoleChat]) -> None:
    anna, boris = chat_as("anna", "Анна"), chat_as("boris", "Борис")
    assert (await anna.say("/start")).startswith("Здравствуйте, Анна!")
    assert (await boris.say("/start")).startswith("Здравствуйте, Борис!")
