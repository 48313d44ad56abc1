"""Routing by command, payload, dialog state and free text; dialog state that survives a restart."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import event

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config, load_config
from bot.core.context import Context
from bot.core.dispatcher import Dispatcher
from bot.core.routing import Router
from bot.core.types import Incoming, Platform, Reply
from handlers import menu
from storage.db import session_factory
from storage.models import OutboxMessage
from storage.uow import UnitOfWork
from tests.conftest import stored_resident


def survey_router() -> Router:
    """A two-step dialog, standing in for the wizards that later issues add."""
    router = Router("survey")

    @router.command("survey")
    async def begin(ctx: Context) -> None:
        ctx.set_state("survey:street")
        ctx.answer("Улица?")

    @router.state("survey:street")
    async def street(ctx: Context) -> None:
        ctx.set_state("survey:house", street=ctx.incoming.text)
        ctx.answer("Дом?")

    @router.state("survey:house")
    async def house(ctx: Context) -> None:
        street = ctx.data["street"]
        ctx.clear_state()
        ctx.answer(f"Записал: {street}, {ctx.incoming.text}")

    @router.button("survey:pick")
    async def pick(ctx: Context) -> None:
        ctx.answer(f"Выбрано: {ctx.args or '-'}")

    @router.command("boom")
    async def boom(ctx: Context) -> None:
        ctx.set_state("survey:street", street="не сохранится")
        raise RuntimeError("a handler bug")

    @router.text()
    async def echo(ctx: Context) -> None:
        ctx.answer(f"Свободный текст: {ctx.incoming.text}")

    return router


def dispatcher_for(app: Application) -> Dispatcher:
    sessions = session_factory(app.engine)
    return Dispatcher(lambda: UnitOfWork(sessions), app.texts, app.services, [menu.router, survey_router()])


def message(text: str | None = None, payload: str | None = None, user: str = "u1") -> Incoming:
    return Incoming(platform=Platform.TELEGRAM, user_id=user, chat_id=user, text=text, payload=payload)


def texts(replies: list[Reply]) -> list[str]:
    return [reply.text for reply in replies]


async def test_dialog_state_survives_a_restart(config: Config) -> None:
    """Of a resident who consented to the processing of their data; before that, nothing is stored."""
    first = await Application.start(config)
    try:
        async with UnitOfWork(first.sessions) as uow:
            resident = await uow.residents.get(await stored_resident(uow, "telegram", "u1"))
            assert resident is not None
            resident.consent_given_at = resident.created_at
            await uow.commit()
        dispatcher = dispatcher_for(first)
        assert texts(await dispatcher.feed(message("/survey"))) == ["Улица?"]
        assert texts(await dispatcher.feed(message("Ленина"))) == ["Дом?"]
    finally:
        await first.close()

    second = await Application.start(config)  # a new engine, a new dispatcher: nothing kept in memory
    try:
        assert texts(await dispatcher_for(second).feed(message("5"))) == ["Записал: Ленина, 5"]
        assert texts(await dispatcher_for(second).feed(message("Ленина"))) == ["Свободный текст: Ленина"]
    finally:
        await second.close()


async def test_commands_win_over_dialog_state_and_cancel_leaves_it(app: Application) -> None:
    dispatcher = dispatcher_for(app)
    await dispatcher.feed(message("/survey"))
    assert texts(await dispatcher.feed(message("/cancel")))[0] == "Хорошо, отменили. Вы в главном меню."
    assert texts(await dispatcher.feed(message("Ленина"))) == ["Свободный текст: Ленина"]


async def test_button_payload_routes_by_longest_prefix_with_arguments(app: Application) -> None:
    dispatcher = dispatcher_for(app)
    assert texts(await dispatcher.feed(message(payload="survey:pick:42:b"))) == ["Выбрано: 42:b"]
    assert texts(await dispatcher.feed(message(payload="survey:pick"))) == ["Выбрано: -"]
    assert texts(await dispatcher.feed(message(payload="survey:pickle")))[0].startswith("Эта кнопка больше")


async def test_a_failing_handler_gets_an_apology_and_changes_nothing(app: Application) -> None:
    dispatcher = dispatcher_for(app)
    replies = await dispatcher.feed(message("/boom"))
    assert texts(replies) == [
        "Извините, что-то пошло не так на нашей стороне. Попробуйте ещё раз чуть позже — ваши данные не потеряны."
    ]
    assert texts(await dispatcher.feed(message("Ленина"))) == ["Свободный текст: Ленина"]


async def test_unknown_stored_state_is_reset_instead_of_trapping_the_resident(app: Application) -> None:
    sessions = session_factory(app.engine)
    async with UnitOfWork(sessions) as uow:
        resident_id = await stored_resident(uow, "telegram", "u1")
        await uow.dialogs.save(resident_id, "removed:step", {"x": 1})
        await uow.commit()
    assert texts(await dispatcher_for(app).feed(message("привет"))) == ["Свободный текст: привет"]
    async with UnitOfWork(sessions) as uow:
        reloaded = await uow.residents.conversation("telegram", "u1")
        assert (reloaded.state, reloaded.data) == (None, {})


async def test_a_known_residents_faq_question_costs_no_database_statement(app: Application) -> None:
    statements: list[str] = []
    event.listen(app.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    chat = ConsoleChat(app.dispatcher.feed, user_id="anna", display_name="Анна")
    await chat.say("/start")
    assert statements, "the first message of a resident reads them from the database"
    statements.clear()
    assert (await chat.say("нет горячей воды")).startswith("❓ Почему нет горячей воды")
    assert (await chat.say("Главное меню")).startswith("Главное меню")
    assert statements == []
    await chat.say("Подать обращение")  # before consent: nothing stored
    assert statements == []
    await chat.say("Согласен(на)")  # from consent on, every dialog step is stored as it happens
    assert any("dialog_states" in statement for statement in statements)


async def test_a_message_an_update_queues_goes_out_at_once(app: Application) -> None:
    router = Router("reminders")

    @router.command("remind")
    async def remind(ctx: Context) -> None:
        ctx.uow.outbox.add(OutboxMessage(platform="console", chat_id=ctx.incoming.chat_id, text="Напоминание"))
        ctx.answer("Напомню")

    sessions = session_factory(app.engine)
    dispatcher = Dispatcher(
        lambda: UnitOfWork(sessions), app.texts, app.services, [router], on_queued_messages=app.notifier.wake
    )
    chat = ConsoleChat(dispatcher.feed, user_id="anna", display_name="Анна")
    terminal = io.StringIO()
    chat._sink = terminal  # type: ignore[assignment]  # capture the terminal instead of stdout
    app.notifier.register(chat)
    delivering = asyncio.create_task(app.notifier.run(idle_timeout=60))  # no sweep would come in time
    try:
        await asyncio.sleep(0.1)  # the outbox is idle now
        assert await chat.say("/remind") == "Напомню"
        for _ in range(100):
            if "Напоминание" in terminal.getvalue():
                break
            await asyncio.sleep(0.02)
        assert "🔔 Напоминание" in terminal.getvalue()
    finally:
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_with_several_workers_each_reads_the_conversation_the_other_changed(
    tmp_path: Path, config: Config
) -> None:
    path = config.base_dir / "bot.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[bot]\n", "[bot]\nworkers = 2\n"), encoding="utf-8")
    first, second = [await Application.start(load_config(path, environ={})) for _ in range(2)]
    try:
        on_first = ConsoleChat(first.dispatcher.feed, user_id="anna", display_name="Анна")
        on_second = ConsoleChat(second.dispatcher.feed, user_id="anna", display_name="Анна")
        assert (await on_first.say("Задать вопрос")).startswith("Напишите вопрос своими словами")
        await on_second.say("/cancel")  # leaves the question step
        # The first worker knows she is at the menu again: the label opens the appeal wizard, not a question.
        assert (await on_first.say("Подать обращение")).startswith("Чтобы принять обращение, нам нужно ваше согласие")
    finally:
        await first.close()
        await second.close()


async def test_updates_of_one_resident_run_in_order(app: Application) -> None:
    dispatcher = dispatcher_for(app)
    results = await asyncio.gather(
        dispatcher.feed(message("/survey")), dispatcher.feed(message("Мира")), dispatcher.feed(message("7"))
    )
    assert [texts(r) for r in results] == [["Улица?"], ["Дом?"], ["Записал: Мира, 7"]]


async def test_many_residents_at_once_are_all_served(app: Application) -> None:
    """Concurrent transactions must wait for each other, not fail (SQLite allows one writer at a time)."""
    dispatcher = dispatcher_for(app)
    results = await asyncio.gather(*(dispatcher.feed(message("/start", user=f"r{n}")) for n in range(40)))
    assert all(replies[0].text.startswith("Здравствуйте!") for replies in results)


def test_conflicting_registrations_are_refused(tmp_path: Path) -> None:
    one, two = Router("one"), Router("two")

    async def handler(ctx: Context) -> None:
        ctx.answer("x")

    one.command("start")(handler)
    two.command("start")(handler)
    with pytest.raises(ValueError, match="registers \\['start'\\] a second time"):
        Dispatcher(lambda: None, None, None, [one, two])  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="already has a handler"):
        one.command("start")(handler)
