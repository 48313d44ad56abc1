"""Asking questions in the chat: answers, suggestions, an honest "no", and the misses admins see."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config
from bot.core.types import Incoming, Platform
from storage.db import session_factory
from storage.models import UnmatchedQuestion
from storage.uow import UnitOfWork
from tests.conftest import ROOT, run_bot, run_bot_beside, write_config


async def stored_questions(app: Application) -> list[tuple[str, str | None]]:
    """The misses in the database, once what is queued is written."""
    await app.services.misses.flush()
    async with session_factory(app.engine)() as session:
        rows = (await session.execute(select(UnmatchedQuestion).order_by(UnmatchedQuestion.id))).scalars()
        return [(row.text, row.best_item_id) for row in rows]


async def test_free_text_gets_a_confident_answer_and_nothing_is_stored(app: Application, chat: ConsoleChat) -> None:
    shown = await chat.say("Здравствуйте, у нас второй день нет горячей воды")
    assert shown.startswith("❓ Почему нет горячей воды и когда её дадут?\n\nСначала проверьте")
    assert "  [1] Задать другой вопрос\n  [2] Подать обращение\n  [3] Главное меню" in shown
    assert await stored_questions(app) == []


async def test_ask_button_then_question(chat: ConsoleChat) -> None:
    await chat.say("/start")
    assert (await chat.say("Задать вопрос")).startswith("Напишите вопрос своими словами")
    assert (await chat.say("не греют батареи")).startswith("❓ В квартире холодно, батареи еле тёплые")


async def test_unsure_question_offers_suggestions_and_a_press_shows_the_answer(
    app: Application, chat: ConsoleChat
) -> None:
    shown = await chat.say("автобус")
    lines = shown.splitlines()
    assert lines[0] == "Точного ответа я не нашёл. Может быть, вы спрашиваете об одном из этих вопросов?"
    assert lines[-1].endswith("Ничего не подходит — подать обращение")
    first_suggestion = lines[1].split("] ", 1)[1]
    assert (await chat.say("1")).startswith(f"❓ {first_suggestion}")
    [(text, best)] = await stored_questions(app)
    assert text == "автобус"
    assert best in {"bus-schedule", "bus-complaint", "transport-card"}


async def test_no_answer_says_so_offers_an_appeal_and_is_stored(app: Application, chat: ConsoleChat) -> None:
    shown = await chat.say("расскажи анекдот")
    assert shown == (
        "К сожалению, ответа на такой вопрос у меня нет. Вы можете подать обращение — его рассмотрят специалисты "
        "и ответят вам здесь же.\n  [1] Подать обращение\n  [2] Задать другой вопрос\n  [3] Главное меню"
    )
    await chat.say("расскажи анекдот!")
    await chat.say("Расскажи  АНЕКДОТ")
    assert [text for text, _ in await stored_questions(app)] == [
        "расскажи анекдот",
        "расскажи анекдот!",
        "Расскажи  АНЕКДОТ",
    ]
    async with UnitOfWork(session_factory(app.engine)) as uow:
        [miss] = await uow.unmatched.most_frequent()
    assert (miss.count, miss.normalized) == (3, "расскаж анекдот")


async def test_a_vague_message_asks_for_more_and_a_removed_item_is_explained(
    app: Application, chat: ConsoleChat
) -> None:
    assert (await chat.say("Здравствуйте!")).startswith("Не совсем понял вопрос.")
    assert (await chat.say("нет горячей воды")).startswith("❓ Почему нет горячей воды")
    replies = await app.dispatcher.feed(  # a button from an old message, for an item since removed from the FAQ
        Incoming(platform=Platform.CONSOLE, user_id="anna", chat_id="anna", payload="faq:item:removed-item")
    )
    assert replies[0].text.startswith("Этот ответ уже убрали из списка частых вопросов.")


async def test_misses_command_lists_the_most_frequent(config: Config, app: Application, chat: ConsoleChat) -> None:
    for text in ("расскажи анекдот", "Расскажи анекдот!", "как оплатить штраф гибдд"):
        await chat.say(text)
    await app.services.misses.flush()
    config_path = config.base_dir / "bot.toml"
    result = await run_bot_beside("--config", str(config_path), "faq", "misses")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["times", "last", "asked,", "UTC", "nearest", "item", "example"]
    assert lines[1].split()[0] == "2"
    assert lines[2].split()[0] == "1"
    assert lines[2].endswith("как оплатить штраф гибдд")


def test_match_command_prints_one_json_object_per_line(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    result = run_bot(
        "--config",
        str(config_path),
        "faq",
        "match",
        "--faq",
        str(ROOT / "faq"),
        stdin="нет горячей воды\nрасскажи анекдот\n\nавтобус\n",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["query"] for record in records] == ["нет горячей воды", "расскажи анекдот", "автобус"]
    assert records[0]["outcome"] == "answer"
    assert records[0]["id"] == "hot-water-outage"
    assert records[0]["score"] > 45
    assert records[0]["suggestions"] == []
    assert records[1] == {"query": "расскажи анекдот", "outcome": "none", "id": None, "score": 0.0, "suggestions": []}
    assert records[2]["id"] is None
    assert records[2]["outcome"] in {"suggest", "answer"}
